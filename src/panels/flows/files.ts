// Flows to and from files: export as JSON lines (the shape of `hubble observe -o json`, so a
// saved file is also a recording) or CSV, and reading a recording (`*.flows.jsonl`) with every
// line validated. Pure: no vscode.
import type { FlowResponse } from '../../flows/flow';
import { isRecord } from '../ipc';
import type { FlowRow } from './protocol';
import { directionLabel, endpointLabel } from '../../../webview/flows/format';

export function toJsonLines(rows: readonly FlowRow[]): string {
  return rows.map((r) => JSON.stringify({ flow: r.flow, node_name: r.node, time: r.time })).join('\n') + (rows.length ? '\n' : '');
}

const CSV_HEADER = ['time', 'source', 'source_ip', 'destination', 'destination_ip', 'destination_port', 'service', 'protocol', 'flags', 'l7', 'verdict', 'drop_reason', 'direction', 'node', 'policy'];

function csvCell(v: string | number | undefined): string {
  const s = v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly FlowRow[]): string {
  const lines = [CSV_HEADER.join(',')];
  for (const r of rows) {
    lines.push([r.time, endpointLabel(r.src), r.src.ip, endpointLabel(r.dst), r.dst.ip, r.dst.port, r.service, r.proto, r.flags, r.l7, r.verdict, r.dropReason, directionLabel(r.direction), r.node, r.policy].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

export interface Recording { flows: FlowResponse[]; skipped: { line: number; error: string }[] }

function isFlowResponse(v: unknown): v is FlowResponse {
  if (!isRecord(v) || !isRecord(v.flow)) return false;
  const f = v.flow;
  return typeof f.time === 'string' && typeof f.verdict === 'string' && isRecord(f.IP) && typeof f.IP.source === 'string' && typeof f.IP.destination === 'string'
    && isRecord(f.source) && isRecord(f.destination) && isRecord(f.l4);
}

/** Reads a recording: one `{"flow": ...}` object per line; bad lines are skipped and reported. */
export function parseRecording(text: string, maxFlows = 1_000_000): Recording {
  const flows: FlowResponse[] = [];
  const skipped: Recording['skipped'] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim() || flows.length >= maxFlows) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      skipped.push({ line: i + 1, error: 'not JSON' });
      return;
    }
    if (!isFlowResponse(v)) skipped.push({ line: i + 1, error: 'not a flow ({"flow": {time, verdict, IP, source, destination, l4}})' });
    else flows.push({ flow: v.flow, node_name: typeof v.node_name === 'string' ? v.node_name : (v.flow.node_name ?? ''), time: typeof v.time === 'string' ? v.time : v.flow.time });
  });
  flows.sort((a, b) => a.time.localeCompare(b.time));
  return { flows, skipped };
}

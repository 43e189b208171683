// Maps Hubble-shaped flows to table rows and keeps the panel's bounded row buffer with sequence
// numbers (pure: no vscode, no timers), so the host only decides when to post.
import type { Endpoint, Flow, FlowResponse, Layer4, PolicyRef } from '../../flows/flow';
import { type Batch, type FlowRow, type PanelFilter, type RowEndpoint, type Snapshot, type WireRows, encodeRow } from './protocol';

function endpoint(ip: string, ep: Endpoint, port: number | undefined): RowEndpoint {
  const out: RowEndpoint = { ip };
  if (port !== undefined) out.port = port;
  if (ep.namespace) out.namespace = ep.namespace;
  if (ep.pod_name) out.pod = ep.pod_name;
  return out;
}

function ports(l4: Layer4): { proto: string; sport?: number; dport?: number } {
  if (l4.TCP) return { proto: 'TCP', sport: l4.TCP.source_port, dport: l4.TCP.destination_port };
  if (l4.UDP) return { proto: 'UDP', sport: l4.UDP.source_port, dport: l4.UDP.destination_port };
  if (l4.ICMPv4) return { proto: 'ICMPv4' };
  if (l4.ICMPv6) return { proto: 'ICMPv6' };
  return { proto: '' };
}

const FLAG_ORDER = ['SYN', 'ACK', 'PSH', 'FIN', 'RST', 'URG', 'ECE', 'CWR', 'NS'] as const;

function flagsOf(flow: Flow): string {
  const tcp = flow.l4.TCP?.flags;
  const parts: string[] = [];
  if (flow.extensions?.tcp_event) parts.push(flow.extensions.tcp_event);
  if (tcp) for (const f of FLAG_ORDER) if (tcp[f]) parts.push(f);
  const icmp = flow.l4.ICMPv4 ?? flow.l4.ICMPv6;
  if (icmp) parts.push(`type ${icmp.type}/${icmp.code}`);
  return parts.join(' ');
}

interface L7 { type?: string; latency_ns?: number | string; dns?: { query?: string; qtypes?: string[]; rcode?: number; ips?: string[] }; http?: { method?: string; url?: string; code?: number } }

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** "DNS A? cart.shop.svc.cluster.local → NOERROR 10.96.0.12", "GET /x → 200 (3 ms)". */
export function l7Summary(flow: Flow): string {
  const l7 = flow.l7 as L7 | undefined;
  if (!l7 || typeof l7 !== 'object') return '';
  const ms = l7.latency_ns !== undefined && Number(l7.latency_ns) > 0 ? ` (${(Number(l7.latency_ns) / 1e6).toFixed(1)} ms)` : '';
  if (l7.dns) {
    const q = `DNS ${(l7.dns.qtypes ?? []).join(',')}? ${l7.dns.query ?? ''}`.replace('DNS ?', 'DNS');
    if (l7.type !== 'RESPONSE') return q;
    const rc = RCODES[l7.dns.rcode ?? 0] ?? `rcode ${l7.dns.rcode}`;
    return `${q} → ${rc}${l7.dns.ips?.length ? ` ${l7.dns.ips.join(',')}` : ''}${ms}`;
  }
  if (l7.http) {
    const path = (() => { try { return new URL(l7.http.url ?? '', 'http://x').pathname; } catch { return l7.http.url ?? ''; } })();
    const req = `${l7.http.method ?? ''} ${path}`.trim();
    return l7.type === 'RESPONSE' ? `${req} → ${l7.http.code ?? ''}${ms}` : req;
  }
  return '';
}

const refName = (r: PolicyRef) => `${r.namespace}/${r.name}`;

/** The policies that decided: denials first (marked ✕), then the allowing policies. */
export function policySummary(flow: Flow): string {
  if (!flow.egress_denied_by && !flow.ingress_denied_by && !flow.egress_allowed_by && !flow.ingress_allowed_by) return '';
  const denied = [...(flow.egress_denied_by ?? []), ...(flow.ingress_denied_by ?? [])].map((r) => `✕ ${refName(r)}`);
  const allowed = [...(flow.egress_allowed_by ?? []), ...(flow.ingress_allowed_by ?? [])].map(refName);
  return [...new Set([...denied, ...allowed])].join(', ');
}

export function toRow(resp: FlowResponse, id: number): FlowRow {
  const f = resp.flow;
  const { proto, sport, dport } = ports(f.l4 ?? {});
  const row: FlowRow = {
    id,
    time: f.time ?? resp.time,
    src: endpoint(f.IP?.source ?? '', f.source ?? {}, sport),
    dst: endpoint(f.IP?.destination ?? '', f.destination ?? {}, dport),
    proto,
    flags: flagsOf(f),
    verdict: f.verdict ?? 'VERDICT_UNKNOWN',
    direction: f.traffic_direction ?? 'TRAFFIC_DIRECTION_UNKNOWN',
    node: f.node_name ?? resp.node_name ?? '',
    l7: l7Summary(f),
    policy: policySummary(f),
    flow: f,
  };
  if (f.destination_service) row.service = `${f.destination_service.namespace}/${f.destination_service.name}`;
  if (f.drop_reason_desc) row.dropReason = f.drop_reason_desc;
  return row;
}

/**
 * The rows a panel holds (at most maxRows, newest last) plus the rows not yet posted. Every batch
 * and snapshot takes the next sequence number, so the webview can detect a gap and ask for a
 * snapshot.
 */
export class RowBuffer {
  private rows: FlowRow[] = [];
  private pending: FlowRow[] = [];
  private seq = 0;
  private nextId = 1;

  constructor(private maxRows: number) {}

  get size(): number {
    return Math.min(this.rows.length, this.maxRows);
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  add(flows: readonly FlowResponse[]): void {
    for (const f of flows) {
      const row = toRow(f, this.nextId++);
      this.rows.push(row);
      this.pending.push(row);
    }
    // Trim in steps so a steady stream does not copy the whole array on every call.
    const slack = Math.max(64, this.maxRows >> 3);
    if (this.rows.length > this.maxRows + slack) this.rows = this.rows.slice(-this.maxRows);
    if (this.pending.length > this.maxRows + slack) this.pending = this.pending.slice(-this.maxRows);
  }

  /** The rows added since the last batch or snapshot (wire lines), or undefined when there are none. */
  takeBatch(): Batch | undefined {
    if (this.pending.length === 0) return undefined;
    const rows = this.pending.length > this.maxRows ? this.pending.slice(-this.maxRows) : this.pending;
    this.pending = [];
    return { seq: ++this.seq, ...wire(rows) };
  }

  /** Everything held (wire lines); clears the pending rows, which the snapshot includes. */
  snapshot(filter: PanelFilter): Snapshot {
    this.pending = [];
    return { seq: ++this.seq, ...wire(this.all()), filter, maxRows: this.maxRows };
  }

  /** The held row with this id (binary search: ids increase). */
  find(id: number): FlowRow | undefined {
    let lo = 0;
    let hi = this.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.rows[mid] as FlowRow).id < id) lo = mid + 1;
      else hi = mid;
    }
    const r = this.rows[lo];
    return r && r.id === id ? r : undefined;
  }

  /** Every held row, oldest first. */
  all(): readonly FlowRow[] {
    return this.rows.length > this.maxRows ? this.rows.slice(-this.maxRows) : this.rows;
  }

  clear(): void {
    this.rows = [];
    this.pending = [];
  }

  setMaxRows(n: number): void {
    this.maxRows = n;
  }
}

/** Rows to wire lines; ids are consecutive within a buffer (a trim keeps the newest tail). */
export function wire(rows: readonly FlowRow[]): WireRows {
  const lines = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) lines[i] = encodeRow(rows[i] as FlowRow);
  return { first: rows[0]?.id ?? 0, lines };
}

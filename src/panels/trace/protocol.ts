// The Trace pod timeline's contract, imported by the host (src/panels/trace/host.ts) and the
// webview (webview/trace/main.ts). No `vscode`, no DOM. Every message is validated on arrival.
import { type ContractGuards, isRecord } from '../ipc';

export type TraceKind = 'dns' | 'connect' | 'accept' | 'connect_failed' | 'http' | 'reset' | 'retransmit' | 'drop' | 'close';
export type Severity = 'info' | 'warning' | 'error';
export const TRACE_KINDS: readonly TraceKind[] = ['dns', 'connect', 'accept', 'connect_failed', 'http', 'reset', 'retransmit', 'drop', 'close'];

export interface TraceEvent {
  /** RFC 3339 with nanoseconds, as flows carry it. */
  time: string;
  kind: TraceKind;
  text: string;
  severity: Severity;
  latencyMs?: number;
  /** Policies that decided a drop ("ingress denied by ns/name"), the reason's kernel name. */
  explain?: string[];
}

export interface TraceConnection {
  id: string;
  /** "→ shop/cart:8080 (pod shop/cart-1)", "← 10.244.0.5:40122", "DNS → kube-system/kube-dns:53". */
  label: string;
  protocol: string;
  outbound: boolean;
  first: string;
  last: string;
  events: TraceEvent[];
  /** Events with severity error or warning. */
  problems: number;
}

export interface TraceView {
  seq: number;
  pod: string;
  /** Most recent activity first. */
  connections: TraceConnection[];
  /** Events seen in all (also those of connections no longer shown). */
  events: number;
  /** "1/1 agents", or why there is no data. */
  status: string;
  error?: string;
}

type Empty = Record<string, never>;

export type TraceContract = {
  commands: { ready: Empty; showFlows: Empty };
  requests: Record<string, never>;
  notifications: { view: TraceView };
};

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isEmpty = (v: unknown): v is Empty => isRecord(v) && Object.keys(v).length === 0;

export function isTraceEvent(v: unknown): v is TraceEvent {
  return isRecord(v) && isStr(v.time) && isStr(v.kind) && (TRACE_KINDS as readonly string[]).includes(v.kind) && isStr(v.text)
    && (v.severity === 'info' || v.severity === 'warning' || v.severity === 'error')
    && (v.latencyMs === undefined || isNum(v.latencyMs)) && (v.explain === undefined || (Array.isArray(v.explain) && v.explain.every(isStr)));
}

function isConnection(v: unknown): v is TraceConnection {
  return isRecord(v) && isStr(v.id) && isStr(v.label) && isStr(v.protocol) && typeof v.outbound === 'boolean' && isStr(v.first) && isStr(v.last)
    && Array.isArray(v.events) && v.events.every(isTraceEvent) && isNum(v.problems);
}

export function isTraceView(v: unknown): v is TraceView {
  return isRecord(v) && isNum(v.seq) && isStr(v.pod) && Array.isArray(v.connections) && v.connections.every(isConnection)
    && isNum(v.events) && isStr(v.status) && (v.error === undefined || isStr(v.error));
}

export const traceGuards: ContractGuards<TraceContract> = {
  commands: { ready: isEmpty, showFlows: isEmpty },
  requests: {},
  notifications: { view: isTraceView },
};

// The Flows panel contract, imported by both the extension host (src/panels/flows/host.ts) and the
// webview (webview/flows/main.ts). No `vscode`, no DOM. Every message is validated on arrival.
import type { Flow, FlowResponse } from '../../flows/flow';
import { type ContractGuards, isRecord } from '../ipc';

/** One flow as the table shows it (the host maps Hubble-shaped flows to rows). */
export interface FlowRow {
  /** Increases by one per row within a panel session; the webview keys rows by it. */
  id: number;
  /** RFC 3339 time of the flow. */
  time: string;
  src: RowEndpoint;
  dst: RowEndpoint;
  /** "namespace/name" of the destination Service, when the flow went through one. */
  service?: string;
  /** TCP, UDP, ICMPv4, ICMPv6 or empty. */
  proto: string;
  /** TCP flags ("SYN ACK"), TCP lifecycle event or ICMP type. */
  flags: string;
  verdict: string;
  dropReason?: string;
  direction: string;
  node: string;
  /** L7 summary: "DNS A? cart.shop → NOERROR", "GET /x → 200". */
  l7: string;
  /** The policies that decided: "✕ data/redis-allow-cart" when denied, names when allowed. */
  policy: string;
  /** The whole Hubble-shaped flow: the details pane and the filter bar read it. */
  flow: Flow;
  /** The quick search's lower-cased text, computed once per row by whoever searches (not sent). */
  search?: string;
}

export interface RowEndpoint {
  ip: string;
  port?: number;
  namespace?: string;
  pod?: string;
}

/**
 * What the panel subscribes to: everything, a namespace, or one pod ("namespace/name"); `text` is
 * the filter bar's initial hubble-style text (for example from a service map click); `recording`
 * names an offline recording shown instead of live flows.
 */
export interface PanelFilter { namespace?: string; pod?: string; text?: string; recording?: string }

/**
 * Rows on the wire, compact: row `first + i` is `lines[i]`, one `hubble observe -o json` line (a
 * FlowResponse as JSON text). A string crosses postMessage as one copy, where a structured clone of
 * a thousand nested flow objects costs the webview's main thread a long task per batch; the webview
 * parses, validates and maps the lines to rows in time-budgeted slices per animation frame.
 */
export interface WireRows { first: number; lines: string[] }
/** The full table: sent on the ready handshake, when the panel becomes visible again, and on request. */
export interface Snapshot extends WireRows { seq: number; filter: PanelFilter; maxRows: number }
/** New rows since the previous batch or snapshot; `seq` is the previous seq plus one. */
export interface Batch extends WireRows { seq: number }
/** `recording`: the panel shows an offline recording (its description; no live stream, nothing to pause). */
export interface Status { agents: number; connected: number; error?: string; recording?: string; lost?: number; paused: boolean }

export type ExportFormat = 'jsonl' | 'csv';

/** A link to a NetworkPolicy, optionally to one rule of it. */
export interface PolicyLink { namespace: string; name: string; direction?: 'ingress' | 'egress'; ruleIndex?: number }

/** The policy explanation of one flow, from the policy engine when it is available. */
export interface Explanation {
  /** One line per direction, e.g. "ingress: denied — data/redis-allow-cart selects data/redis-1 and no rule allows shop/frontend-1:6379/TCP". */
  lines: string[];
  links: PolicyLink[];
  /** Set when no explanation can be given (no engine data yet, not a pod, ...). */
  unavailable?: string;
}

/** Given to the webview in the shell's data attribute, before any message. */
export interface InitialState { filter: PanelFilter; maxRows: number }

type Empty = Record<string, never>;

export type FlowsContract = {
  commands: {
    /** The webview has installed its listener: the host may post now. */
    ready: Empty;
    clear: Empty;
    pause: { paused: boolean };
    /** Opens the policy (workspace file if one matches, else the live object) at the rule's line. */
    openPolicy: PolicyLink;
    /** Saves the flows that pass `filter` (the filter bar's text). */
    export: { format: ExportFormat; filter: string };
  };
  requests: {
    /** The webview saw a sequence gap and asks for the whole table. */
    snapshot: { req: Empty; res: Snapshot };
    /** The policy explanation for one row. */
    explain: { req: { id: number }; res: Explanation };
  };
  notifications: {
    reset: Snapshot;
    batch: Batch;
    status: Status;
    /** The host sets the filter bar's text (the panel was reopened with another filter). */
    setFilter: { text: string };
  };
};

const isStr = (v: unknown): v is string => typeof v === 'string';
const isOptStr = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isOptNat = (v: unknown): v is number | undefined => v === undefined || isNat(v);

function isEmpty(v: unknown): v is Empty {
  return isRecord(v) && Object.keys(v).length === 0;
}

function isEndpoint(v: unknown): v is RowEndpoint {
  return isRecord(v) && isStr(v.ip) && isOptNat(v.port) && isOptStr(v.namespace) && isOptStr(v.pod);
}

/** The flow's shape as far as the webview reads it without checks (the rest is read defensively). */
function isFlowish(v: unknown): v is Flow {
  return isRecord(v) && isStr(v.verdict) && isRecord(v.IP) && isRecord(v.source) && isRecord(v.destination) && isRecord(v.l4);
}

export function isFlowRow(v: unknown): v is FlowRow {
  return isRecord(v) && isNat(v.id) && isStr(v.time) && isEndpoint(v.src) && isEndpoint(v.dst) && isOptStr(v.service)
    && isStr(v.proto) && isStr(v.flags) && isStr(v.verdict) && isOptStr(v.dropReason) && isStr(v.direction) && isStr(v.node)
    && isStr(v.l7) && isStr(v.policy) && isFlowish(v.flow);
}

export function isPanelFilter(v: unknown): v is PanelFilter {
  return isRecord(v) && isOptStr(v.namespace) && isOptStr(v.pod) && isOptStr(v.text) && isOptStr(v.recording);
}

function isPolicyLink(v: unknown): v is PolicyLink {
  return isRecord(v) && isStr(v.namespace) && isStr(v.name) && (v.direction === undefined || v.direction === 'ingress' || v.direction === 'egress') && isOptNat(v.ruleIndex);
}

function isExplanation(v: unknown): v is Explanation {
  return isRecord(v) && Array.isArray(v.lines) && v.lines.every(isStr) && Array.isArray(v.links) && v.links.every(isPolicyLink) && isOptStr(v.unavailable);
}

/** The longest line a flow may take on the wire (a flow with many labels is a few KiB). */
export const MAX_LINE = 65_536;
/** The most lines one message may carry. */
export const MAX_LINES = 1_000_000;

function isLines(v: unknown): v is string[] {
  if (!Array.isArray(v) || v.length > MAX_LINES) return false;
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'string' || x.length > MAX_LINE) return false;
  }
  return true;
}

function isWireRows(v: Record<string, unknown>): boolean {
  return isNat(v.first) && isLines(v.lines);
}

export function isSnapshot(v: unknown): v is Snapshot {
  return isRecord(v) && isNat(v.seq) && isWireRows(v) && isPanelFilter(v.filter) && isNat(v.maxRows);
}

function isBatch(v: unknown): v is Batch {
  return isRecord(v) && isNat(v.seq) && isWireRows(v);
}

/** A `{"flow": ...}` object with the fields every reader of a flow relies on. */
export function isFlowResponse(v: unknown): v is FlowResponse {
  if (!isRecord(v) || !isRecord(v.flow) || !isStr(v.node_name) || !isStr(v.time)) return false;
  const f = v.flow;
  return isStr(f.time) && isStr(f.verdict) && isRecord(f.IP) && isStr(f.IP.source) && isStr(f.IP.destination)
    && isRecord(f.source) && isRecord(f.destination) && isRecord(f.l4) && isOptStr(f.node_name) && isOptStr(f.traffic_direction);
}

/** One row's wire line: the flow as `hubble observe -o json` prints it. */
export function encodeRow(r: FlowRow): string {
  return JSON.stringify({ flow: r.flow, node_name: r.node, time: r.time });
}

/** A wire line back to a flow, or undefined when the line is not JSON or not a flow. */
export function decodeLine(line: string): FlowResponse | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isFlowResponse(v) ? v : undefined;
}

function isStatus(v: unknown): v is Status {
  return isRecord(v) && isNat(v.agents) && isNat(v.connected) && isOptStr(v.error) && isOptStr(v.recording) && isOptNat(v.lost) && typeof v.paused === 'boolean';
}

export function isInitialState(v: unknown): v is InitialState {
  return isRecord(v) && isPanelFilter(v.filter) && isNat(v.maxRows);
}

export const flowsGuards: ContractGuards<FlowsContract> = {
  commands: {
    ready: isEmpty,
    clear: isEmpty,
    pause: (v): v is { paused: boolean } => isRecord(v) && typeof v.paused === 'boolean',
    openPolicy: isPolicyLink,
    export: (v): v is { format: ExportFormat; filter: string } => isRecord(v) && (v.format === 'jsonl' || v.format === 'csv') && isStr(v.filter) && v.filter.length <= 4096,
  },
  requests: {
    snapshot: { req: isEmpty, res: isSnapshot },
    explain: { req: (v): v is { id: number } => isRecord(v) && isNat(v.id), res: isExplanation },
  },
  notifications: { reset: isSnapshot, batch: isBatch, status: isStatus, setFilter: (v): v is { text: string } => isRecord(v) && isStr(v.text) },
};

/** The panel title for a filter: "Flows — pod shop/cart-xyz". */
export function panelTitle(filter: PanelFilter): string {
  if (filter.recording) return `Flows — recording ${filter.recording}`;
  if (filter.pod) return `Flows — pod ${filter.pod}`;
  if (filter.namespace) return `Flows — namespace ${filter.namespace}`;
  return 'Flows';
}

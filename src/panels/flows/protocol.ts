// The Flows panel contract, imported by both the extension host (src/panels/flows/host.ts) and the
// webview (webview/flows/main.ts). No `vscode`, no DOM. Every message is validated on arrival.
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
}

export interface RowEndpoint {
  ip: string;
  port?: number;
  namespace?: string;
  pod?: string;
}

/** What the panel subscribes to: everything, a namespace, or one pod ("namespace/name"). */
export interface PanelFilter { namespace?: string; pod?: string }

/** The full table: sent on the ready handshake, when the panel becomes visible again, and on request. */
export interface Snapshot { seq: number; rows: FlowRow[]; filter: PanelFilter; maxRows: number }
/** New rows since the previous batch or snapshot; `seq` is the previous seq plus one. */
export interface Batch { seq: number; rows: FlowRow[] }
export interface Status { agents: number; connected: number; error?: string; lost?: number; paused: boolean }

/** Given to the webview in the shell's data attribute, before any message. */
export interface InitialState { filter: PanelFilter; maxRows: number }

type Empty = Record<string, never>;

export type FlowsContract = {
  commands: {
    /** The webview has installed its listener: the host may post now. */
    ready: Empty;
    clear: Empty;
    pause: { paused: boolean };
  };
  requests: {
    /** The webview saw a sequence gap and asks for the whole table. */
    snapshot: { req: Empty; res: Snapshot };
  };
  notifications: {
    reset: Snapshot;
    batch: Batch;
    status: Status;
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

export function isFlowRow(v: unknown): v is FlowRow {
  return isRecord(v) && isNat(v.id) && isStr(v.time) && isEndpoint(v.src) && isEndpoint(v.dst) && isOptStr(v.service)
    && isStr(v.proto) && isStr(v.flags) && isStr(v.verdict) && isOptStr(v.dropReason) && isStr(v.direction) && isStr(v.node);
}

export function isPanelFilter(v: unknown): v is PanelFilter {
  return isRecord(v) && isOptStr(v.namespace) && isOptStr(v.pod);
}

function isRows(v: unknown): v is FlowRow[] {
  return Array.isArray(v) && v.every(isFlowRow);
}

export function isSnapshot(v: unknown): v is Snapshot {
  return isRecord(v) && isNat(v.seq) && isRows(v.rows) && isPanelFilter(v.filter) && isNat(v.maxRows);
}

function isBatch(v: unknown): v is Batch {
  return isRecord(v) && isNat(v.seq) && isRows(v.rows);
}

function isStatus(v: unknown): v is Status {
  return isRecord(v) && isNat(v.agents) && isNat(v.connected) && isOptStr(v.error) && isOptNat(v.lost) && typeof v.paused === 'boolean';
}

export function isInitialState(v: unknown): v is InitialState {
  return isRecord(v) && isPanelFilter(v.filter) && isNat(v.maxRows);
}

export const flowsGuards: ContractGuards<FlowsContract> = {
  commands: {
    ready: isEmpty,
    clear: isEmpty,
    pause: (v): v is { paused: boolean } => isRecord(v) && typeof v.paused === 'boolean',
  },
  requests: {
    snapshot: { req: isEmpty, res: isSnapshot },
  },
  notifications: { reset: isSnapshot, batch: isBatch, status: isStatus },
};

/** The panel title for a filter: "Flows — pod shop/cart-xyz". */
export function panelTitle(filter: PanelFilter): string {
  if (filter.pod) return `Flows — pod ${filter.pod}`;
  if (filter.namespace) return `Flows — namespace ${filter.namespace}`;
  return 'Flows';
}

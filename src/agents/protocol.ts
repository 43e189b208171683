// The agent WebSocket protocol (docs/PROTOCOL.md): one module shared by the agent and its clients.
// Every frame is a JSON text message with a `type`. Incoming frames are validated here, and every
// rejection says what is wrong with which field.
import type { Flow } from '../flows/flow';
import { type FilterSet, q, validateFilterSet } from '../flows/filter';
import { canonicalTime } from '../flows/filter-time';

export const PROTOCOL_VERSION = 2;
export const DEFAULT_AGENT_PORT = 4260;
/** Largest frame the agent accepts from a client. */
export const MAX_CLIENT_FRAME = 64 * 1024;
/** Largest frame a client accepts from the agent (a batch is at most 512 flows). */
export const MAX_SERVER_FRAME = 16 * 1024 * 1024;
/** Most flows in one `flows` frame. */
export const MAX_BATCH = 512;
/** The WebSocket upgrade carries the optional agent token as `Authorization: Bearer <token>`. */
export const TOKEN_HEADER = 'authorization';

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  badMessage: 1008,
  tooBig: 1009,
  internal: 1011,
  versionMismatch: 4001,
  unauthorized: 4003,
} as const;

export interface SubscribeRequest {
  type: 'subscribe';
  /** Hubble allowlist/denylist filters (src/flows/filter.ts); none = every flow. */
  filters?: FilterSet;
  /** Only flows at or after this time (RFC 3339; normalised to nine fraction digits, UTC). */
  since?: string;
  /** Only stored flows at or before this time. */
  until?: string;
  /** The most recent N matching stored flows. */
  last?: number;
  /** The oldest N matching stored flows. */
  first?: number;
  /** Keep streaming new matching flows after the stored ones. */
  follow?: boolean;
}

export interface PingMessage { type: 'ping'; id?: number }
export interface StatusRequest { type: 'get_status' }
export type ClientMessage = SubscribeRequest | PingMessage | StatusRequest;

export interface HelloMessage { type: 'hello'; version: number; node: string; agent: string }
export interface FlowsMessage { type: 'flows'; flows: Flow[] }
export interface LostEventsMessage {
  type: 'lost_events';
  /** ringbuf_reserve (kernel ring buffer full), agent_client_queue (this client too slow), loader_restart (programs detached while the loader restarted). */
  source: string;
  count: number;
  /** loader_restart: how long nothing was observed. */
  gap_ms?: number;
}
/** Sent when a non-follow subscription has delivered everything. */
export interface EndMessage { type: 'end' }
/** Sent to a follow subscription once its stored flows are delivered; live flows follow. */
export interface CaughtUpMessage { type: 'caught_up' }
export interface PongMessage { type: 'pong'; id?: number }
export interface ErrorMessage { type: 'error'; message: string }
export interface NodeStatusMessage {
  type: 'node_status';
  node: string;
  /** The eBPF loader is attached. */
  ready: boolean;
  loader_restarts: number;
  flows_stored: number;
  store_capacity: number;
  /** Lost events since the agent started, by source. */
  lost: Record<string, number>;
  clients: number;
  uptime_seconds: number;
}
export type ServerMessage = HelloMessage | FlowsMessage | LostEventsMessage | EndMessage | CaughtUpMessage | PongMessage | ErrorMessage | NodeStatusMessage;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const bad = (error: string): { ok: false; error: string } => ({ ok: false, error });

function parseJSON(text: string): Parsed<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad('frame is not JSON');
  }
  if (!isObject(v)) return bad('frame must be a JSON object');
  if (typeof v.type !== 'string') return bad('frame has no string "type"');
  return { ok: true, value: v };
}

function count(v: unknown, key: string): string | undefined {
  if (v === undefined) return undefined;
  return Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : `${key} must be a non-negative integer`;
}

const SUBSCRIBE_KEYS = new Set(['type', 'filters', 'since', 'until', 'last', 'first', 'follow']);

function time(v: unknown, key: string): Parsed<string | undefined> {
  if (v === undefined) return { ok: true, value: undefined };
  const t = typeof v === 'string' && v.length <= 64 ? canonicalTime(v) : undefined;
  return t ? { ok: true, value: t } : bad(`${key} must be an RFC 3339 time such as 2026-01-02T15:04:05.123456789Z`);
}

function parseSubscribe(v: Record<string, unknown>): Parsed<SubscribeRequest> {
  for (const k of Object.keys(v)) if (!SUBSCRIBE_KEYS.has(k)) return bad(`subscribe has unknown field ${q(k.slice(0, 60))}`);
  const err = count(v.last, 'last') ?? count(v.first, 'first') ?? (v.follow !== undefined && typeof v.follow !== 'boolean' ? 'follow must be a boolean' : undefined);
  if (err) return bad(err);
  if (v.first !== undefined && v.last !== undefined) return bad('cannot set both first and last');
  if (v.first !== undefined && v.follow) return bad('cannot set both first and follow');
  const since = time(v.since, 'since');
  if (!since.ok) return since;
  const until = time(v.until, 'until');
  if (!until.ok) return until;
  const out: SubscribeRequest = { type: 'subscribe' };
  if (v.filters !== undefined) {
    const f = validateFilterSet(v.filters);
    if (!f.ok) return bad(f.error);
    out.filters = f.value;
  }
  if (since.value) out.since = since.value;
  if (until.value) out.until = until.value;
  if (v.last !== undefined) out.last = v.last as number;
  if (v.first !== undefined) out.first = v.first as number;
  if (v.follow !== undefined) out.follow = v.follow as boolean;
  return { ok: true, value: out };
}

/** Validates one client frame. */
export function parseClientMessage(text: string): Parsed<ClientMessage> {
  if (text.length > MAX_CLIENT_FRAME) return bad('frame too large');
  const p = parseJSON(text);
  if (!p.ok) return p;
  const v = p.value;
  switch (v.type) {
    case 'ping': {
      const err = count(v.id, 'id');
      return err ? bad(err) : { ok: true, value: v.id === undefined ? { type: 'ping' } : { type: 'ping', id: v.id as number } };
    }
    case 'get_status':
      return { ok: true, value: { type: 'get_status' } };
    case 'subscribe':
      return parseSubscribe(v);
    default:
      return bad(`unknown message type ${q(String(v.type))}`);
  }
}

function isFlow(f: unknown): boolean {
  return isObject(f) && typeof f.time === 'string' && isObject(f.IP) && isObject(f.source) && isObject(f.destination) && isObject(f.l4);
}

function checkServer(v: Record<string, unknown>): string | undefined {
  switch (v.type) {
    case 'hello':
      return typeof v.version === 'number' && typeof v.node === 'string' && typeof v.agent === 'string' ? undefined : 'bad hello';
    case 'flows':
      if (!Array.isArray(v.flows) || v.flows.length > MAX_BATCH) return `flows must be an array of at most ${MAX_BATCH} flows`;
      return v.flows.every(isFlow) ? undefined : 'flows frame holds something that is not a flow';
    case 'lost_events':
      return typeof v.source === 'string' && v.count !== undefined && count(v.count, 'count') === undefined ? undefined : 'lost_events needs a string source and a non-negative integer count';
    case 'end':
    case 'caught_up':
      return undefined;
    case 'pong':
      return count(v.id, 'id');
    case 'error':
      return typeof v.message === 'string' ? undefined : 'bad error frame';
    case 'node_status':
      return typeof v.node === 'string' && typeof v.ready === 'boolean' && isObject(v.lost) ? undefined : 'bad node_status';
    default:
      return `unknown message type ${q(String(v.type))}`;
  }
}

/** Validates one server frame (clients do not trust the agent blindly either). */
export function parseServerMessage(text: string): Parsed<ServerMessage> {
  if (text.length > MAX_SERVER_FRAME) return bad('frame too large');
  const p = parseJSON(text);
  if (!p.ok) return p;
  const err = checkServer(p.value);
  return err ? bad(err) : { ok: true, value: p.value as unknown as ServerMessage };
}

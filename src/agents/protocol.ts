// The agent WebSocket protocol (docs/PROTOCOL.md): one module shared by the agent and its clients.
// Every frame is a JSON text message with a `type`. Incoming frames are validated here.
import type { Flow } from '../flows/flow';

export const PROTOCOL_VERSION = 1;
export const DEFAULT_AGENT_PORT = 4260;
/** Largest frame the agent accepts from a client. */
export const MAX_CLIENT_FRAME = 64 * 1024;

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  badMessage: 1008,
  tooBig: 1009,
  internal: 1011,
  versionMismatch: 4001,
} as const;

export interface SubscribeRequest {
  type: 'subscribe';
  /** Return up to this many most recent stored flows first (0 = none). */
  last?: number;
  /** Keep streaming new flows after the stored ones. */
  follow?: boolean;
  /** Only flows involving a pod in this namespace (either end). */
  namespace?: string;
  /** Only flows involving this pod, "ns/name" (either end). */
  pod?: string;
}

export interface PingMessage { type: 'ping'; id?: number }
export type ClientMessage = SubscribeRequest | PingMessage;

export interface HelloMessage { type: 'hello'; version: number; node: string; agent: string }
export interface FlowsMessage { type: 'flows'; flows: Flow[] }
export interface LostEventsMessage { type: 'lost_events'; source: string; count: number }
/** Sent when a non-follow subscription has delivered everything. */
export interface EndMessage { type: 'end' }
/** Sent to a follow subscription once its stored flows are delivered; live flows follow. */
export interface CaughtUpMessage { type: 'caught_up' }
export interface PongMessage { type: 'pong'; id?: number }
export interface ErrorMessage { type: 'error'; message: string }
export type ServerMessage = HelloMessage | FlowsMessage | LostEventsMessage | EndMessage | CaughtUpMessage | PongMessage | ErrorMessage;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalNonNegativeInt(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  return Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : `${key} must be a non-negative integer`;
}

function optionalString(o: Record<string, unknown>, key: string, max = 512): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  return typeof v === 'string' && v.length <= max ? undefined : `${key} must be a string of at most ${max} characters`;
}

/** Validates one client frame. */
export function parseClientMessage(text: string): Parsed<ClientMessage> {
  if (text.length > MAX_CLIENT_FRAME) return { ok: false, error: 'frame too large' };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, error: 'frame is not JSON' };
  }
  if (!isObject(v)) return { ok: false, error: 'frame must be a JSON object' };
  if (v.type === 'ping') {
    const err = optionalNonNegativeInt(v, 'id');
    return err ? { ok: false, error: err } : { ok: true, value: { type: 'ping', id: v.id as number | undefined } };
  }
  if (v.type !== 'subscribe') return { ok: false, error: `unknown message type ${JSON.stringify(v.type)}` };
  const err = optionalNonNegativeInt(v, 'last') ?? optionalString(v, 'namespace', 253) ?? optionalString(v, 'pod', 507) ??
    (v.follow !== undefined && typeof v.follow !== 'boolean' ? 'follow must be a boolean' : undefined);
  if (err) return { ok: false, error: err };
  return { ok: true, value: { type: 'subscribe', last: v.last as number | undefined, follow: v.follow as boolean | undefined, namespace: v.namespace as string | undefined, pod: v.pod as string | undefined } };
}

/** Validates one server frame (clients do not trust the agent blindly either). */
export function parseServerMessage(text: string): Parsed<ServerMessage> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, error: 'frame is not JSON' };
  }
  if (!isObject(v) || typeof v.type !== 'string') return { ok: false, error: 'frame must be an object with a type' };
  switch (v.type) {
    case 'hello':
      return typeof v.version === 'number' && typeof v.node === 'string' ? { ok: true, value: v as unknown as HelloMessage } : { ok: false, error: 'bad hello' };
    case 'flows':
      return Array.isArray(v.flows) && v.flows.every(isObject) ? { ok: true, value: v as unknown as FlowsMessage } : { ok: false, error: 'bad flows frame' };
    case 'lost_events':
      return typeof v.source === 'string' && typeof v.count === 'number' ? { ok: true, value: v as unknown as LostEventsMessage } : { ok: false, error: 'bad lost_events' };
    case 'end':
    case 'caught_up':
    case 'pong':
      return { ok: true, value: v as unknown as ServerMessage };
    case 'error':
      return typeof v.message === 'string' ? { ok: true, value: v as unknown as ErrorMessage } : { ok: false, error: 'bad error frame' };
    default:
      return { ok: false, error: `unknown message type ${JSON.stringify(v.type)}` };
  }
}

// The generic part of every panel's webview protocol: three message kinds with ids (commands
// webview → host, requests with replies matched by id, notifications host → webview), envelope
// validation, handler maps from mapped types, and a request client with timeouts.
// Imported by both the extension host and the webview: no `vscode`, no DOM.

/** A panel contract: message names mapped to payload types. */
export interface Contract {
  commands: Record<string, unknown>;
  requests: Record<string, { req: unknown; res: unknown }>;
  notifications: Record<string, unknown>;
}

export type CommandMessage<C extends Contract> = {
  [K in keyof C['commands'] & string]: { kind: 'command'; name: K; payload: C['commands'][K] };
}[keyof C['commands'] & string];

export type RequestMessage<C extends Contract> = {
  [K in keyof C['requests'] & string]: { kind: 'request'; id: number; name: K; payload: C['requests'][K]['req'] };
}[keyof C['requests'] & string];

export type NotificationMessage<C extends Contract> = {
  [K in keyof C['notifications'] & string]: { kind: 'notification'; name: K; payload: C['notifications'][K] };
}[keyof C['notifications'] & string];

export type ResponseMessage = { kind: 'response'; id: number; ok: true; payload: unknown } | { kind: 'response'; id: number; ok: false; error: string };

export type FromWebview<C extends Contract> = CommandMessage<C> | RequestMessage<C>;
export type FromHost<C extends Contract> = NotificationMessage<C> | ResponseMessage;

/** A type guard per message name: a missing validator is a compile error. */
export type Guards<M> = { [K in keyof M]-?: (v: unknown) => v is M[K] };
export type RequestGuards<R extends Contract['requests']> = { [K in keyof R]-?: { req: (v: unknown) => v is R[K]['req']; res: (v: unknown) => v is R[K]['res'] } };

export interface ContractGuards<C extends Contract> {
  commands: Guards<C['commands']>;
  requests: RequestGuards<C['requests']>;
  notifications: Guards<C['notifications']>;
}

/** A handler per message name: a missing handler is a compile error. */
export type Handlers<M> = { [K in keyof M]-?: (payload: M[K]) => void };
export type RequestHandlers<R extends Contract['requests']> = { [K in keyof R]-?: (payload: R[K]['req']) => Promise<R[K]['res']> | R[K]['res'] };

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Own properties only: "constructor" or "__proto__" never name a message. */
function lookup<T>(table: object, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(table, key) ? (table as Record<string, T>)[key] : undefined;
}

type Guard = (v: unknown) => boolean;

/** Validates a message the host received from its webview. */
export function parseFromWebview<C extends Contract>(guards: ContractGuards<C>, raw: unknown): Parsed<FromWebview<C>> {
  if (!isRecord(raw) || typeof raw.name !== 'string') return { ok: false, error: 'not a message' };
  const { kind, name, payload } = raw;
  if (kind === 'command') {
    const guard = lookup<Guard>(guards.commands, name);
    if (!guard) return { ok: false, error: `unknown command ${name}` };
    if (!guard(payload)) return { ok: false, error: `bad payload for command ${name}` };
    return { ok: true, value: { kind, name, payload } as CommandMessage<C> };
  }
  if (kind === 'request') {
    if (!isId(raw.id)) return { ok: false, error: 'request without a valid id' };
    const guard = lookup<{ req: Guard }>(guards.requests, name);
    if (!guard) return { ok: false, error: `unknown request ${name}` };
    if (!guard.req(payload)) return { ok: false, error: `bad payload for request ${name}` };
    return { ok: true, value: { kind, id: raw.id, name, payload } as RequestMessage<C> };
  }
  return { ok: false, error: `unknown message kind ${String(kind)}` };
}

/** Validates a message the webview received from its host (response payloads are checked by the request client). */
export function parseFromHost<C extends Contract>(guards: ContractGuards<C>, raw: unknown): Parsed<FromHost<C>> {
  if (!isRecord(raw)) return { ok: false, error: 'not a message' };
  if (raw.kind === 'response') {
    if (!isId(raw.id) || typeof raw.ok !== 'boolean') return { ok: false, error: 'bad response' };
    if (raw.ok) return { ok: true, value: { kind: 'response', id: raw.id, ok: true, payload: raw.payload } };
    return { ok: true, value: { kind: 'response', id: raw.id, ok: false, error: typeof raw.error === 'string' ? raw.error : 'request failed' } };
  }
  if (raw.kind !== 'notification' || typeof raw.name !== 'string') return { ok: false, error: 'not a notification' };
  const name = raw.name;
  const guard = lookup<Guard>(guards.notifications, name);
  if (!guard) return { ok: false, error: `unknown notification ${name}` };
  if (!guard(raw.payload)) return { ok: false, error: `bad payload for notification ${name}` };
  return { ok: true, value: { kind: 'notification', name, payload: raw.payload } as NotificationMessage<C> };
}

/** Calls the handler for a message from a handler map. */
export function dispatch<M, K extends keyof M>(handlers: Handlers<M>, name: K, payload: M[K]): void {
  handlers[name](payload);
}

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout>; check: (v: unknown) => boolean }

/** The webview side of requests: ids, replies matched by id, timeouts, validated results. */
export class RequestClient<C extends Contract> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly guards: RequestGuards<C['requests']>,
    private readonly post: (m: RequestMessage<C>) => void,
    private readonly timeoutMs = 5000,
  ) {}

  request<K extends keyof C['requests'] & string>(name: K, payload: C['requests'][K]['req']): Promise<C['requests'][K]['res']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`request ${name} timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const check = (v: unknown) => this.guards[name].res(v);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, check });
      this.post({ kind: 'request', id, name, payload } as RequestMessage<C>);
    });
  }

  /** Settles the matching request; returns false for an unknown id. */
  settle(r: ResponseMessage): boolean {
    const p = this.pending.get(r.id);
    if (!p) return false;
    this.pending.delete(r.id);
    clearTimeout(p.timer);
    if (!r.ok) p.reject(new Error(r.error));
    else if (!p.check(r.payload)) p.reject(new Error('malformed response'));
    else p.resolve(r.payload);
    return true;
  }

  dispose(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('disposed'));
    }
    this.pending.clear();
  }
}

/**
 * The host side of a command-only panel: validates a message from the webview and calls the
 * handler of its command; anything else is dropped with one warning naming the panel.
 */
export function dispatchCommand<C extends Contract>(guards: ContractGuards<C>, raw: unknown, handlers: Handlers<C['commands']>, panel: string): void {
  const p = parseFromWebview(guards, raw);
  if (!p.ok || p.value.kind !== 'command') return console.warn(`flowlens: ${panel}: dropped message: ${p.ok ? 'unexpected request' : p.error}`);
  (handlers[p.value.name] as (payload: unknown) => void)(p.value.payload);
}

// Watches: chunked JSON lines, one event per line; resourceVersion semantics with replay from the
// store's history, an in-stream ERROR (410 Expired) when it is too old, bookmarks, timeouts,
// selector transitions (a modified object that stops matching is sent as DELETED), and Table
// events for `kubectl get -w`.
import type { KubeObject } from './types';
import { ApiError } from './types';
import type { WatchEvent } from './store';
import type { RequestContext } from './handlers';
import { apiVersionOf } from './resources';
import { objectFilter } from './selectors';
import { errorStatus, sendError } from './http';
import { parseIncludeObject, toTable, wantsTable } from './tables';

export interface WatchOptions {
  /** Interval between BOOKMARK events when the client allows them (default 10 s). */
  bookmarkIntervalMs: number;
  /** Default watch duration when the client sets no timeoutSeconds (default 30 min). */
  defaultTimeoutMs: number;
}

/** Too slow a reader: drop it rather than buffer without bound. */
const MAX_BUFFERED = 16 * 1024 * 1024;

type Outgoing = { type: string; object: KubeObject };

function translate(e: WatchEvent, matches: (o: KubeObject) => boolean): Outgoing | undefined {
  const now = matches(e.object);
  if (e.type !== 'MODIFIED' || !e.oldObject) return now ? { type: e.type, object: e.object } : undefined;
  const before = matches(e.oldObject);
  if (now && before) return { type: 'MODIFIED', object: e.object };
  if (now) return { type: 'ADDED', object: e.object };
  if (before) return { type: 'DELETED', object: e.object };
  return undefined;
}

function requestFilter(ctx: RequestContext): (o: KubeObject) => boolean {
  const { route, query } = ctx;
  const selectors = objectFilter(query.get('labelSelector'), query.get('fieldSelector'));
  return (o) => (route.namespace === undefined || o.metadata.namespace === route.namespace)
    && (route.name === undefined || o.metadata.name === route.name) && selectors(o);
}

export function isWatch(ctx: RequestContext): boolean {
  const w = ctx.query.get('watch');
  return ctx.route.watchPath || w === '1' || w === 'true';
}

export function handleWatch(ctx: RequestContext, opts: WatchOptions): void {
  const { req, res, route, query, store } = ctx;
  const matches = requestFilter(ctx);
  const table = wantsTable(req.headers.accept);
  const include = parseIncludeObject(query.get('includeObject'));
  const initialEvents = query.get('sendInitialEvents') === 'true';
  const rv = initialEvents ? undefined : query.get('resourceVersion') ?? undefined;
  const duration = timeoutMs(query.get('timeoutSeconds'), opts.defaultTimeoutMs);
  let first = true;
  const encode = (ev: Outgoing): string => {
    if (!table || ev.type === 'BOOKMARK' || ev.type === 'ERROR') return JSON.stringify(ev);
    const object = toTable(route.info.resource, [ev.object], include, ev.object.metadata.resourceVersion ?? '', {}, first);
    first = false;
    return JSON.stringify({ type: ev.type, object });
  };
  const pending: string[] = [];
  let live = false;
  const write = (line: string): void => {
    if (!live) { pending.push(line); return; }
    if (res.writableLength > MAX_BUFFERED) { res.destroy(); return; }
    res.write(line + '\n');
  };
  let unsubscribe: () => void;
  try {
    unsubscribe = store.watchFrom(route.info.resource, rv, (e) => {
      const out = translate(e, matches);
      if (out) write(encode(out));
    });
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 410) { sendError(res, err); return; }
    startStream(ctx);
    res.end(JSON.stringify({ type: 'ERROR', object: errorStatus(err) }) + '\n');
    return;
  }
  startStream(ctx);
  live = true;
  for (const line of pending.splice(0)) write(line);
  const bookmark = (annotations?: Record<string, string>): void => {
    const metadata = { resourceVersion: store.resourceVersion(), ...(annotations ? { annotations } : {}) };
    write(JSON.stringify({ type: 'BOOKMARK', object: { kind: route.info.kind, apiVersion: apiVersionOf(route.info), metadata } }));
  };
  if (initialEvents) bookmark({ 'k8s.io/initial-events-end': 'true' });
  const bookmarks = query.get('allowWatchBookmarks') === 'true' ? setInterval(() => bookmark(), opts.bookmarkIntervalMs) : undefined;
  const timeout = setTimeout(() => res.end(), duration);
  const cleanup = (): void => { unsubscribe(); clearInterval(bookmarks); clearTimeout(timeout); };
  res.on('close', cleanup);
  req.on('close', () => { if (!res.writableEnded) res.end(); });
}

function timeoutMs(v: string | null, dflt: number): number {
  if (v === null) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ApiError(400, 'BadRequest', `invalid timeoutSeconds "${v}"`);
  return n === 0 ? dflt : Math.min(n * 1000, 2 ** 31 - 1);
}

function startStream(ctx: RequestContext): void {
  ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  ctx.res.flushHeaders();
}

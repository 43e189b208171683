// Resource verbs: list, get, create, replace, patch, delete, deletecollection, and the status
// subresource. Watches are in watch.ts, port-forward in portforward.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from './types';
import { ApiError } from './types';
import type { MemoryStore } from './store';
import type { ResourceRoute } from './routes';
import type { ResourceInfo } from './resources';
import { apiVersionOf } from './resources';
import { objectFilter } from './selectors';
import { parseBody, readBody, sendJson } from './http';
import { checkEnvelope, validateObject } from './validate';
import { applyPatch, patchTypeOf } from './patch';
import { parseIncludeObject, toTable, wantsTable } from './tables';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  store: MemoryStore;
  route: ResourceRoute;
  query: URLSearchParams;
}

function notFound(info: ResourceInfo, name: string): ApiError {
  const what = info.group ? `${info.resource}.${info.group}` : info.resource;
  return new ApiError(404, 'NotFound', `${what} "${name}" not found`, { name, group: info.group, kind: info.resource });
}

function requireName(route: ResourceRoute): string {
  if (!route.name) throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  return route.name;
}

function requireNamespace(route: ResourceRoute): string | undefined {
  if (route.info.namespaced && !route.namespace) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource (a namespace is required in the path)');
  return route.namespace;
}

function isDryRun(query: URLSearchParams): boolean {
  return query.getAll('dryRun').includes('All');
}

/** Resources whose main endpoint ignores status changes (they have a status subresource). */
function hasStatus(info: ResourceInfo): boolean {
  return info.subresources.includes('status');
}

interface ContinueToken { k: string }

function decodeContinue(token: string | null): string | undefined {
  if (!token) return undefined;
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
    if (typeof t.k !== 'string') throw new Error('bad');
    return t.k;
  } catch {
    throw new ApiError(400, 'BadRequest', 'continue key is not valid: invalid continue token');
  }
}

export function selectObjects(ctx: RequestContext): KubeObject[] {
  const { route, query, store } = ctx;
  const filter = objectFilter(query.get('labelSelector'), query.get('fieldSelector'));
  return store.list(route.info.resource, route.namespace).filter(filter);
}

export function handleList(ctx: RequestContext): void {
  const { route, query, store, req, res } = ctx;
  const after = decodeContinue(query.get('continue'));
  const limit = Number(query.get('limit') ?? 0);
  const filter = objectFilter(query.get('labelSelector'), query.get('fieldSelector'));
  const page = store.listPage(route.info.resource, route.namespace, { after, limit: Number.isInteger(limit) && limit > 0 ? limit : 0, filter });
  const items = page.items;
  const meta: Record<string, unknown> = { resourceVersion: store.resourceVersion() };
  if (page.remaining > 0 && page.lastKey !== undefined) {
    meta.remainingItemCount = page.remaining;
    meta.continue = Buffer.from(JSON.stringify({ k: page.lastKey })).toString('base64url');
  }
  if (wantsTable(req.headers.accept)) {
    sendJson(res, 200, toTable(route.info.resource, items, parseIncludeObject(query.get('includeObject')), store.resourceVersion(), meta));
    return;
  }
  sendJson(res, 200, { kind: `${route.info.kind}List`, apiVersion: apiVersionOf(route.info), metadata: meta, items });
}

function sendObject(ctx: RequestContext, code: number, obj: KubeObject): void {
  if (wantsTable(ctx.req.headers.accept)) {
    sendJson(ctx.res, code, toTable(ctx.route.info.resource, [obj], parseIncludeObject(ctx.query.get('includeObject')), obj.metadata.resourceVersion ?? ''));
  } else sendJson(ctx.res, code, obj);
}

function existing(ctx: RequestContext, name: string): KubeObject {
  const obj = ctx.store.get(ctx.route.info.resource, ctx.route.namespace, name);
  if (!obj) throw notFound(ctx.route.info, name);
  return obj;
}

export function handleGet(ctx: RequestContext): void {
  sendObject(ctx, 200, existing(ctx, requireName(ctx.route)));
}

async function readObject(ctx: RequestContext): Promise<unknown> {
  return parseBody(await readBody(ctx.req), ctx.req.headers['content-type']);
}

export async function handleCreate(ctx: RequestContext): Promise<void> {
  const { route } = ctx;
  if (route.name || route.subresource) throw new ApiError(405, 'MethodNotAllowed', 'POST is only allowed on collections');
  const ns = requireNamespace(route);
  const obj = checkEnvelope(route.info, await readObject(ctx), ns);
  validateObject(route.info, obj);
  for (const f of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'generation']) delete obj.metadata[f];
  if (hasStatus(route.info) && route.info.resource !== 'namespaces') delete obj.status;
  if (isDryRun(ctx.query)) { sendObject(ctx, 201, obj); return; }
  sendObject(ctx, 201, ctx.store.create(route.info.resource, obj));
}

/** Combines an incoming object with the stored one for the main resource or the status subresource. */
function combine(ctx: RequestContext, current: KubeObject, incoming: KubeObject): KubeObject {
  const { info, subresource } = ctx.route;
  if (subresource === 'status') {
    const rv = incoming.metadata.resourceVersion;
    return { ...current, status: incoming.status, metadata: { ...current.metadata, resourceVersion: rv ?? current.metadata.resourceVersion } };
  }
  if (hasStatus(info) && current.status !== undefined) return { ...incoming, status: current.status };
  return incoming;
}

function save(ctx: RequestContext, obj: KubeObject): KubeObject {
  validateObject(ctx.route.info, obj);
  if (isDryRun(ctx.query)) return obj;
  return ctx.store.update(ctx.route.info.resource, obj);
}

export async function handleReplace(ctx: RequestContext): Promise<void> {
  const name = requireName(ctx.route);
  const incoming = checkEnvelope(ctx.route.info, await readObject(ctx), requireNamespace(ctx.route), name);
  const current = existing(ctx, name);
  sendObject(ctx, 200, save(ctx, combine(ctx, current, incoming)));
}

export async function handlePatch(ctx: RequestContext): Promise<void> {
  const { route, req } = ctx;
  const name = requireName(route);
  const ns = requireNamespace(route);
  const type = patchTypeOf(req.headers['content-type']);
  if (!type) {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
  }
  const body = parseBody(await readBody(req), type === 'apply' ? 'application/yaml' : 'application/json');
  const current = ctx.store.get(route.info.resource, ns, name);
  if (!current) {
    if (type !== 'apply' || route.subresource) throw notFound(route.info, name);
    const obj = checkEnvelope(route.info, body, ns, name);
    validateObject(route.info, obj);
    sendObject(ctx, 201, isDryRun(ctx.query) ? obj : ctx.store.create(route.info.resource, obj));
    return;
  }
  const patched = checkEnvelope(route.info, applyPatch(type, current, body), ns, name);
  sendObject(ctx, 200, save(ctx, combine(ctx, current, patched)));
}

async function drain(req: IncomingMessage): Promise<void> {
  await readBody(req, 64 * 1024);
}

export async function handleDelete(ctx: RequestContext): Promise<void> {
  const { route, store } = ctx;
  await drain(ctx.req);
  if (!route.name) { handleDeleteCollection(ctx); return; }
  if (route.subresource) throw new ApiError(405, 'MethodNotAllowed', 'DELETE is not allowed on a subresource');
  const current = existing(ctx, route.name);
  if (isDryRun(ctx.query)) { sendJson(ctx.res, 200, current); return; }
  const gone = store.delete(route.info.resource, route.namespace, route.name);
  if (!gone) throw notFound(route.info, route.name);
  sendJson(ctx.res, 200, gone);
}

function handleDeleteCollection(ctx: RequestContext): void {
  const { route, store } = ctx;
  const items = selectObjects(ctx);
  const deleted = isDryRun(ctx.query) ? items
    : items.flatMap((o) => store.delete(route.info.resource, o.metadata.namespace, o.metadata.name) ?? []);
  sendJson(ctx.res, 200, { kind: `${route.info.kind}List`, apiVersion: apiVersionOf(route.info), metadata: { resourceVersion: store.resourceVersion() }, items: deleted });
}

// The API-server emulator's HTTP server: discovery, resource verbs, watches, tables,
// pods/portforward upgrades, bearer-token authentication. Plain HTTP on 127.0.0.1.
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { PodDialer } from './types';
import { ApiError } from './types';
import type { MemoryStore } from './store';
import { parseRoute } from './routes';
import type { ResourceRoute } from './routes';
import { errorStatus, sendError, sendJson } from './http';
import { apiGroup, apiGroupList, apiResourceList, apiVersions } from './discovery';
import { handleCreate, handleDelete, handleGet, handleList, handlePatch, handleReplace } from './handlers';
import type { RequestContext } from './handlers';
import { handleWatch, isWatch } from './watch';
import { openApiV3ForPath, openApiV3Root } from './openapi';
import type { WatchOptions } from './watch';
import { CHANNEL_PROTOCOLS, SPDY_TUNNEL_PROTOCOL, parsePorts, serveChannelPortForward, spdyOverSocket, spdyOverWebSocket } from './portforward';

export interface ApiServerOptions {
  store: MemoryStore;
  host?: string;
  port?: number;
  dialPod: PodDialer;
  token?: string;
  /** BOOKMARK interval for watches that allow them (default 10 000 ms). */
  bookmarkIntervalMs?: number;
  /** Watch duration when the client sets no timeoutSeconds (default 30 min). */
  watchTimeoutMs?: number;
  /** Serve HTTPS with this certificate (see tls.ts); kubectl only sends tokens over TLS. */
  tls?: { cert: string; key: string };
}

export interface ApiServer { url: string; port: number; close(): Promise<void> }

const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/livez', '/version']);

export const VERSION_INFO = {
  major: '1', minor: '32', gitVersion: 'v1.32.0-flowlens', gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean', buildDate: '2025-01-01T00:00:00Z', goVersion: 'go1.23.0', compiler: 'gc', platform: 'linux/amd64',
};

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  return req.headers.authorization === `Bearer ${token}`;
}

function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

function serveDiscovery(res: ServerResponse, pathname: string, address: string): boolean {
  const route = parseRoute(pathname);
  switch (route.kind) {
    case 'core-versions': sendJson(res, 200, apiVersions(address)); return true;
    case 'groups': sendJson(res, 200, apiGroupList()); return true;
    case 'group': {
      const g = apiGroup(route.group);
      if (!g) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      sendJson(res, 200, g); return true;
    }
    case 'resources': sendJson(res, 200, apiResourceList(route.group, route.version)); return true;
    default: return false;
  }
}

async function serveResource(ctx: RequestContext, watch: WatchOptions): Promise<void> {
  const { req, route } = ctx;
  if (route.subresource === 'portforward') throw new ApiError(400, 'BadRequest', 'Upgrade request required');
  switch (req.method) {
    case 'GET':
      if (isWatch(ctx)) { handleWatch(ctx, watch); return; }
      if (route.name) handleGet(ctx); else handleList(ctx);
      return;
    case 'POST': await handleCreate(ctx); return;
    case 'PUT': await handleReplace(ctx); return;
    case 'PATCH': await handlePatch(ctx); return;
    case 'DELETE': await handleDelete(ctx); return;
    default: throw new ApiError(405, 'MethodNotAllowed', `the server does not allow the method ${req.method ?? ''} on the requested resource`);
  }
}

async function handleRequest(req: IncomingMessage, res: ServerResponse, opts: ApiServerOptions, address: string, watch: WatchOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://apiserver');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  if (!PUBLIC_PATHS.has(path) && !authorized(req, opts.token)) throw unauthorized();
  if (path === '/healthz' || path === '/readyz' || path === '/livez') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }); res.end('ok'); return;
  }
  if (path === '/version') { sendJson(res, 200, VERSION_INFO); return; }
  if (req.method === 'GET' && path.startsWith('/openapi/v3')) { serveOpenApi(res, path); return; }
  if (!path.startsWith('/api')) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if (req.method === 'GET' && serveDiscovery(res, path, address)) return;
  const route = parseRoute(path);
  if (route.kind !== 'resource') throw new ApiError(405, 'MethodNotAllowed', 'only GET is allowed on discovery paths');
  await serveResource({ req, res, store: opts.store, route: route.route, query: url.searchParams }, watch);
}

function serveOpenApi(res: ServerResponse, path: string): void {
  const doc = path === '/openapi/v3' ? openApiV3Root() : openApiV3ForPath(path);
  if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  sendJson(res, 200, doc);
}

function rejectUpgrade(socket: Socket, err: unknown): void {
  const status = errorStatus(err);
  const body = JSON.stringify(status);
  const code = status.code as number;
  socket.end(`HTTP/1.1 ${code} ${String(status.reason)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function portForwardTarget(req: IncomingMessage, opts: ApiServerOptions): { route: ResourceRoute; query: URLSearchParams } {
  if (!authorized(req, opts.token)) throw unauthorized();
  const url = new URL(req.url ?? '/', 'http://apiserver');
  const route = parseRoute(url.pathname);
  if (route.kind !== 'resource' || route.route.subresource !== 'portforward' || !route.route.name) {
    throw new ApiError(400, 'BadRequest', 'only pods/portforward can be upgraded');
  }
  return { route: route.route, query: url.searchParams };
}

function spdyHandshake(req: IncomingMessage, socket: Socket): void {
  const offered = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim());
  if (!offered.includes('portforward.k8s.io')) {
    throw new ApiError(403, 'Forbidden', `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [portforward.k8s.io]`);
  }
  socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n');
}

function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, opts: ApiServerOptions, wss: WebSocketServer): void {
  try {
    const { route, query } = portForwardTarget(req, opts);
    const pod = opts.store.get('pods', route.namespace, route.name!);
    if (!pod) throw new ApiError(404, 'NotFound', `pods "${route.name}" not found`, { name: route.name, kind: 'pods' });
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'spdy/3.1') {
      spdyHandshake(req, socket);
      spdyOverSocket(socket, head, pod, opts.dialPod);
      return;
    }
    if (upgrade !== 'websocket') throw new ApiError(400, 'BadRequest', `unsupported upgrade "${upgrade}"`);
    const ports = parsePorts(query);
    const tunnel = offersSpdyTunnel(req);
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (tunnel) { spdyOverWebSocket(ws, pod, opts.dialPod); return; }
      if (ports.length === 0) { ws.close(1008, 'query parameter "ports" is required'); return; }
      serveChannelPortForward(ws, pod, ports, opts.dialPod);
    });
  } catch (err) {
    rejectUpgrade(socket, err instanceof ApiError ? err : new ApiError(400, 'BadRequest', (err as Error).message));
  }
}

function chooseProtocol(offered: Set<string>): string | false {
  return CHANNEL_PROTOCOLS.find((p) => offered.has(p)) ?? false;
}

const TUNNELED = new WeakSet<IncomingMessage>();

/**
 * kubectl offers "SPDY/3.1+portforward.k8s.io", which is not an RFC 7230 token, so the ws library
 * would refuse the handshake: take the header out and answer with the protocol ourselves.
 */
function offersSpdyTunnel(req: IncomingMessage): boolean {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  if (!offered.includes(SPDY_TUNNEL_PROTOCOL)) return false;
  delete req.headers['sec-websocket-protocol'];
  TUNNELED.add(req);
  return true;
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024, handleProtocols: chooseProtocol });
  wss.on('headers', (headers: string[], req: IncomingMessage) => {
    if (TUNNELED.has(req)) headers.push(`Sec-WebSocket-Protocol: ${SPDY_TUNNEL_PROTOCOL}`);
  });
  const watch: WatchOptions = { bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 10_000, defaultTimeoutMs: opts.watchTimeoutMs ?? 30 * 60_000 };
  let address = `${host}:0`;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    handleRequest(req, res, opts, address, watch).catch((err: unknown) => sendError(res, err));
  };
  const server = opts.tls ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : createServer(handler);
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => handleUpgrade(req, socket, head, opts, wss));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as { port: number }).port;
  address = `${host}:${port}`;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${address}`,
    port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      wss.close();
      server.close(() => resolve());
    }),
  };
}

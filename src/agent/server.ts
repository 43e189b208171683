// The agent's listener: WebSocket flow subscriptions plus /healthz, /readyz and /metrics, on
// 127.0.0.1 by default (clients come through the API server's RBAC-gated port-forward). Filters run
// here, so a client receives only what it asked for; each client has a bounded queue, and a slow
// client loses flows (counted, reported) without slowing the others.
import * as http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Flow } from '../flows/flow';
import { compileFilterSet, type FlowPredicate } from '../flows/filter-compile';
import type { FlowRing } from '../flows/store';
import { Pacer } from '../flows/pacer';
import {
  CloseCode, MAX_BATCH, MAX_CLIENT_FRAME, type NodeStatusMessage, PROTOCOL_VERSION, type ServerMessage, type SubscribeRequest, parseClientMessage,
} from '../agents/protocol';

/** Bytes queued in one client's socket before it starts losing flows. */
export const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** Flows waiting for one client's next batch before it starts losing flows. */
export const MAX_PENDING_FLOWS = 16_384;
const BATCH_MS = 50;
const HEARTBEAT_MS = 30_000;

interface Client { ws: WebSocket; sub?: SubscribeRequest; match: FlowPredicate; pending: Flow[]; lost: number; alive: boolean }

export interface ServerHooks {
  /** Prometheus text for GET /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Counts flows a client lost because it was too slow. */
  onClientLost?: (count: number) => void;
  /** The node's status, sent after hello and on get_status. */
  status?: () => Omit<NodeStatusMessage, 'type' | 'clients'>;
}

export interface AgentServerOptions extends ServerHooks {
  host: string;
  port: number;
  node: string;
  store: FlowRing;
  ready: () => boolean;
  /** When set, the WebSocket upgrade must carry `Authorization: Bearer <token>`. */
  token?: string;
}

/** Each flow is serialised and UTF-8 encoded once, however many clients receive it. */
const encoded = new WeakMap<Flow, Buffer>();
function encode(f: Flow): Buffer {
  let b = encoded.get(f);
  if (b === undefined) {
    b = Buffer.from(JSON.stringify(f));
    encoded.set(f, b);
  }
  return b;
}

const FRAME_HEAD = Buffer.from('{"type":"flows","flows":[');
const FRAME_TAIL = Buffer.from(']}');
const COMMA = Buffer.from(',');

/** `flows` frames of at most MAX_BATCH flows, built from the cached encodings. */
function flowFrames(flows: Flow[]): Buffer[] {
  const frames: Buffer[] = [];
  for (let i = 0; i < flows.length; i += MAX_BATCH) {
    const parts: Buffer[] = [FRAME_HEAD];
    for (let j = i; j < Math.min(flows.length, i + MAX_BATCH); j++) {
      if (j > i) parts.push(COMMA);
      parts.push(encode(flows[j] as Flow));
    }
    parts.push(FRAME_TAIL);
    frames.push(Buffer.concat(parts));
  }
  return frames;
}

function sameFlows(a: Flow[], b: Flow[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1] as string);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class AgentServer {
  private http = http.createServer((req, res) => void this.onHttp(req, res));
  private wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME });
  private clients = new Set<Client>();
  private pacer = new Pacer(BATCH_MS, () => this.flush());
  private heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);

  constructor(private readonly opts: AgentServerOptions) {
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.opts.port, this.opts.host, () => {
        const a = this.http.address();
        resolve({ host: this.opts.host, port: typeof a === 'object' && a ? a.port : this.opts.port });
      });
    });
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Offers a new flow to every following subscriber whose filter matches. */
  publish(flow: Flow): void {
    for (const c of this.clients) {
      if (!c.sub?.follow || !c.match(flow)) continue;
      if (c.pending.length >= MAX_PENDING_FLOWS) this.lose(c, 1);
      else c.pending.push(flow);
      this.pacer.poke();
    }
  }

  /** Tells every subscriber that `count` events were lost at `source`. */
  reportLost(source: string, count: number, gapMs?: number): void {
    for (const c of this.clients) if (c.sub) this.send(c, { type: 'lost_events', source, count, ...(gapMs === undefined ? {} : { gap_ms: gapMs }) });
  }

  /** Sends the node status to every subscriber (readiness changed, loader restarted). */
  broadcastStatus(): void {
    for (const c of this.clients) if (c.sub) this.sendStatus(c);
  }

  async close(): Promise<void> {
    this.pacer.dispose();
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.ws.close(CloseCode.goingAway, 'agent shutting down');
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.opts.token !== undefined && !tokenMatches(req.headers.authorization, this.opts.token)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nflowlens agent: missing or wrong bearer token\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onClient(ws));
  }

  private async onHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { 'Content-Type': 'text/plain' }).end('method not allowed\n');
    if (path === '/healthz') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    if (path === '/readyz') {
      const ok = this.opts.ready();
      return void res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
    }
    if (path === '/metrics' && this.opts.metrics) {
      try {
        const m = await this.opts.metrics();
        return void res.writeHead(200, { 'Content-Type': m.contentType }).end(m.body);
      } catch (e) {
        return void res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics failed: ${String(e)}\n`);
      }
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }

  private send(c: Client, msg: ServerMessage): void {
    if (c.ws.readyState === c.ws.OPEN) c.ws.send(JSON.stringify(msg));
  }

  private sendFlows(c: Client, flows: Flow[], frames: Buffer[] = flowFrames(flows)): void {
    if (c.ws.readyState !== c.ws.OPEN) return;
    for (const f of frames) c.ws.send(f, { binary: false });
  }

  private sendStatus(c: Client): void {
    if (this.opts.status) this.send(c, { type: 'node_status', ...this.opts.status(), clients: this.clients.size });
  }

  private onClient(ws: WebSocket): void {
    const c: Client = { ws, match: () => true, pending: [], lost: 0, alive: true };
    this.clients.add(c);
    this.send(c, { type: 'hello', version: PROTOCOL_VERSION, node: this.opts.node, agent: 'flowlens' });
    ws.on('pong', () => (c.alive = true));
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? { ok: false as const, error: 'binary frames are not accepted' } : parseClientMessage(data.toString());
      if (!m.ok) return this.reject(c, m.error);
      if (m.value.type === 'ping') return this.send(c, { type: 'pong', ...(m.value.id === undefined ? {} : { id: m.value.id }) });
      if (m.value.type === 'get_status') return this.sendStatus(c);
      this.subscribe(c, m.value);
    });
    ws.on('close', () => this.clients.delete(c));
    ws.on('error', () => this.clients.delete(c));
  }

  private reject(c: Client, error: string): void {
    this.send(c, { type: 'error', message: error });
    c.ws.close(CloseCode.badMessage, error.slice(0, 100));
  }

  private subscribe(c: Client, sub: SubscribeRequest): void {
    const pred = compileFilterSet(sub.filters ?? { allowlist: [], denylist: [] });
    if (!pred.ok) return this.reject(c, `invalid filters: ${pred.error}`);
    c.sub = sub;
    c.match = pred.value;
    c.pending = [];
    this.sendStatus(c);
    const stored = sub.last !== undefined || sub.first !== undefined || sub.since !== undefined || sub.until !== undefined;
    if (stored) {
      const last = sub.first === undefined ? sub.last : undefined;
      const flows = last === 0 ? [] : this.opts.store.query({ since: sub.since, until: sub.follow ? undefined : sub.until, first: sub.first, last, filter: pred.value });
      this.sendFlows(c, flows);
    }
    this.send(c, sub.follow ? { type: 'caught_up' } : { type: 'end' });
  }

  private lose(c: Client, n: number): void {
    c.lost += n;
    this.opts.onClientLost?.(n);
    this.pacer.poke();
  }

  private flush(): void {
    // Clients with the same filter usually have the same pending flows: build their frames once.
    let prev: { flows: Flow[]; frames: Buffer[] } | undefined;
    for (const c of this.clients) {
      if (c.pending.length > 0) {
        const flows = c.pending;
        c.pending = [];
        if (c.ws.bufferedAmount > MAX_QUEUED_BYTES) this.lose(c, flows.length);
        else {
          if (!prev || !sameFlows(prev.flows, flows)) prev = { flows, frames: flowFrames(flows) };
          this.sendFlows(c, flows, prev.frames);
        }
      }
      if (c.lost > 0 && c.ws.bufferedAmount <= MAX_QUEUED_BYTES) {
        this.send(c, { type: 'lost_events', source: 'agent_client_queue', count: c.lost });
        c.lost = 0;
      }
      if (c.lost > 0) this.pacer.poke(); // its socket is still full: tell it later
    }
  }

  private beat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        c.ws.terminate();
        this.clients.delete(c);
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }
}

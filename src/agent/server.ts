// The agent's listener: WebSocket flow subscriptions plus /healthz and /readyz, on 127.0.0.1
// by default (clients come through the API server's RBAC-gated port-forward).
import * as http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Flow } from '../flows/flow';
import { matchesSimple } from '../flows/match';
import type { FlowRing } from '../flows/store';
import { CloseCode, MAX_CLIENT_FRAME, PROTOCOL_VERSION, type ServerMessage, type SubscribeRequest, parseClientMessage } from '../agents/protocol';

/** Frames queued for one slow client before it starts losing flows (counted, reported). */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
const BATCH_MS = 50;
const BATCH_MAX = 512;

interface Client { ws: WebSocket; sub?: SubscribeRequest; pending: Flow[]; dropped: number }

export interface AgentServerOptions { host: string; port: number; node: string; store: FlowRing; ready: () => boolean }

export class AgentServer {
  private http = http.createServer((req, res) => this.onHttp(req, res));
  private wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME });
  private clients = new Set<Client>();
  private timer = setInterval(() => this.flush(), BATCH_MS);

  constructor(private readonly opts: AgentServerOptions) {
    this.http.on('upgrade', (req, socket, head) => {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onClient(ws));
    });
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
      if (!c.sub?.follow || !matchesSimple(flow, c.sub)) continue;
      c.pending.push(flow);
    }
  }

  /** Tells every subscriber that `count` events were lost at `source`. */
  reportLost(source: string, count: number): void {
    for (const c of this.clients) if (c.sub) this.send(c, { type: 'lost_events', source, count });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const c of this.clients) c.ws.close(CloseCode.goingAway, 'agent shutting down');
    this.wss.close();
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  private onHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url === '/healthz') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    if (req.url === '/readyz') {
      const ok = this.opts.ready();
      return void res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }

  private send(c: Client, msg: ServerMessage): void {
    c.ws.send(JSON.stringify(msg));
  }

  private onClient(ws: WebSocket): void {
    const c: Client = { ws, pending: [], dropped: 0 };
    this.clients.add(c);
    this.send(c, { type: 'hello', version: PROTOCOL_VERSION, node: this.opts.node, agent: 'flowlens' });
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? { ok: false as const, error: 'binary frames are not accepted' } : parseClientMessage(data.toString());
      if (!m.ok) {
        this.send(c, { type: 'error', message: m.error });
        return ws.close(CloseCode.badMessage, m.error.slice(0, 100));
      }
      if (m.value.type === 'ping') return this.send(c, { type: 'pong', id: m.value.id });
      this.subscribe(c, m.value);
    });
    ws.on('close', () => this.clients.delete(c));
    ws.on('error', () => this.clients.delete(c));
  }

  private subscribe(c: Client, sub: SubscribeRequest): void {
    c.sub = sub;
    const backlog = sub.last ? this.opts.store.last(sub.last, (f) => matchesSimple(f, sub)) : [];
    for (let i = 0; i < backlog.length; i += BATCH_MAX) this.send(c, { type: 'flows', flows: backlog.slice(i, i + BATCH_MAX) });
    this.send(c, sub.follow ? { type: 'caught_up' } : { type: 'end' });
  }

  private flush(): void {
    for (const c of this.clients) {
      if (c.pending.length === 0) continue;
      if (c.ws.bufferedAmount > MAX_QUEUED_BYTES) {
        c.dropped += c.pending.length;
        this.send(c, { type: 'lost_events', source: 'agent_client_queue', count: c.pending.length });
        c.pending = [];
        continue;
      }
      const flows = c.pending;
      c.pending = [];
      for (let i = 0; i < flows.length; i += BATCH_MAX) this.send(c, { type: 'flows', flows: flows.slice(i, i + BATCH_MAX) });
    }
  }
}

// A WebSocket client for one agent, over any Duplex (a port-forward stream in practice).
import { Agent } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import type { ClusterAccess } from '../cluster/kubeconfig';
import { requestJSON } from '../cluster/http';
import { type ClientMessage, type HelloMessage, MAX_SERVER_FRAME, type ServerMessage, PROTOCOL_VERSION, parseServerMessage } from './protocol';

export const TOKEN_SECRET = { namespace: 'flowlens-system', name: 'flowlens-agent-token', key: 'token' } as const;

/**
 * The agent token for clients: $FLOWLENS_AGENT_TOKEN, else the Secret flowlens-system/flowlens-agent-token
 * when the user's RBAC allows reading it (403/404: no token; agents that require one then refuse
 * the upgrade with 401, and the error says how to get it).
 */
export async function resolveAgentToken(access: ClusterAccess, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.FLOWLENS_AGENT_TOKEN) return env.FLOWLENS_AGENT_TOKEN;
  try {
    const s = await requestJSON<{ data?: Record<string, string> }>(access, 'GET', `/api/v1/namespaces/${TOKEN_SECRET.namespace}/secrets/${TOKEN_SECRET.name}`);
    const b64 = s.data?.[TOKEN_SECRET.key];
    return b64 ? Buffer.from(b64, 'base64').toString('utf8').trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}

export interface ConnectOptions { timeoutMs?: number; token?: string }

export interface AgentConnectionHandlers {
  onMessage(msg: ServerMessage): void;
  onClose(reason: string): void;
}

/**
 * Hands ws the port-forward stream as its connection. An http.Agent (rather than ws's
 * createConnection option) survives VS Code's proxy support, which patches http.request and
 * replaces connection factories for hosts other than localhost.
 */
class StreamAgent extends Agent {
  constructor(private readonly stream: Duplex) {
    super();
  }
  override createConnection(): Socket {
    // http treats the connection as a net.Socket: give the stream the socket calls it makes.
    const s = this.stream as Duplex & Partial<Record<'setTimeout' | 'setNoDelay' | 'setKeepAlive' | 'ref' | 'unref', () => unknown>>;
    for (const m of ['setTimeout', 'setNoDelay', 'setKeepAlive', 'ref', 'unref'] as const) s[m] ??= () => s;
    return s as unknown as Socket;
  }
}

export class AgentConnection {
  private constructor(private readonly ws: WebSocket, readonly hello: HelloMessage) {}

  /** Connects through `transport` (or to a URL when none is given) and waits for the agent's hello. */
  static async connect(url: string, transport: Duplex | undefined, handlers: AgentConnectionHandlers, opts: ConnectOptions = {}): Promise<AgentConnection> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    // Over a stream the host name is never resolved; 127.0.0.1 keeps proxy logic out of the way.
    const target = transport ? `ws://127.0.0.1${new URL(url).pathname}` : url;
    const ws = new WebSocket(target, {
      handshakeTimeout: timeoutMs,
      maxPayload: MAX_SERVER_FRAME,
      ...(opts.token ? { headers: { Authorization: `Bearer ${opts.token}` } } : {}),
      ...(transport ? { agent: new StreamAgent(transport) } : {}),
    });
    const hello = await new Promise<HelloMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no hello from agent')), timeoutMs);
      ws.once('error', (e) => { clearTimeout(timer); reject(e); });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(res.statusCode === 401
          ? `the agent requires a token (HTTP 401): set FLOWLENS_AGENT_TOKEN, or get read access to secret ${TOKEN_SECRET.namespace}/${TOKEN_SECRET.name}`
          : `agent refused the connection: HTTP ${res.statusCode}`));
      });
      ws.once('close', (code, reason) => { clearTimeout(timer); reject(new Error(`agent closed the connection (${code} ${reason.toString()})`)); });
      ws.once('message', (data: Buffer) => {
        clearTimeout(timer);
        const m = parseServerMessage(data.toString('utf8'));
        if (!m.ok || m.value.type !== 'hello') return reject(new Error(`expected hello from agent: ${m.ok ? m.value.type : m.error}`));
        if (m.value.version !== PROTOCOL_VERSION) return reject(new Error(`agent speaks protocol ${m.value.version}, this client ${PROTOCOL_VERSION}`));
        resolve(m.value);
      });
    }).catch((e: unknown) => {
      ws.terminate();
      throw e;
    });
    ws.removeAllListeners();
    ws.on('message', (data: Buffer) => {
      const m = parseServerMessage(data.toString('utf8'));
      if (m.ok) handlers.onMessage(m.value);
      else handlers.onMessage({ type: 'error', message: `invalid frame from agent: ${m.error}` });
    });
    ws.on('close', (code, reason) => handlers.onClose(`${code} ${reason.toString()}`.trim()));
    ws.on('error', () => undefined);
    return new AgentConnection(ws, hello);
  }

  send(msg: ClientMessage): void {
    this.ws.send(JSON.stringify(msg));
  }

  close(): void {
    this.ws.close(1000);
  }
}

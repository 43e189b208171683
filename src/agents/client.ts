// A WebSocket client for one agent, over any Duplex (a port-forward stream in practice).
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { type ClientMessage, type HelloMessage, type ServerMessage, PROTOCOL_VERSION, parseServerMessage } from './protocol';

export interface AgentConnectionHandlers {
  onMessage(msg: ServerMessage): void;
  onClose(reason: string): void;
}

export class AgentConnection {
  private constructor(private readonly ws: WebSocket, readonly hello: HelloMessage) {}

  /** Connects through `transport` (or to a URL when none is given) and waits for the agent's hello. */
  static async connect(url: string, transport: Duplex | undefined, handlers: AgentConnectionHandlers, timeoutMs = 10_000): Promise<AgentConnection> {
    const ws = new WebSocket(url, {
      handshakeTimeout: timeoutMs,
      maxPayload: 64 * 1024 * 1024,
      ...(transport ? { createConnection: () => transport as unknown as Socket } : {}),
    });
    const hello = await new Promise<HelloMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no hello from agent')), timeoutMs);
      ws.once('error', (e) => { clearTimeout(timer); reject(e); });
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

// pods/portforward, the kubelet's job: SPDY/3.1 (plain HTTP upgrade, or tunneled in WebSocket
// binary messages as kubectl >= 1.31 does) and the WebSocket channel protocol (v4.channel.k8s.io:
// per port i, data channel 2i and error channel 2i+1, each opened by a frame carrying the port as
// 2 bytes little-endian), used by @kubernetes/client-node.
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { KubeObject, PodDialer } from './types';
import type { SpdyStream } from './spdy';
import { SpdySession } from './spdy';

export const SPDY_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
export const CHANNEL_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'portforward.k8s.io', 'channel.k8s.io'];
const PAIR_TIMEOUT_MS = 30_000;

function podLabel(pod: KubeObject): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
}

/** The kubelet's message when a port cannot be reached. */
export function forwardError(pod: KubeObject, port: number, err: unknown): string {
  const why = err instanceof Error ? err.message : String(err);
  return `error forwarding port ${port} to pod ${podLabel(pod)}, uid ${pod.metadata.uid ?? ''}: ${why}`;
}

export function parsePorts(query: URLSearchParams): number[] {
  const ports = query.getAll('ports').flatMap((v) => v.split(',')).map((p) => p.trim()).filter(Boolean).map(Number);
  for (const p of ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`invalid port "${p}"`);
  return ports;
}

function pipeSocket(sock: Socket, data: SpdyStream, error: SpdyStream): void {
  sock.on('data', (c: Buffer) => data.write(c));
  sock.on('end', () => { data.end(); error.end(); });
  sock.on('error', () => { /* 'close' follows */ });
  sock.on('close', () => { data.end(); error.end(); });
  data.on('data', (c: Buffer) => sock.write(c));
  data.on('end', () => sock.end());
  data.on('reset', () => sock.destroy());
}

interface Pair { port: number; error?: SpdyStream; data?: SpdyStream; timer: NodeJS.Timeout }

/** Serves one SPDY port-forward connection over `session`'s transport. */
export function serveSpdyPortForward(makeSession: (onStream: (s: SpdyStream) => void) => SpdySession, pod: KubeObject, dial: PodDialer): SpdySession {
  const pairs = new Map<string, Pair>();
  const onStream = (s: SpdyStream): void => {
    const port = Number(s.headers.port);
    const type = s.headers.streamtype;
    const requestId = s.headers.requestid ?? String(type === 'data' ? s.id - 2 : s.id);
    if (!Number.isInteger(port) || port < 1 || port > 65535 || (type !== 'data' && type !== 'error')) { s.reset(); return; }
    let pair = pairs.get(requestId);
    if (!pair) {
      const timer = setTimeout(() => { pairs.delete(requestId); pair?.error?.reset(); pair?.data?.reset(); }, PAIR_TIMEOUT_MS);
      pair = { port, timer };
      pairs.set(requestId, pair);
    }
    pair[type] = s;
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      void connect(pod, dial, pair.port, pair.data, pair.error);
    }
  };
  const session = makeSession(onStream);
  session.on('close', () => { for (const p of pairs.values()) clearTimeout(p.timer); pairs.clear(); });
  return session;
}

async function connect(pod: KubeObject, dial: PodDialer, port: number, data: SpdyStream, error: SpdyStream): Promise<void> {
  let sock: Socket;
  try {
    sock = await dial(pod, port);
  } catch (err) {
    error.write(Buffer.from(forwardError(pod, port, err)));
    error.end(); data.end();
    return;
  }
  if (data.localClosed && data.remoteClosed) { sock.destroy(); return; }
  pipeSocket(sock, data, error);
}

/** A SPDY session whose bytes travel in WebSocket binary messages (kubectl's tunneling). */
export function spdyOverWebSocket(ws: WebSocket, pod: KubeObject, dial: PodDialer): SpdySession {
  const session = serveSpdyPortForward((onStream) => new SpdySession({
    write: (b) => ws.send(b, { binary: true }),
    close: () => ws.close(1000),
  }, onStream), pod, dial);
  ws.on('message', (data, isBinary) => {
    if (!isBinary) { session.shutdown(); return; }
    session.receive(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]));
  });
  ws.on('close', () => session.shutdown());
  ws.on('error', () => session.shutdown());
  return session;
}

/** A SPDY session directly on an upgraded socket. */
export function spdyOverSocket(socket: Socket, head: Buffer, pod: KubeObject, dial: PodDialer): SpdySession {
  const session = serveSpdyPortForward((onStream) => new SpdySession({
    write: (b) => socket.write(b),
    close: () => socket.end(),
  }, onStream), pod, dial);
  socket.on('data', (c: Buffer) => session.receive(c));
  socket.on('close', () => session.shutdown());
  socket.on('error', () => session.shutdown());
  if (head.length) session.receive(head);
  return session;
}

function channelFrame(channel: number, data: Buffer, base64: boolean): Buffer | string {
  if (base64) return String.fromCharCode(48 + channel) + data.toString('base64');
  return Buffer.concat([Buffer.from([channel]), data]);
}

function portPrefix(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port, 0);
  return b;
}

/** The WebSocket channel protocol: dials every requested port at once, like the kubelet. */
export function serveChannelPortForward(ws: WebSocket, pod: KubeObject, ports: number[], dial: PodDialer): void {
  const base64 = ws.protocol === 'v4.base64.channel.k8s.io';
  const send = (ch: number, data: Buffer): void => { if (ws.readyState === ws.OPEN) ws.send(channelFrame(ch, data, base64)); };
  const sockets: (Socket | undefined)[] = [];
  const early: Buffer[][] = ports.map(() => []);
  let open = ports.length;
  const done = (): void => { if (--open === 0 && ws.readyState === ws.OPEN) ws.close(1000); };
  ports.forEach((port, i) => {
    send(2 * i, portPrefix(port));
    send(2 * i + 1, portPrefix(port));
    dial(pod, port).then((sock) => {
      if (ws.readyState !== ws.OPEN) { sock.destroy(); return; }
      sockets[i] = sock;
      for (const b of early[i]!.splice(0)) sock.write(b);
      sock.on('data', (c: Buffer) => send(2 * i, c));
      sock.on('error', () => { /* close follows */ });
      sock.on('close', done);
    }, (err: unknown) => { send(2 * i + 1, Buffer.from(forwardError(pod, port, err))); done(); });
  });
  ws.on('message', (raw, isBinary) => {
    const buf = Buffer.isBuffer(raw) ? raw : Buffer.concat(raw as Buffer[]);
    const data = isBinary ? buf : Buffer.from(buf.toString('utf8').slice(1), 'base64');
    const ch = isBinary ? buf[0] : buf.toString('utf8').charCodeAt(0) - 48;
    if (ch === undefined || ch % 2 !== 0) return;
    const payload = isBinary ? data.subarray(1) : data;
    const sock = sockets[ch / 2];
    if (sock) sock.write(payload); else early[ch / 2]?.push(payload);
  });
  ws.on('close', () => { for (const s of sockets) s?.destroy(); });
}

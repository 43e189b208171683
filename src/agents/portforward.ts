// Kubernetes pods/portforward over WebSocket (the channel protocol): one WebSocket = one TCP
// connection to one port of a pod, exposed as a Duplex stream. Access goes through the user's
// kubeconfig and RBAC (pods/portforward), exactly like `kubectl port-forward`.
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import type { ClusterAccess } from '../cluster/kubeconfig';

const PROTOCOLS = ['v4.channel.k8s.io', 'portforward.k8s.io'];
const DATA = 0;
const ERROR = 1;

/** Encodes one client frame for the data channel of port index 0. */
export function encodeDataFrame(chunk: Buffer): Buffer {
  const out = Buffer.allocUnsafe(chunk.length + 1);
  out[0] = DATA;
  chunk.copy(out, 1);
  return out;
}

/** Tracks the per-channel 2-byte port prefix the server sends first on each channel. */
export class ChannelDecoder {
  private seenPrefix = new Set<number>();
  decode(frame: Buffer): { channel: number; payload: Buffer } | { error: string } {
    if (frame.length < 1) return { error: 'empty port-forward frame' };
    const channel = frame[0] as number;
    if (channel !== DATA && channel !== ERROR) return { error: `unexpected port-forward channel ${channel}` };
    let payload = frame.subarray(1);
    if (!this.seenPrefix.has(channel)) {
      if (payload.length < 2) return { error: 'port-forward frame is missing its port prefix' };
      this.seenPrefix.add(channel);
      payload = payload.subarray(2);
    }
    return { channel, payload };
  }
}

export async function openPortForward(access: ClusterAccess, namespace: string, pod: string, port: number, timeoutMs = 10_000): Promise<Duplex> {
  const base = access.server.replace(/^http/, 'ws');
  const url = `${base}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward?ports=${port}`;
  const opts: WebSocket.ClientOptions = { handshakeTimeout: timeoutMs, maxPayload: 16 * 1024 * 1024, headers: {} };
  await access.authorize(opts);
  const ws = new WebSocket(url, PROTOCOLS, opts);
  ws.binaryType = 'nodebuffer';
  const decoder = new ChannelDecoder();
  const errors: string[] = [];
  const stream = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== WebSocket.OPEN) return cb(new Error('port-forward closed'));
      ws.send(encodeDataFrame(chunk), cb);
    },
    final(cb) {
      ws.close(1000);
      cb();
    },
    read() {
      ws.resume();
    },
    destroy(err, cb) {
      ws.terminate();
      cb(err);
    },
  });
  ws.on('message', (data: Buffer) => {
    const f = decoder.decode(data);
    if ('error' in f) return stream.destroy(new Error(f.error));
    if (f.channel === ERROR) {
      if (f.payload.length > 0) errors.push(f.payload.toString('utf8'));
      return;
    }
    if (!stream.push(f.payload)) ws.pause();
  });
  ws.on('close', () => {
    if (errors.length > 0) stream.destroy(new Error(`port-forward to ${namespace}/${pod}:${port}: ${errors.join('; ')}`));
    else stream.push(null);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (e) => reject(new Error(`port-forward to ${namespace}/${pod}:${port} failed: ${e.message}`)));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(new Error(`port-forward to ${namespace}/${pod}:${port} refused: HTTP ${res.statusCode} ${parseStatusMessage(body)}`)));
    });
  });
  ws.on('error', (e) => stream.destroy(e));
  return stream;
}

function parseStatusMessage(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body.slice(0, 200);
  } catch {
    return body.slice(0, 200);
  }
}

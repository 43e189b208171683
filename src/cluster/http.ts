// Minimal Kubernetes REST over node:http(s), authorised through the kubeconfig.
import * as http from 'node:http';
import * as https from 'node:https';
import type { ClusterAccess } from './kubeconfig';

export class HttpError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string) { super(message); }
}

const MAX_RESPONSE = 256 * 1024 * 1024;

async function open(access: ClusterAccess, method: string, path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<http.ClientRequest> {
  const url = new URL(access.server + path);
  const opts: https.RequestOptions = { method, hostname: url.hostname, port: url.port, path: url.pathname + url.search, headers: { ...headers }, signal };
  await access.authorize(opts);
  return (url.protocol === 'https:' ? https : http).request(opts);
}

function statusError(status: number, text: string, path: string): HttpError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new HttpError(status, s.reason ?? '', s.message ?? `HTTP ${status} for ${path}`);
  } catch {
    return new HttpError(status, '', `HTTP ${status} for ${path}: ${text.slice(0, 200)}`);
  }
}

/** One request with a JSON response body. */
export async function requestJSON<T>(access: ClusterAccess, method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<T> {
  const req = await open(access, method, path, { Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': contentType }) }, signal);
  return new Promise<T>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE) res.destroy(new Error(`response for ${path} is larger than ${MAX_RESPONSE} bytes`));
        else chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300) return reject(statusError(res.statusCode ?? 0, text, path));
        try {
          resolve(JSON.parse(text) as T);
        } catch {
          reject(new Error(`invalid JSON from ${path}`));
        }
      });
    });
    req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

/** A streaming GET whose body is newline-delimited JSON (watch). Resolves when the stream ends. */
export async function streamJSONLines(access: ClusterAccess, path: string, onValue: (v: unknown) => void, signal: AbortSignal): Promise<void> {
  const req = await open(access, 'GET', path, { Accept: 'application/json' }, signal);
  return new Promise<void>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      if ((res.statusCode ?? 0) >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(statusError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), path)));
        return;
      }
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        pending += text;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line.length === 0) continue;
          try {
            onValue(JSON.parse(line));
          } catch (e) {
            res.destroy(e instanceof Error ? e : new Error(String(e)));
            return;
          }
        }
      });
      res.on('error', reject);
      res.on('end', () => resolve());
      res.on('close', () => resolve());
    });
    req.end();
  });
}

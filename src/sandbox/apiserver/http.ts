// HTTP plumbing: JSON responses, metav1.Status errors, bounded body reading, JSON/YAML bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import type { StatusDetails } from './types';
import { ApiError } from './types';

export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

export function statusObject(code: number, reason: string, message: string, details?: StatusDetails): Record<string, unknown> {
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason,
    ...(details ? { details } : {}), code,
  };
}

export function errorStatus(err: unknown): Record<string, unknown> {
  if (err instanceof ApiError) return statusObject(err.code, err.reason, err.message, err.details);
  const message = err instanceof Error ? err.message : String(err);
  return statusObject(500, 'InternalError', `Internal error occurred: ${message}`);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (!(err instanceof ApiError)) console.error('apiserver: internal error:', err);
  const status = errorStatus(err);
  if (res.headersSent) { res.destroy(); return; }
  sendJson(res, status.code as number, status);
}

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) { reject(tooLarge(limit)); req.resume(); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) { reject(tooLarge(limit)); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, 'RequestEntityTooLarge', `the request body is larger than the limit of ${limit} bytes`);
}

/** Decodes a request body as JSON or YAML according to its content type. */
export function parseBody(buf: Buffer, contentType: string | undefined): unknown {
  const ct = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  const text = buf.toString('utf8');
  if (!text.trim()) throw new ApiError(400, 'BadRequest', 'the request body is empty');
  if (ct.includes('protobuf')) throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
  try {
    if (ct.endsWith('yaml')) return parseYaml(text, { maxAliasCount: 100 });
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `the body of the request could not be decoded as ${ct.endsWith('yaml') ? 'YAML' : 'JSON'}: ${(err as Error).message}`);
  }
}

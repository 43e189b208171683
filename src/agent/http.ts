// HTTP/1.x first bytes captured at tc (up to 192 bytes of a segment that starts with a method or
// "HTTP/1."): request line and status line parsers, and a per-connection FIFO that matches each
// response to the oldest open request (HTTP/1.1 keep-alive answers in order) for latency.

export interface HttpRequestHead { kind: 'request'; method: string; url: string; protocol: string; host?: string }
export interface HttpResponseHead { kind: 'response'; code: number; protocol: string }
export type HttpHead = HttpRequestHead | HttpResponseHead;

const METHODS = new Set(['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);
const MAX_PATH = 128;

function firstLine(b: Buffer): string | undefined {
  const text = b.toString('latin1');
  const end = text.indexOf('\r\n');
  return end < 0 ? undefined : text.slice(0, end);
}

function headerHost(b: Buffer): string | undefined {
  const m = /\r\nhost:[ \t]*([^\r\n]{1,253})\r\n/i.exec(b.toString('latin1'));
  return m?.[1]?.trim();
}

/** undefined when the bytes are not the head of an HTTP/1.x message (or the line is cut). */
export function parseHttpHead(b: Buffer): HttpHead | undefined {
  const line = firstLine(b);
  if (line === undefined) return undefined;
  const status = /^(HTTP\/1\.[01]) ([1-5]\d\d)(?: |$)/.exec(line);
  if (status) return { kind: 'response', protocol: status[1]!, code: Number(status[2]) };
  const req = /^([A-Z]+) (\S+) (HTTP\/1\.[01])$/.exec(line);
  if (!req || !METHODS.has(req[1]!)) return undefined;
  let url = req[2]!;
  if (!/^[\x21-\x7e]+$/.test(url)) return undefined;
  if (url.length > MAX_PATH) url = `${url.slice(0, MAX_PATH)}…`;
  const host = headerHost(b);
  return { kind: 'request', method: req[1]!, url, protocol: req[3]!, ...(host ? { host } : {}) };
}

/** Requests waiting for their response, per connection; bounded in connections and depth. */
export class HttpMatcher {
  private open = new Map<string, { head: HttpRequestHead; timeNs: bigint }[]>();
  constructor(private readonly maxConns = 65_536, private readonly maxDepth = 32) {}

  request(conn: string, head: HttpRequestHead, timeNs: bigint): void {
    let q = this.open.get(conn);
    if (!q) {
      if (this.open.size >= this.maxConns) this.open.delete(this.open.keys().next().value as string);
      q = [];
      this.open.set(conn, q);
    }
    if (q.length >= this.maxDepth) q.shift();
    q.push({ head, timeNs });
  }

  /** The request this response answers and the latency in ns, if the request was seen. */
  response(conn: string, timeNs: bigint): { head: HttpRequestHead; latencyNs: number } | undefined {
    const q = this.open.get(conn);
    const r = q?.shift();
    if (q && q.length === 0) this.open.delete(conn);
    if (!r) return undefined;
    return { head: r.head, latencyNs: timeNs >= r.timeNs ? Number(timeNs - r.timeNs) : 0 };
  }

  forget(conn: string): void {
    this.open.delete(conn);
  }
}

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

/**
 * Requests waiting for their response, per connection; bounded in connections and depth. A
 * response answers the request whose TCP ack is the response's seq (the server's next byte when the
 * request was sent), not simply the oldest: the kernel copies a bounded number of heads per window
 * and direction, and a request and its response are counted in different flows, so a response
 * whose request was not copied (or a request whose response was not) must not shift the pairs.
 * Pipelined requests (sent before the previous response) share its ack: such a request is
 * answered next, in order. Requests queued before the one answered had their responses missed
 * and are dropped. A response with no such request gets no method, URL or latency: no guess.
 */
export class HttpMatcher {
  private open = new Map<string, { q: { head: HttpRequestHead; timeNs: bigint; ack: number }[]; answered?: number }>();
  constructor(private readonly maxConns = 65_536, private readonly maxDepth = 32) {}

  request(conn: string, head: HttpRequestHead, timeNs: bigint, ack: number): void {
    let c = this.open.get(conn);
    if (!c) {
      if (this.open.size >= this.maxConns) this.open.delete(this.open.keys().next().value as string);
      c = { q: [] };
      this.open.set(conn, c);
    }
    if (c.q.length >= this.maxDepth) c.q.shift();
    c.q.push({ head, timeNs, ack });
  }

  /** The request this response (its TCP seq) answers and the latency in ns, if the request was seen. */
  response(conn: string, timeNs: bigint, seq: number): { head: HttpRequestHead; latencyNs: number } | undefined {
    const c = this.open.get(conn);
    if (!c) return undefined;
    let i = c.q.findIndex((x) => x.ack === seq);
    if (i < 0 && c.answered !== undefined && c.q[0]?.ack === c.answered) i = 0; // pipelined behind the last one answered
    if (i < 0) return undefined;
    const r = c.q[i]!;
    c.q.splice(0, i + 1);
    c.answered = r.ack;
    if (c.q.length === 0) this.open.delete(conn);
    return { head: r.head, latencyNs: timeNs >= r.timeNs ? Number(timeNs - r.timeNs) : 0 };
  }

  forget(conn: string): void {
    this.open.delete(conn);
  }
}

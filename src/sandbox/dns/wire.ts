// DNS wire format (RFC 1035), just what the cluster DNS needs: parse one standard query, encode a
// response with A answers. Every packet is validated; nothing is trusted.

export const RR_A = 1;
export const RR_AAAA = 28;
export const CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface DnsQuestion { name: string; type: number; qclass: number }

export interface DnsQuery {
  id: number;
  opcode: number;
  rd: boolean;
  question: DnsQuestion;
  /** Bytes of the question section, echoed back verbatim in the response. */
  questionBytes: Buffer;
}

export type ParseResult =
  | { ok: true; query: DnsQuery }
  /** `id` is set when the header was readable, so a FORMERR/NOTIMP answer can be sent. */
  | { ok: false; error: string; id?: number; rcode?: number };

export interface ARecord { name: string; ttl: number; ip: string }

const MAX_NAME = 255;

/** Reads an uncompressed name at `off`; returns the name and the offset after it. */
export function readName(buf: Buffer, off: number): { name: string; end: number } | { error: string } {
  const labels: string[] = [];
  let total = 0;
  for (;;) {
    if (off >= buf.length) return { error: 'name runs past the end of the packet' };
    const len = buf[off] ?? 0;
    if ((len & 0xc0) !== 0) return { error: 'compressed or extended label in a question' };
    off++;
    if (len === 0) break;
    if (off + len > buf.length) return { error: 'label runs past the end of the packet' };
    total += len + 1;
    if (total > MAX_NAME) return { error: 'name longer than 255 bytes' };
    const label = buf.subarray(off, off + len);
    for (const b of label) {
      if (b <= 0x20 || b >= 0x7f || b === 0x2e) return { error: 'label contains a byte that is not printable ASCII' };
    }
    labels.push(label.toString('ascii').toLowerCase());
    off += len;
  }
  return { name: labels.join('.'), end: off };
}

export function parseQuery(buf: Buffer): ParseResult {
  if (buf.length < 12) return { ok: false, error: 'shorter than a DNS header' };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return { ok: false, error: 'not a query (QR set)' };
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { ok: false, error: `opcode ${opcode} not implemented`, id, rcode: RCODE.NOTIMP };
  const [qd, an, ns, ar] = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > 1) return { ok: false, error: `unexpected section counts ${qd}/${an}/${ns}/${ar}`, id, rcode: RCODE.FORMERR };
  const name = readName(buf, 12);
  if ('error' in name) return { ok: false, error: name.error, id, rcode: RCODE.FORMERR };
  if (name.end + 4 > buf.length) return { ok: false, error: 'question truncated', id, rcode: RCODE.FORMERR };
  const question = { name: name.name, type: buf.readUInt16BE(name.end), qclass: buf.readUInt16BE(name.end + 2) };
  const questionBytes = Buffer.from(buf.subarray(12, name.end + 4));
  return { ok: true, query: { id, opcode, rd: (flags & 0x0100) !== 0, question, questionBytes } };
}

export function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  const out: Buffer[] = [];
  for (const p of parts) {
    if (p.length > 63) throw new Error(`label too long: ${p}`);
    out.push(Buffer.from([p.length]), Buffer.from(p, 'ascii'));
  }
  out.push(Buffer.from([0]));
  const buf = Buffer.concat(out);
  if (buf.length > MAX_NAME) throw new Error('name too long');
  return buf;
}

function header(id: number, flags: number, qd: number, an: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  return h;
}

function ipBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) throw new Error(`invalid IPv4 ${ip}`);
  return Buffer.from(parts);
}

/** A response to `q` (question echoed; answers point at it with a compression pointer). */
export function encodeResponse(q: Pick<DnsQuery, 'id' | 'rd' | 'questionBytes'>, rcode: number, answers: ARecord[], authoritative = true): Buffer {
  const flags = 0x8000 | (authoritative ? 0x0400 : 0) | (q.rd ? 0x0100 : 0) | (rcode & 0xf);
  const parts = [header(q.id, flags, 1, answers.length), q.questionBytes];
  for (const a of answers) {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(RR_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(a.ttl, 6);
    rr.writeUInt16BE(4, 10);
    parts.push(rr, ipBytes(a.ip));
  }
  return Buffer.concat(parts);
}

/** An error response when only the header could be read (no question section). */
export function encodeHeaderOnly(id: number, rcode: number): Buffer {
  return header(id, 0x8000 | (rcode & 0xf), 0, 0);
}

export function encodeQuery(id: number, name: string, type: number, rd = true): Buffer {
  return Buffer.concat([header(id, rd ? 0x0100 : 0, 1, 0), encodeName(name), Buffer.from([type >> 8, type & 255, 0, CLASS_IN])]);
}

export interface DecodedResponse { id: number; rcode: number; aa: boolean; qr: boolean; question?: DnsQuestion; answers: { type: number; ttl: number; data: string }[] }

/** Decodes a response (for tests and tools): question + answers whose names use pointers. */
export function decodeResponse(buf: Buffer): DecodedResponse {
  if (buf.length < 12) throw new Error('short response');
  const flags = buf.readUInt16BE(2);
  const res: DecodedResponse = { id: buf.readUInt16BE(0), rcode: flags & 0xf, aa: (flags & 0x0400) !== 0, qr: (flags & 0x8000) !== 0, answers: [] };
  let off = 12;
  if (buf.readUInt16BE(4) === 1) {
    const n = readName(buf, 12);
    if ('error' in n) throw new Error(n.error);
    res.question = { name: n.name, type: buf.readUInt16BE(n.end), qclass: buf.readUInt16BE(n.end + 2) };
    off = n.end + 4;
  }
  for (let i = 0; i < buf.readUInt16BE(6); i++) {
    if (off + 12 > buf.length || (buf[off] ?? 0) < 0xc0) throw new Error('answer not in the expected compressed form');
    const type = buf.readUInt16BE(off + 2);
    const ttl = buf.readUInt32BE(off + 6);
    const rdlen = buf.readUInt16BE(off + 10);
    const data = buf.subarray(off + 12, off + 12 + rdlen);
    if (data.length !== rdlen) throw new Error('rdata truncated');
    res.answers.push({ type, ttl, data: type === RR_A ? [...data].join('.') : data.toString('hex') });
    off += 12 + rdlen;
  }
  return res;
}

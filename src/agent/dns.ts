// DNS messages captured at tc (bpf/tc_flow.bpf.h copies up to 512 bytes): a bounded parser that
// never reads outside the buffer and never loops (compression pointers must point backwards,
// at most 32 jumps), a query/response matcher for latency, and an IP -> names cache that feeds
// `destination_names` of later flows.

export interface DnsAnswer { name: string; type: number; ttl: number; ip?: string; cname?: string }
export interface DnsMessage {
  id: number;
  response: boolean;
  opcode: number;
  rcode: number;
  qname: string;
  qtype: number;
  answers: DnsAnswer[];
  /** True when the message was cut at the capture limit and some records could not be read. */
  truncated: boolean;
}

export const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
export const QTYPE_NAMES: Readonly<Record<number, string>> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 65: 'HTTPS' };
const MAX_ANSWERS = 16;

class Short extends Error {}

/** Reads a (possibly compressed) name at `off`; returns it and the offset after it. */
function readName(b: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  let pos = off;
  let end = -1;
  let length = 0;
  for (let jumps = 0; ; ) {
    if (pos >= b.length) throw new Short();
    const len = b[pos]!;
    if (len === 0) { pos++; break; }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= b.length) throw new Short();
      const target = ((len & 0x3f) << 8) | b[pos + 1]!;
      if (target >= pos || ++jumps > 32) throw new Error('bad compression pointer');
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Error('bad label type');
    if (pos + 1 + len > b.length) throw new Short();
    length += len + 1;
    if (length > 255) throw new Error('name longer than 255 bytes');
    labels.push(b.toString('latin1', pos + 1, pos + 1 + len).replace(/[^\x21-\x7e]/g, (c) => `\\${c.charCodeAt(0)}`));
    pos += 1 + len;
  }
  return [labels.length === 0 ? '.' : `${labels.join('.')}.`, end >= 0 ? end : pos];
}

function formatRdata(b: Buffer, type: number, at: number, len: number): Pick<DnsAnswer, 'ip' | 'cname'> {
  if (type === 1 && len === 4) return { ip: `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}` };
  if (type === 28 && len === 16) {
    const hex = b.toString('hex', at, at + 16).match(/.{4}/g)!.join(':');
    return { ip: new URL(`http://[${hex}]/`).hostname.slice(1, -1) };
  }
  if (type === 5) return { cname: readName(b, at)[0] };
  return {};
}

function readAnswers(b: Buffer, off: number, count: number, out: DnsAnswer[]): boolean {
  let pos = off;
  for (let i = 0; i < Math.min(count, MAX_ANSWERS); i++) {
    const [name, after] = readName(b, pos);
    if (after + 10 > b.length) throw new Short();
    const type = b.readUInt16BE(after);
    const ttl = b.readUInt32BE(after + 4);
    const rdlen = b.readUInt16BE(after + 8);
    if (after + 10 + rdlen > b.length) throw new Short();
    out.push({ name, type, ttl, ...formatRdata(b, type, after + 10, rdlen) });
    pos = after + 10 + rdlen;
  }
  return count <= MAX_ANSWERS;
}

/**
 * The DNS message in a TCP segment to or from port 53 (RFC 1035 4.2.2: a 2-byte length, then the
 * message); undefined when the segment cannot start one. A message longer than what was captured
 * comes back cut, and parses as truncated.
 */
export function tcpDnsMessage(segment: Buffer): Buffer | undefined {
  if (segment.length < 14) return undefined;
  const len = segment.readUInt16BE(0);
  if (len < 12) return undefined;
  return segment.subarray(2, 2 + len);
}

/** Parses one DNS message; undefined when it is not DNS (or not a single-question message). */
export function parseDns(b: Buffer): DnsMessage | undefined {
  if (b.length < 12) return undefined;
  const flags = b.readUInt16BE(2);
  const [qd, an] = [b.readUInt16BE(4), b.readUInt16BE(6)];
  if (qd !== 1) return undefined;
  const msg: DnsMessage = { id: b.readUInt16BE(0), response: (flags & 0x8000) !== 0, opcode: (flags >> 11) & 15, rcode: flags & 15, qname: '', qtype: 0, answers: [], truncated: false };
  try {
    const [qname, after] = readName(b, 12);
    if (after + 4 > b.length) throw new Short();
    msg.qname = qname;
    msg.qtype = b.readUInt16BE(after);
    msg.truncated = !readAnswers(b, after + 4, an, msg.answers);
  } catch (e) {
    if (!(e instanceof Short)) return undefined;
    if (!msg.qname) return undefined;
    msg.truncated = true;
  }
  return msg;
}

interface Pending { timeNs: bigint; at: number }

/** Matches responses to queries by (client, client port, server, id); bounded. */
export class DnsMatcher {
  private pending = new Map<string, Pending>();
  constructor(private readonly max = 65_536) {}

  // Keyed by the client's address, port and the message id, not the server: a query to a Service
  // VIP is answered by its backend (seen at the backend's veth, before the reverse NAT).
  query(client: string, cport: number, id: number, timeNs: bigint): void {
    if (this.pending.size >= this.max) this.pending.delete(this.pending.keys().next().value as string);
    this.pending.set(`${client}|${cport}|${id}`, { timeNs, at: Date.now() });
  }

  /** Latency in ns of the query this response answers, if it was seen. */
  response(client: string, cport: number, id: number, timeNs: bigint): number | undefined {
    const key = `${client}|${cport}|${id}`;
    const q = this.pending.get(key);
    if (!q) return undefined;
    this.pending.delete(key);
    return timeNs >= q.timeNs ? Number(timeNs - q.timeNs) : undefined;
  }
}

/** IP -> names from A/AAAA answers (following CNAMEs to the question), expiring with the TTL. */
export class NameCache {
  /** `sorted`: the names as flows carry them, built once per change and shared (frozen) by those flows. */
  private names = new Map<string, { names: Set<string>; until: number; sorted: string[] | undefined }>();
  constructor(private readonly max = 100_000, private readonly now = () => Date.now()) {}

  learn(msg: DnsMessage): void {
    if (!msg.response || msg.rcode !== 0) return;
    const qname = msg.qname.replace(/\.$/, '');
    for (const a of msg.answers) {
      if (!a.ip) continue;
      if (this.names.size >= this.max) this.names.delete(this.names.keys().next().value as string);
      const e = this.names.get(a.ip) ?? { names: new Set<string>(), until: 0, sorted: undefined };
      if (!e.names.has(qname)) e.sorted = undefined;
      e.names.add(qname);
      e.until = Math.max(e.until, this.now() + Math.max(1, Math.min(a.ttl, 86_400)) * 1000);
      this.names.set(a.ip, e);
    }
  }

  lookup(ip: string): string[] | undefined {
    const e = this.names.get(ip);
    if (!e) return undefined;
    if (e.until < this.now()) {
      this.names.delete(ip);
      return undefined;
    }
    return (e.sorted ??= Object.freeze([...e.names].sort()) as string[]);
  }
}

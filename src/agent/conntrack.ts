// Service translation from the node's conntrack table (kube-proxy iptables/nftables/ipvs modes
// all leave the original and the translated tuple there). Read on demand, cached briefly.
import { readFile } from 'node:fs/promises';
import type { Maybe } from './tcpflows';

/**
 * An address and port a connection was translated to or from. `peer`: the client's end as the
 * other direction of the conntrack entry names it, when that differs from the end it was looked up
 * by (conntrack rewrote the client's port to resolve a tuple clash, or its address: SNAT).
 */
export interface Translation { ip: string; port: number; peer?: { ip: string; port: number } }

function tupleKey(proto: string, src: string, sport: number, dst: string, dport: number): string {
  return `${proto} ${src}:${sport} ${dst}:${dport}`;
}

/** Value bounds of the last tuple found: src, dst, sport, dport (start, end) of the original, then the reply tuple. */
const at = new Int32Array(16);
const TUPLE_KEYS = ['src=', 'dst=', 'sport=', 'dport='];
const PROTOCOLS = ['tcp', 'udp', 'sctp'];

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

function digitsEnd(text: string, from: number, end: number): number {
  let i = from;
  while (i < end && isDigit(text.charCodeAt(i))) i++;
  return i;
}

/** Are the values at at[a] and at[b] the same text (no string made)? */
function same(text: string, a: number, b: number): boolean {
  const n = at[a + 1]! - at[a]!;
  if (n !== at[b + 1]! - at[b]!) return false;
  for (let i = 0; i < n; i++) if (text.charCodeAt(at[a]! + i) !== text.charCodeAt(at[b]! + i)) return false;
  return true;
}

/**
 * The first "src=A dst=B sport=N dport=M" at or after `from` in the line ending at `end` (A and B
 * without spaces, N and M digits; with `spaced`, M followed by a space), its values' bounds at
 * at[slot..slot+7]; returns the end of M, or -1.
 */
function tuple(text: string, from: number, end: number, slot: number, spaced: boolean): number {
  for (let k = text.indexOf('src=', from); k >= 0 && k < end; k = text.indexOf('src=', k + 1)) {
    let p = k;
    let f = 0;
    for (; f < 4; f++) {
      const key = TUPLE_KEYS[f]!;
      if (f > 0 && !(text.charCodeAt(p) === 32 && text.startsWith(key, ++p))) break;
      const v = p + key.length;
      let e: number;
      if (f < 2) {
        e = text.indexOf(' ', v);
        if (e < 0 || e > end) e = end;
      } else e = digitsEnd(text, v, end);
      if (e === v) break;
      at[slot + 2 * f] = v;
      at[slot + 2 * f + 1] = e;
      p = e;
    }
    if (f === 4 && (!spaced || (p < end && text.charCodeAt(p) === 32))) return p;
  }
  return -1;
}

/** Where the protocol name found by the last protocol() call ends. */
let protocolEnd = 0;

/** "FAMILY NUMBER PROTOCOL " at the line's start: the protocol (tcp, udp or sctp), else undefined. */
function protocol(text: string, from: number, end: number): string | undefined {
  let i = from;
  const first = i;
  while (i < end && text.charCodeAt(i) !== 32) i++;
  if (i === first) return undefined;
  while (i < end && text.charCodeAt(i) === 32) i++;
  const num = i;
  i = digitsEnd(text, i, end);
  if (i === num || text.charCodeAt(i) !== 32) return undefined;
  while (i < end && text.charCodeAt(i) === 32) i++;
  for (const p of PROTOCOLS) {
    if (text.startsWith(p, i) && text.charCodeAt(i + p.length) === 32 && i + p.length < end) {
      protocolEnd = i + p.length;
      return p;
    }
  }
  return undefined;
}

/**
 * Parses /proc/net/nf_conntrack text (DNAT entries only) into two maps: original tuple → the
 * backend it was translated to, and the backend's view (client → backend) → the original
 * destination (the Service VIP), for the server side of a connection. A busy node has tens of
 * thousands of lines, nearly all untranslated: lines are scanned in place and strings are made
 * only for translated entries.
 */
export function parseConntrack(text: string): Map<string, Translation> {
  const out = new Map<string, Translation>();
  const str = (f: number) => text.slice(at[f]!, at[f + 1]!);
  for (let from = 0; from < text.length;) {
    let end = text.indexOf('\n', from);
    if (end < 0) end = text.length;
    const proto = protocol(text, from, end);
    // the original tuple must be followed by a space (flags such as [UNREPLIED] may come between)
    const o = proto ? tuple(text, protocolEnd, end, 0, true) : -1;
    if (proto && o >= 0 && tuple(text, o, end, 8, false) >= 0 && !(same(text, 8, 2) && same(text, 12, 6))) {
      const [os, od, rs, rd] = [str(0), str(2), str(8), str(10)];
      const [osp, odp, rsp, rdp] = [Number(str(4)), Number(str(6)), Number(str(12)), Number(str(14))];
      out.set(tupleKey(proto, os, osp, od, odp), { ip: rs, port: rsp });
      // Server side: the backend sees the reply tuple's destination as its peer (SNAT-aware).
      out.set(`reply ${tupleKey(proto, rd, rdp, rs, rsp)}`, { ip: od, port: odp });
    }
    from = end + 1;
  }
  return out;
}

/**
 * The node's DNAT entries, read on a lookup that misses. A read of /proc/net/nf_conntrack costs
 * ~5 µs per entry (a node with 20,000 entries: ~100 ms), so reads are spaced: the next one starts
 * no sooner than max(minIntervalMs, costFactor x the last read's time) after the last one ended,
 * which bounds them to about 1 / (costFactor + 1) of a core however fast connections come. A
 * miss is final when the last read started after `since` (CLOCK_MONOTONIC ns by which the
 * connection's entry existed: its SYN); otherwise the lookup waits for the next read: no
 * translation is missed, only reported later on a busy node.
 */
export class ConntrackTable {
  private table = new Map<string, Translation>();
  private lastEnd = 0;
  private lastMs = 0;
  private lastStart = -1n; // CLOCK_MONOTONIC ns (the clock of the kernel's records)
  private next: Promise<void> | undefined; // a read not started yet: every lookup waiting gets it
  private current: Promise<void> = Promise.resolve();
  private available = true;
  /** Reads done (for tests and the agent's status). */
  reads = 0;

  constructor(
    private readonly path = '/proc/net/nf_conntrack',
    private readonly minIntervalMs = 25,
    private readonly costFactor = 10,
  ) {}

  /** The translated destination of a connection, or undefined if it was not translated (a promise when it waits for a read). */
  lookup(proto: 'tcp' | 'udp', src: string, sport: number, dst: string, dport: number, since = process.hrtime.bigint()): Maybe<Translation | undefined> {
    return this.find(tupleKey(proto, src, sport, dst, dport), since);
  }

  /** For a connection as the server saw it (peer → local), the destination the client dialled. */
  originalDestination(proto: 'tcp' | 'udp', peer: string, peerPort: number, local: string, localPort: number, since = process.hrtime.bigint()): Maybe<Translation | undefined> {
    return this.find(`reply ${tupleKey(proto, peer, peerPort, local, localPort)}`, since);
  }

  /** At once when the table read can tell (a hit, or a read that started after `since`), else after the next read. */
  private find(key: string, since: bigint): Maybe<Translation | undefined> {
    const hit = this.table.get(key);
    if (hit || !this.available || this.lastStart >= since) return hit;
    return (this.next ??= this.schedule()).then(() => this.table.get(key));
  }

  /** The next read: after the one in progress, spaced by the cost of the last. */
  private schedule(): Promise<void> {
    return this.current.then(async () => {
      const wait = this.lastEnd + Math.max(this.minIntervalMs, this.lastMs * this.costFactor) - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.next = undefined; // lookups from now on need a read that starts after them
      this.current = this.read();
      await this.current;
    });
  }

  private async read(): Promise<void> {
    const t0 = Date.now();
    this.lastStart = process.hrtime.bigint();
    try {
      this.table = parseConntrack(await readFile(this.path, 'latin1')); // ASCII: one byte a character, no UTF-8 decoding
    } catch {
      this.available = false;
    }
    this.reads++;
    this.lastEnd = Date.now();
    this.lastMs = this.lastEnd - t0;
  }
}

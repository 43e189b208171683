// Small readers shared by the record decoders: addresses, C strings, validation failures.

/** Thrown by field decoders; RecordDecoder turns it into a RecordDecodeError. */
export class Invalid extends Error {}

export function fail(message: string): never {
  throw new Invalid(message);
}

const DEC: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));

export function formatIPv4(buf: Buffer, off: number): string {
  return `${DEC[buf[off]!]}.${DEC[buf[off + 1]!]}.${DEC[buf[off + 2]!]}.${DEC[buf[off + 3]!]}`;
}

/** Little-endian u32 without Buffer's argument validation (callers checked the record length). */
export function u32le(b: Buffer, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
}

/** RFC 5952: lowercase, no leading zeros, longest zero run (>= 2 groups, first on tie) as '::'. */
export function formatIPv6(buf: Buffer, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(buf, off + 12)}`; // IPv4-mapped, RFC 5952 section 5
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Family byte 4 or 6 (the tc and drop records' convention). */
export function ipFamily(value: number, what: string): 4 | 6 {
  if (value !== 4 && value !== 6) fail(`${what} family ${value} is neither 4 nor 6`);
  return value;
}

// Address strings cached per raw address: a node sees few distinct addresses, and formatting
// (above all IPv6's) costs more than a lookup. Direct-mapped (a collision replaces the slot), so
// the memory is fixed: 4096 IPv4 and 1024 IPv6 strings at most.
const V4_SLOTS = 4096;
const v4Keys = new Int32Array(V4_SLOTS);
const v4Strs: (string | undefined)[] = new Array<string | undefined>(V4_SLOTS).fill(undefined);
const V6_SLOTS = 1024;
const v6Keys = new Int32Array(V6_SLOTS * 4);
const v6Strs: (string | undefined)[] = new Array<string | undefined>(V6_SLOTS).fill(undefined);

/** The 4 bytes at `at` as an int32 (any fixed byte order: only used as a cache key). */
function word(b: Buffer, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}

/** formatIPv4 through the cache. */
export function ipv4Cached(buf: Buffer, off: number): string {
  const w = word(buf, off);
  const slot = Math.imul(w, 0x9e3779b1) >>> 20; // 12 bits
  const hit = v4Strs[slot];
  if (hit !== undefined && v4Keys[slot] === w) return hit;
  const s = formatIPv4(buf, off);
  v4Keys[slot] = w;
  v4Strs[slot] = s;
  return s;
}

/** formatIPv6 through the cache. */
export function ipv6Cached(buf: Buffer, off: number): string {
  const w0 = word(buf, off), w1 = word(buf, off + 4), w2 = word(buf, off + 8), w3 = word(buf, off + 12);
  const slot = Math.imul(w0 ^ Math.imul(w1, 31) ^ Math.imul(w2, 961) ^ Math.imul(w3, 29791), 0x9e3779b1) >>> 22; // 10 bits
  const k = slot * 4;
  const hit = v6Strs[slot];
  if (hit !== undefined && v6Keys[k] === w0 && v6Keys[k + 1] === w1 && v6Keys[k + 2] === w2 && v6Keys[k + 3] === w3) return hit;
  const s = formatIPv6(buf, off);
  v6Keys[k] = w0;
  v6Keys[k + 1] = w1;
  v6Keys[k + 2] = w2;
  v6Keys[k + 3] = w3;
  v6Strs[slot] = s;
  return s;
}

/** The 16 bytes at `off` are ::ffff:a.b.c.d (v4mapped) or :: (zero), else neither. */
function v6Kind(buf: Buffer, off: number): 'v4mapped' | 'zero' | undefined {
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) return undefined;
  if (buf[off + 10] === 0xff && buf[off + 11] === 0xff) return 'v4mapped';
  return buf[off + 10] === 0 && buf[off + 11] === 0 && u32le(buf, off + 12) === 0 ? 'zero' : undefined;
}

/**
 * A socket's two addresses as the connection is on the wire. A dual-stack (AF_INET6) socket
 * talking IPv4 — a Go or Java server listening on [::] accepting from an IPv4 pod — holds
 * IPv4-mapped addresses; its packets, pods, Services and conntrack entries are IPv4, so its
 * records are too (an end not known yet, ::, is 0.0.0.0). Everything else as is.
 */
export function sockAddrs(family: 4 | 6, buf: Buffer, sOff: number, dOff: number): { family: 4 | 6; saddr: string; daddr: string } {
  if (family === 6) {
    const s = v6Kind(buf, sOff), d = v6Kind(buf, dOff);
    if ((s === 'v4mapped' && d !== undefined) || (d === 'v4mapped' && s === 'zero')) {
      return { family: 4, saddr: ipv4Cached(buf, sOff + 12), daddr: ipv4Cached(buf, dOff + 12) };
    }
  }
  return { family, saddr: formatAddr(family, buf, sOff), daddr: formatAddr(family, buf, dOff) };
}

export function formatAddr(family: 4 | 6, buf: Buffer, off: number): string {
  return family === 4 ? ipv4Cached(buf, off) : ipv6Cached(buf, off);
}

/**
 * The u64 (little-endian) at `at` as a bigint plus `add`. Monotonic clock values below 2^53 ns
 * (104 days of uptime) take the cheap path: one BigInt() instead of Buffer's four.
 */
export function u64PlusBig(b: Buffer, at: number, add: bigint): bigint {
  const hi = u32le(b, at + 4);
  if (hi >= 0x200000) return b.readBigUInt64LE(at) + add;
  return BigInt(hi * 0x100000000 + u32le(b, at)) + add;
}

/** NUL-terminated (or full-width) UTF-8 string of a fixed-size field. */
export function readCString(buf: Buffer, off: number, size: number): string {
  const nul = buf.indexOf(0, off);
  const end = nul < 0 || nul > off + size ? off + size : nul;
  return buf.toString('utf8', off, end);
}

const DIG3: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
let secStart = 0n;
let secEnd = 0n; // empty range: the first call fills the cache
let secPrefix = '';
let msCached = -1;
let msPrefix = '';

/**
 * isoFromNs (RFC 3339 with ns, as Hubble prints times) for the hot path: the per-second and
 * per-millisecond prefixes are cached, the rest comes from a table of 3-digit groups (one
 * bigint subtraction per call, no bigint division).
 */
export function isoNs(ns: bigint): string {
  if (ns < secStart || ns >= secEnd) {
    if (ns < 0n) return isoSlow(ns);
    const sec = ns / 1_000_000_000n;
    secStart = sec * 1_000_000_000n;
    secEnd = secStart + 1_000_000_000n;
    secPrefix = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
    msCached = -1;
  }
  const frac = Number(ns - secStart);
  const ms = Math.floor(frac / 1_000_000);
  if (ms !== msCached) {
    msCached = ms;
    msPrefix = `${secPrefix}.${DIG3[ms]!}`;
  }
  const sub = frac - ms * 1_000_000;
  const us = Math.floor(sub / 1000);
  // The 7-character tail is a flat string (short concatenations are copied); the result is then
  // one cons string over two leaves instead of a chain of three.
  return msPrefix + (DIG3[us]! + DIG3[sub - us * 1000]! + 'Z');
}

function isoSlow(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  return `${new Date(Number(sec) * 1000).toISOString().slice(0, 19)}.${(ns - sec * 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

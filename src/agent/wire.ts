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

export function formatAddr(family: 4 | 6, buf: Buffer, off: number): string {
  return family === 4 ? formatIPv4(buf, off) : formatIPv6(buf, off);
}

/** NUL-terminated (or full-width) UTF-8 string of a fixed-size field. */
export function readCString(buf: Buffer, off: number, size: number): string {
  const nul = buf.indexOf(0, off);
  const end = nul < 0 || nul > off + size ? off + size : nul;
  return buf.toString('utf8', off, end);
}

let cachedSec = -1n;
let cachedPrefix = '';

/** isoFromNs (RFC 3339 with ns, as Hubble prints times) for the hot path: the per-second prefix is cached. */
export function isoNs(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  if (sec !== cachedSec) {
    cachedSec = sec;
    cachedPrefix = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  }
  return `${cachedPrefix}.${(ns - sec * 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

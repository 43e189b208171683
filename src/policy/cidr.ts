// IPv4/IPv6 addresses and CIDRs as bigints: parsing (strict), containment, and subtraction
// (cidr minus except -> a list of disjoint CIDRs, used to compile ipBlock.except into rules).
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr { v6: boolean; base: bigint; bits: number }

function v4ToBig(ip: string): bigint {
  return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function v6ToBig(ip: string): bigint {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const n = v4ToBig(v4[1]);
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** A parsed address, or undefined when `ip` is not a valid IPv4/IPv6 address. */
export function parseIP(ip: string): { v6: boolean; value: bigint } | undefined {
  if (isIPv4(ip)) return { v6: false, value: v4ToBig(ip) };
  if (isIPv6(ip) && !ip.includes('%')) return { v6: true, value: v6ToBig(ip) };
  return undefined;
}

export function isIP(ip: string): boolean {
  return parseIP(ip) !== undefined;
}

/** Parses "addr/len"; host bits are cleared (like net.ParseCIDR). undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  const ip = parseIP(m[1]);
  const bits = Number(m[2]);
  if (!ip || bits > (ip.v6 ? 128 : 32) || (m[2].length > 1 && m[2].startsWith('0'))) return undefined;
  const width = ip.v6 ? 128 : 32;
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  return { v6: ip.v6, base: ip.value & mask, bits };
}

export function cidrContains(c: Cidr, ip: { v6: boolean; value: bigint }): boolean {
  if (c.v6 !== ip.v6) return false;
  const width = c.v6 ? 128 : 32;
  return (ip.value >> BigInt(width - c.bits)) === (c.base >> BigInt(width - c.bits)) || c.bits === 0;
}

/** `inner` lies inside `outer` (inclusive). */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.v6 === outer.v6 && inner.bits >= outer.bits && cidrContains(outer, { v6: inner.v6, value: inner.base });
}

export function formatCidr(c: Cidr): string {
  if (!c.v6) {
    const o = [24n, 16n, 8n, 0n].map((s) => Number((c.base >> s) & 255n));
    return `${o.join('.')}/${c.bits}`;
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((c.base >> BigInt(i * 16)) & 0xffffn).toString(16));
  return `${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}/${c.bits}`;
}

/** `block` minus every CIDR in `except`, as disjoint CIDRs (ordered by address). */
export function subtractCidrs(block: Cidr, except: Cidr[]): Cidr[] {
  const relevant = except.filter((e) => e.v6 === block.v6);
  const width = block.v6 ? 128 : 32;
  const walk = (c: Cidr): Cidr[] => {
    if (relevant.some((e) => cidrWithin(c, e))) return [];
    if (!relevant.some((e) => cidrWithin(e, c))) return [c];
    const bits = c.bits + 1;
    const half = 1n << BigInt(width - bits);
    return [...walk({ v6: c.v6, base: c.base, bits }), ...walk({ v6: c.v6, base: c.base + half, bits })];
  };
  return walk(block);
}

// Value parsers shared by the flag parser (errors name the flag) and the compiler (errors name the
// JSON field): IPs and CIDRs, ports, namespaced names, node-name and FQDN globs, HTTP status
// prefixes, regular expressions, TCP flags, event types. Hubble's rules, cited per function.
import type { TcpFlags } from './flow';
import { type Errorable, fail, ok } from '../cluster/errorable';
import { EVENT_TYPES, type EventTypeFilter, TCP_FLAG_NAMES, TRACE_SUBTYPES, q } from './filter';

/** IPv4 dotted quad to an unsigned 32-bit number without allocating; -1 when not IPv4. */
export function ipv4ToInt(s: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

/** IPv6 text to eight 16-bit groups; undefined when invalid. Handles `::` and an embedded IPv4 tail. */
export function ipv6Groups(s: string): number[] | undefined {
  if (!s.includes(':') || s.length > 45) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] as string;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = ipv4ToInt(p);
        if (v4 < 0) return undefined;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const a = parse(halves[0] as string);
  const b = halves.length === 2 ? parse(halves[1] as string) : [];
  if (!a || !b) return undefined;
  if (halves.length === 1) return a.length === 8 ? a : undefined;
  if (a.length + b.length > 7) return undefined;
  return [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
}

export type IpMatcher = { kind: 'exact'; ip: string } | { kind: 'v4'; base: number; mask: number } | { kind: 'v6'; groups: number[]; bits: number };

/** Hubble: an exact address ("1.1.1.1", compared as text) or a CIDR ("1.1.1.0/24"). */
export function parseIpFilter(s: string): Errorable<IpMatcher> {
  const slash = s.indexOf('/');
  if (slash < 0) {
    if (ipv4ToInt(s) >= 0 || ipv6Groups(s)) return ok({ kind: 'exact', ip: s });
    return fail(`invalid IP address ${q(s)}`);
  }
  const addr = s.slice(0, slash);
  const bitsText = s.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : -1;
  const v4 = ipv4ToInt(addr);
  if (v4 >= 0 && bits >= 0 && bits <= 32) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return ok({ kind: 'v4', base: (v4 & mask) >>> 0, mask });
  }
  const g = ipv6Groups(addr);
  if (g && bits >= 0 && bits <= 128) return ok({ kind: 'v6', groups: g, bits });
  return fail(`invalid CIDR ${q(s)}`);
}

export function ipMatches(m: IpMatcher, ip: string): boolean {
  if (m.kind === 'exact') return m.ip === ip;
  if (m.kind === 'v4') {
    const n = ipv4ToInt(ip);
    return n >= 0 && (n & m.mask) >>> 0 === m.base;
  }
  if (ip.indexOf(':') < 0) return false;
  const g = ipv6Groups(ip);
  if (!g) return false;
  for (let bit = 0; bit < m.bits; bit += 16) {
    const take = Math.min(16, m.bits - bit);
    const mask = (0xffff << (16 - take)) & 0xffff;
    if (((g[bit / 16] as number) & mask) !== ((m.groups[bit / 16] as number) & mask)) return false;
  }
  return true;
}

export function parsePort(s: string): Errorable<number> {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : -1;
  return n >= 0 && n <= 65535 ? ok(n) : fail(`invalid port ${q(s)} (expected 0..65535)`);
}

/** Hubble's k8s.ParseNamespaceName: "ns/prefix", "ns/" (whole namespace), or "prefix" in namespace "default". */
export function parseNamespacedName(s: string): Errorable<{ ns: string; prefix: string }> {
  const parts = s.split('/');
  if (parts.length > 2) return fail(`invalid name ${q(s)}: expected [namespace/]<name>`);
  if (parts.length === 2) {
    if (parts[0] === '') return fail(`invalid name ${q(s)}: empty namespace (expected [namespace/]<name>)`);
    return ok({ ns: parts[0] as string, prefix: parts[1] as string });
  }
  if (s === '') return fail('invalid name "": expected [namespace/]<name>');
  return ok({ ns: 'default', prefix: s });
}

const FQDN_CHARS = '[-.0-9a-z]*';
const FQDN_ANY = '(?:[-0-9_a-z]+(?:\\.[-0-9_a-z]+)*)';

/** Hubble's FQDN glob: lower-cased, one trailing dot dropped, `*` = any run of [-.0-9a-z]. */
function fqdnPatternSource(raw: string): Errorable<string> {
  let p = raw.trim().toLowerCase();
  if (p.endsWith('.')) p = p.slice(0, -1);
  if (p === '') return fail('empty pattern');
  if (p.endsWith('.')) return fail(`multiple trailing dots in pattern ${q(raw)}`);
  let out = '';
  for (const c of p) {
    if (c === '.') out += '\\.';
    else if (c === '*') out += FQDN_CHARS;
    else if (/[-0-9_a-z]/.test(c)) out += c;
    else return fail(`invalid character ${JSON.stringify(c)} in pattern ${q(raw)}`);
  }
  return ok(out);
}

export function compileFqdnPatterns(patterns: string[]): Errorable<RegExp> {
  const parts: string[] = [];
  for (const p of patterns) {
    const r = fqdnPatternSource(p);
    if (!r.ok) return r;
    parts.push(r.value);
  }
  return ok(new RegExp(`^(?:${parts.join('|')})$`));
}

/** Hubble's node-name patterns: "[cluster/]node" globs; without a cluster part any cluster matches. Flow node names without a cluster are in cluster "default". */
export function compileNodeNamePatterns(patterns: string[]): Errorable<RegExp> {
  const parts: string[] = [];
  for (const p of patterns) {
    if (p === '') return fail('empty node name pattern');
    const elems = p.split('/');
    if (elems.length > 2) return fail(`too many slashes in node name pattern ${q(p)}`);
    const [cluster, node] = elems.length === 2 ? (elems as [string, string]) : ['', elems[0] as string];
    const c = cluster === '' ? ok(FQDN_ANY) : fqdnPatternSource(cluster);
    const n = node === '' ? ok(FQDN_ANY) : fqdnPatternSource(node);
    if (!c.ok) return fail(`node name pattern ${q(p)}: ${c.error}`);
    if (!n.ok) return fail(`node name pattern ${q(p)}: ${n.error}`);
    parts.push(`${c.value}/${n.value}`);
  }
  return ok(new RegExp(`^(?:${parts.join('|')})$`));
}

/** Hubble: full codes ("404") or prefixes of one or two digits followed by "+" ("5+", "40+"). */
export function parseHttpStatus(s: string): Errorable<{ full?: string; prefix?: string }> {
  if (/^[1-5][0-9]{2}$/.test(s)) return ok({ full: s });
  if (/^[1-5][0-9]?\+$/.test(s)) return ok({ prefix: s.slice(0, -1) });
  return fail(`invalid HTTP status code ${q(s)} (expected e.g. 404, 5+, 40+)`);
}

/**
 * User regexes run on the agent for every L7 flow: refuse the shapes that backtrack
 * catastrophically (a quantified group that itself contains a quantifier, backreferences) and
 * long patterns, so one client cannot stall the agent.
 */
export function compileRegex(s: string, what: string): Errorable<RegExp> {
  if (s.length > 256) return fail(`${what} regular expression is longer than 256 characters`);
  if (/\([^()]*[+*}][^()]*\)\s*[+*{]/.test(s) || /\\[1-9]|\\k</.test(s)) {
    return fail(`${what} regular expression ${q(s)} nests quantifiers or uses backreferences (refused: it could stall the agent)`);
  }
  try {
    return ok(new RegExp(s));
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : String(e);
    return fail(`invalid ${what} regular expression ${q(s)}: ${why}`);
  }
}

/** Hubble: comma-separated names, case-insensitive ("syn,ack"). */
export function parseTcpFlags(s: string): Errorable<TcpFlags> {
  const flags: TcpFlags = {};
  for (const f of s.split(',')) {
    const name = f.trim().toUpperCase();
    if (!(TCP_FLAG_NAMES as readonly string[]).includes(name)) return fail(`unknown TCP flag ${q(f)} (expected ${TCP_FLAG_NAMES.join(', ')})`);
    flags[name as keyof TcpFlags] = true;
  }
  return ok(flags);
}

/** Hubble's --type TYPE[:SUBTYPE], names or numbers. */
export function parseEventType(s: string): Errorable<EventTypeFilter> {
  const [t, sub] = s.split(/:(.*)/s, 2) as [string, string | undefined];
  const type = EVENT_TYPES[t] ?? (/^\d{1,5}$/.test(t) ? Number(t) : undefined);
  if (type === undefined || type > 0xffff) return fail(`unknown event type ${q(t)} (expected ${Object.keys(EVENT_TYPES).join(', ')} or a number)`);
  if (sub === undefined) return ok({ type });
  const st = (type === EVENT_TYPES.trace ? TRACE_SUBTYPES[sub] : undefined) ?? (/^\d{1,5}$/.test(sub) ? Number(sub) : undefined);
  if (st === undefined || st > 0xffff) return fail(`unknown event sub-type ${q(sub)} for type ${q(t)}`);
  return ok({ type, match_sub_type: true, sub_type: st });
}

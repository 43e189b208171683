// THE filter parser for `flowlens observe` flags, the extension's filter bar and anything else
// that reads filters as text. It reproduces `hubble observe` (cilium/hubble cmd/observe
// flows_filter.go): flags build an allowlist tracker, `--not` sends only the next flag to the
// denylist tracker; a tracker materialises as one or two FlowFilters (left = source side, right =
// destination side) so `--pod x` means "source is x OR destination is x"; namespaces are folded
// into pod and service names at the end; conflicting flags are refused as Hubble refuses them.
import type { TrafficDirection, Verdict } from './flow';
import { type Errorable, fail, ok } from '../cluster/errorable';
import { type FilterSet, type FlowFilter, PROTOCOLS, VERDICTS, type WorkloadFilter, q } from './filter';
import { parseLabelSelector } from './filter-labels';
import {
  compileFqdnPatterns, compileNodeNamePatterns, compileRegex, parseEventType, parseHttpStatus, parseIpFilter, parseNamespacedName,
  parsePort, parseTcpFlags,
} from './filter-values';

type Side = 'left' | 'right' | 'both';
type ListField = { [K in keyof FlowFilter]-?: NonNullable<FlowFilter[K]> extends string[] ? K : never }[keyof FlowFilter];

interface Tracker { left?: FlowFilter; right?: FlowFilter; ns: string[]; srcNs: string[]; dstNs: string[]; changed: string[] }

function push<K extends keyof FlowFilter>(t: Tracker, side: Side, field: K, value: NonNullable<FlowFilter[K]>[number]): void {
  for (const s of side === 'both' ? (['left', 'right'] as const) : [side]) {
    const ff = (t[s] ??= {});
    ((ff[field] ??= [] as never) as unknown[]).push(value);
  }
}

const fromTo = (name: string): [string, string, string] => [name, `from-${name}`, `to-${name}`];

/** Hubble's conflict groups: two flags of one group cannot be combined in one list. */
const CONFLICTS: string[][] = [
  ['from-fqdn', 'from-ip', 'ip', 'fqdn', 'from-namespace', 'namespace'],
  ['from-fqdn', 'from-ip', 'ip', 'fqdn', 'from-pod', 'pod'],
  ['to-fqdn', 'to-ip', 'ip', 'fqdn', 'to-namespace', 'namespace'],
  ['to-fqdn', 'to-ip', 'ip', 'fqdn', 'to-pod', 'pod'],
  ['to-pod', 'namespace'], ['from-pod', 'namespace'], ['to-service', 'namespace'], ['from-service', 'namespace'],
  ['label', 'from-label'], ['label', 'to-label'], ['service', 'from-service'], ['service', 'to-service'],
  ['port', 'to-port'], ['port', 'from-port'], ['workload', 'to-workload'], ['workload', 'from-workload'],
];

type Setter = (t: Tracker, value: string) => string | undefined;

function validated<T>(parse: (v: string) => Errorable<T>, apply: (t: Tracker, v: T, raw: string) => void): Setter {
  return (t, raw) => {
    const r = parse(raw);
    if (!r.ok) return r.error;
    apply(t, r.value, raw);
    return undefined;
  };
}

/** Flags that exist in both-ends, from- and to- forms, mapped to source_/destination_ fields. */
function endpointFlags(name: string, field: string, parse: (v: string) => Errorable<unknown>, value: (raw: string) => unknown = (r) => r): Record<string, Setter> {
  const [both, from, to] = fromTo(name);
  const src = `source_${field}` as ListField;
  const dst = `destination_${field}` as ListField;
  const set = (side: 'both' | 'src' | 'dst'): Setter => validated(parse, (t, _v, raw) => {
    const v = value(raw) as string;
    if (side === 'both') { push(t, 'left', src, v); push(t, 'right', dst, v); }
    else push(t, 'both', side === 'src' ? src : dst, v);
  });
  return { [both]: set('both'), [from]: set('src'), [to]: set('dst') };
}

function parseWorkload(s: string): Errorable<WorkloadFilter> {
  const parts = s.split('/');
  if (s === '' || parts.length > 2 || parts.some((p) => p === '')) return fail(`invalid workload ${q(s)}: expected [kind/]name`);
  return ok(parts.length === 2 ? { kind: parts[0], name: parts[1] } : { name: s });
}

const oneOfCI = <T extends string>(what: string, allowed: readonly T[]) => (s: string): Errorable<T> => {
  const v = allowed.find((a) => a.toLowerCase() === s.toLowerCase());
  return v ? ok(v) : fail(`invalid ${what} ${q(s)} (expected ${allowed.join(', ')})`);
};

const nonEmpty = (what: string) => (s: string): Errorable<string> => (s.trim() ? ok(s) : fail(`empty ${what}`));

const global = <T>(parse: (v: string) => Errorable<T>, field: keyof FlowFilter, map: (v: T, raw: string) => unknown = (v) => v): Setter =>
  validated(parse, (t, v, raw) => push(t, 'both', field, map(v, raw) as never));
const raw = (_v: unknown, r: string) => r;

const SETTERS: Record<string, Setter> = {
  ...endpointFlags('pod', 'pod', parseNamespacedName),
  ...endpointFlags('ip', 'ip', parseIpFilter),
  ...endpointFlags('label', 'label', parseLabelSelector),
  ...endpointFlags('service', 'service', parseNamespacedName),
  ...endpointFlags('port', 'port', parsePort),
  ...endpointFlags('fqdn', 'fqdn', (v) => compileFqdnPatterns([v])),
  ...endpointFlags('workload', 'workload', parseWorkload, (raw) => (parseWorkload(raw) as { value: WorkloadFilter }).value),
  namespace: validated(nonEmpty('namespace'), (t, v) => t.ns.push(v)),
  'from-namespace': validated(nonEmpty('namespace'), (t, v) => t.srcNs.push(v)),
  'to-namespace': validated(nonEmpty('namespace'), (t, v) => t.dstNs.push(v)),
  uuid: global(nonEmpty('uuid'), 'uuid'),
  verdict: global(oneOfCI<Verdict>('verdict', VERDICTS), 'verdict'),
  'drop-reason-desc': global(nonEmpty('drop reason'), 'drop_reason_desc', (v) => v.toUpperCase()),
  type: global(parseEventType, 'event_type'),
  'http-status': global(parseHttpStatus, 'http_status_code', raw),
  'http-method': global(nonEmpty('HTTP method'), 'http_method'),
  'http-path': global((v) => compileRegex(v, 'HTTP path'), 'http_path', raw),
  'dns-query': global((v) => compileRegex(v, 'DNS query'), 'dns_query', raw),
  protocol: global(oneOfCI('protocol', PROTOCOLS), 'protocol'),
  'node-name': global((v) => compileNodeNamePatterns([v]), 'node_name', raw),
  'tcp-flags': global(parseTcpFlags, 'tcp_flags'),
  'traffic-direction': global(oneOfCI<TrafficDirection>('traffic direction', ['INGRESS', 'EGRESS']), 'traffic_direction'),
  'ip-version': global(oneOfCI('IP version', ['v4', 'v6']), 'ip_version', (v) => (v === 'v4' ? 'IPv4' : 'IPv6')),
  ipv4: (t) => (push(t, 'both', 'ip_version', 'IPv4'), undefined),
  ipv6: (t) => (push(t, 'both', 'ip_version', 'IPv6'), undefined),
};

/** Every filter flag (long name) and whether it takes a value. */
export const FILTER_FLAGS: ReadonlyMap<string, boolean> = new Map([...Object.keys(SETTERS).map((k) => [k, k !== 'ipv4' && k !== 'ipv6'] as const), ['not', false]]);
/** Hubble's short forms. */
export const FILTER_SHORT: Readonly<Record<string, string>> = { n: 'namespace', l: 'label', t: 'type', '4': 'ipv4', '6': 'ipv6' };

function addNamespaces(names: string[] | undefined, nss: string[]): string[] | undefined {
  if (!names || names.length === 0 || nss.length === 0) return names;
  return names.flatMap((n) => (n.includes('/') ? [n] : nss.map((ns) => `${ns}/${n}`)));
}

function applyNs(ff: FlowFilter, nss: string[], side: 'source' | 'destination'): void {
  const pod = `${side}_pod` as const;
  const svc = `${side}_service` as const;
  if (!ff[pod]?.length && !ff[svc]?.length) ff[pod] = [''];
  ff[pod] = addNamespaces(ff[pod], nss);
  if (ff[svc]) ff[svc] = addNamespaces(ff[svc], nss);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${k}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function materialize(t: Tracker | undefined): FlowFilter[] {
  if (!t || (!t.left && !t.right && !t.ns.length && !t.srcNs.length && !t.dstNs.length)) return [];
  const left = t.left ?? {};
  const right = t.right ?? {};
  if (t.dstNs.length) { applyNs(left, t.dstNs, 'destination'); applyNs(right, t.dstNs, 'destination'); }
  if (t.srcNs.length) { applyNs(left, t.srcNs, 'source'); applyNs(right, t.srcNs, 'source'); }
  if (t.ns.length) { applyNs(left, t.ns, 'source'); applyNs(right, t.ns, 'destination'); }
  return canonical(left) === canonical(right) ? [left] : [left, right];
}

function namespaceConflict(t: Tracker): string | undefined {
  const check = (nss: string[], names: string[] | undefined) => {
    for (const ns of nss) for (const n of names ?? []) {
      const nn = n.includes('/') ? n.split('/')[0] : '';
      if (nn && nn !== ns) return `namespace conflict: ${q(ns)} does not contain ${q(n)}`;
    }
    return undefined;
  };
  for (const ff of [t.left, t.right]) {
    if (!ff) continue;
    const err = check(t.ns, ff.source_pod) ?? check(t.ns, ff.source_service) ?? check(t.ns, ff.destination_pod) ?? check(t.ns, ff.destination_service)
      ?? check(t.srcNs, ff.source_pod) ?? check(t.srcNs, ff.source_service) ?? check(t.dstNs, ff.destination_pod) ?? check(t.dstNs, ff.destination_service);
    if (err) return err;
  }
  return undefined;
}

/** Accumulates filter flags in command-line order, with Hubble's --not and conflict rules. */
export class FilterBuilder {
  private allow: Tracker | undefined;
  private deny: Tracker | undefined;
  private negateNext = false;

  /** Applies one flag (long name without dashes). Errors name the flag and the bad value. */
  set(flag: string, value = ''): string | undefined {
    if (flag === 'not') {
      if (this.negateNext) return 'consecutive --not statements';
      this.negateNext = true;
      return undefined;
    }
    const setter = SETTERS[flag];
    if (!setter) return `unknown filter flag ${q(`--${flag}`)}`;
    const t = this.negateNext ? (this.deny ??= { ns: [], srcNs: [], dstNs: [], changed: [] }) : (this.allow ??= { ns: [], srcNs: [], dstNs: [], changed: [] });
    this.negateNext = false;
    if (!t.changed.includes(flag)) t.changed.push(flag);
    for (const group of CONFLICTS) {
      if (!group.includes(flag)) continue;
      const other = group.find((g) => g !== flag && t.changed.includes(g));
      if (other) return `filters --${flag} and --${other} cannot be combined`;
    }
    const err = setter(t, value);
    if (err) return `--${flag}: ${err}`;
    return namespaceConflict(t);
  }

  finish(): Errorable<FilterSet> {
    if (this.negateNext) return fail('trailing --not found in the arguments');
    return ok({ allowlist: materialize(this.allow), denylist: materialize(this.deny) });
  }
}

/** Shell-like words: whitespace separates, quotes group; a backslash escapes only whitespace, quotes and itself (so regexes like `\\d+` need no doubling). */
export function tokenize(text: string): Errorable<string[]> {
  const out: string[] = [];
  let cur: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const escapes = c === '\\' && i + 1 < text.length && /[\s"'\\]/.test(text[i + 1] as string);
    if (quote) {
      if (c === quote) quote = undefined;
      else if (escapes && quote === '"') cur += text[++i] as string;
      else cur += c;
    } else if (c === '"' || c === "'") { quote = c; cur ??= ''; }
    else if (escapes) cur = (cur ?? '') + (text[++i] as string);
    else if (/\s/.test(c)) { if (cur !== undefined) out.push(cur); cur = undefined; }
    else cur = (cur ?? '') + c;
  }
  if (quote) return fail(`unterminated ${quote} quote`);
  if (cur !== undefined) out.push(cur);
  return ok(out);
}

/** The flag a word names ("--pod", "-n", "--pod=x"), or undefined when it is not a filter flag. */
export function filterFlagOf(word: string): { flag: string; inline?: string } | undefined {
  const m = /^(?:--([a-z0-9-]+)|-([a-z0-9]))(?:=(.*))?$/s.exec(word);
  if (!m) return undefined;
  const flag = m[1] ?? FILTER_SHORT[m[2] as string];
  if (!flag || !FILTER_FLAGS.has(flag)) return undefined;
  return m[3] === undefined ? { flag } : { flag, inline: m[3] };
}

/** Parses filter flags (every word must belong to a filter flag). */
export function parseFilterArgs(words: string[]): Errorable<FilterSet> {
  const b = new FilterBuilder();
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    const f = filterFlagOf(w);
    if (!f) return fail(/^-/.test(w) ? `unknown filter flag ${q(w.split('=')[0] as string)}` : `unexpected ${q(w)}: filters are flags such as --pod NS/NAME or --verdict DROPPED`);
    let value = f.inline;
    if (FILTER_FLAGS.get(f.flag) && value === undefined) {
      if (i + 1 >= words.length) return fail(`--${f.flag} needs a value`);
      value = words[++i];
    } else if (!FILTER_FLAGS.get(f.flag) && value !== undefined) return fail(`--${f.flag} takes no value`);
    const err = b.set(f.flag, value);
    if (err) return fail(err);
  }
  return b.finish();
}

/** The extension's filter bar: the same flags as `flowlens observe`, as one line of text. */
export function parseFilterText(text: string): Errorable<FilterSet> {
  if (text.length > 16 * 1024) return fail('filter text is longer than 16 KiB');
  const words = tokenize(text);
  if (!words.ok) return words;
  return parseFilterArgs(words.value);
}

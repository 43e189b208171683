// Compiles a FilterSet into one predicate. Every value is parsed once here (errors name the JSON
// field and value); the predicate then runs without allocating for L3/L4 fields (IPv4, ports,
// names, labels, verdicts), as Hubble's server evaluates its FlowFilters: AND inside a filter,
// OR over the allowlist, NOR over the denylist.
import type { Endpoint, Flow, Service, TcpFlags } from './flow';
import { type Errorable, fail, ok } from '../cluster/errorable';
import { EVENT_TYPES, type FilterSet, type FlowFilter, PROTOCOLS, TCP_FLAG_NAMES, VERDICTS, type WorkloadFilter, q } from './filter';
import { type LabelSelector, matchLabelSelector, parseLabelSelector } from './filter-labels';
import {
  type IpMatcher, compileFqdnPatterns, compileNodeNamePatterns, compileRegex, ipMatches, parseHttpStatus,
  parseIpFilter, parseNamespacedName, parsePort,
} from './filter-values';

export type FlowPredicate = (f: Flow) => boolean;
type Built = Errorable<FlowPredicate>;

function all<T, R>(values: T[], field: string, parse: (v: T) => Errorable<R>): Errorable<R[]> {
  const out: R[] = [];
  for (let i = 0; i < values.length; i++) {
    const r = parse(values[i] as T);
    if (!r.ok) return fail(`${field}[${i}]: ${r.error}`);
    out.push(r.value);
  }
  return ok(out);
}

function byIp(values: string[], field: string, get: (f: Flow) => string): Built {
  const ms = all(values, field, parseIpFilter);
  if (!ms.ok) return ms;
  const list: IpMatcher[] = ms.value;
  return ok((f) => {
    const ip = get(f);
    if (!ip) return false;
    for (let i = 0; i < list.length; i++) if (ipMatches(list[i] as IpMatcher, ip)) return true;
    return false;
  });
}

function byName(values: string[], field: string, get: (f: Flow) => { namespace?: string; name?: string } | undefined): Built {
  const ns = all(values, field, parseNamespacedName);
  if (!ns.ok) return ns;
  const list = ns.value;
  return ok((f) => {
    const e = get(f);
    if (!e || (!e.namespace && !e.name)) return false;
    const name = e.name ?? '';
    for (let i = 0; i < list.length; i++) {
      const n = list[i] as { ns: string; prefix: string };
      if (n.ns === e.namespace && (n.prefix === '' || name.startsWith(n.prefix))) return true;
    }
    return false;
  });
}

const podOf = (e: Endpoint) => ({ namespace: e.namespace, name: e.pod_name });
const svcOf = (s: Service | undefined) => (s ? { namespace: s.namespace, name: s.name } : undefined);

function byLabels(values: string[], field: string, get: (f: Flow) => Endpoint): Built {
  const sels = all(values, field, parseLabelSelector);
  if (!sels.ok) return sels;
  const list: LabelSelector[] = sels.value;
  return ok((f) => {
    const labels = get(f).labels;
    for (let i = 0; i < list.length; i++) if (matchLabelSelector(list[i] as LabelSelector, labels)) return true;
    return false;
  });
}

function byWorkload(values: WorkloadFilter[], get: (f: Flow) => Endpoint): Built {
  return ok((f) => {
    const wls = get(f).workloads;
    if (!wls) return false;
    for (const w of wls) for (const v of values) if ((!v.name || v.name === w.name) && (!v.kind || v.kind === w.kind)) return true;
    return false;
  });
}

function l4Port(f: Flow, source: boolean): number {
  const p = f.l4.TCP ?? f.l4.UDP;
  if (!p) return -1;
  return source ? p.source_port : p.destination_port;
}

function byPort(values: string[], field: string, source: boolean): Built {
  const ports = all(values, field, parsePort);
  if (!ports.ok) return ports;
  const list = ports.value;
  return ok((f) => {
    const p = l4Port(f, source);
    return p >= 0 && list.includes(p);
  });
}

function byFqdn(values: string[], field: string, get: (f: Flow) => string[] | undefined): Built {
  const re = compileFqdnPatterns(values);
  if (!re.ok) return fail(`${field}: ${re.error}`);
  return ok((f) => {
    const names = get(f);
    if (!names) return false;
    for (let i = 0; i < names.length; i++) if (re.value.test(names[i] as string)) return true;
    return false;
  });
}

/** Hubble's monitor message type of a flow: event_type when the producer set it, else derived. */
export function eventTypeOf(f: Flow): number {
  if (f.event_type) return f.event_type.type;
  if (f.Type === 'L7') return EVENT_TYPES.l7 as number;
  if (f.verdict === 'DROPPED') return EVENT_TYPES.drop as number;
  if (f.Type === 'SOCK') return EVENT_TYPES['trace-sock'] as number;
  return EVENT_TYPES.trace as number;
}

interface L7Http { code?: number; method?: string; url?: string }
interface L7Dns { query?: string; rcode?: number }
const httpOf = (f: Flow) => (f.l7 as { http?: L7Http } | undefined)?.http;
const dnsOf = (f: Flow) => (f.l7 as { dns?: L7Dns } | undefined)?.dns;

/** The path of an HTTP URL ("/a?b" or "http://h/a?b" → "/a"). */
export function urlPath(url: string): string {
  let start = 0;
  const scheme = url.indexOf('://');
  if (scheme >= 0) {
    start = url.indexOf('/', scheme + 3);
    if (start < 0) return '';
  }
  let end = url.length;
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 63 || c === 35) { end = i; break; }
  }
  return start === 0 && end === url.length ? url : url.slice(start, end);
}

function byProtocol(values: string[], field: string): Built {
  const protos = values.map((p) => p.toLowerCase());
  for (let i = 0; i < protos.length; i++) if (!(PROTOCOLS as readonly string[]).includes(protos[i] as string)) return fail(`${field}[${i}]: unknown protocol ${q(values[i] as string)} (expected ${PROTOCOLS.join(', ')})`);
  return ok((f) => {
    const l4 = f.l4;
    for (const p of protos) {
      if ((p === 'tcp' && l4.TCP) || (p === 'udp' && l4.UDP) || (p === 'icmpv4' && l4.ICMPv4) || (p === 'icmpv6' && l4.ICMPv6)) return true;
      if (p === 'icmp' && (l4.ICMPv4 || l4.ICMPv6)) return true;
      if ((p === 'http' && httpOf(f)) || (p === 'dns' && dnsOf(f)) || (p === 'kafka' && (f.l7 as { kafka?: unknown } | undefined)?.kafka)) return true;
    }
    return false;
  });
}

function byHttpStatus(values: string[], field: string, ff: FlowFilter): Built {
  if (ff.event_type && !ff.event_type.some((t) => t.type === EVENT_TYPES.l7)) return fail(`${field}: filtering by HTTP status code requires the event type filter to match 'l7' events`);
  const st = all(values, field, parseHttpStatus);
  if (!st.ok) return st;
  const full = st.value.flatMap((s) => (s.full ? [Number(s.full)] : []));
  const prefixes = st.value.flatMap((s) => (s.prefix ? [{ lo: Number(s.prefix.padEnd(3, '0')), hi: Number(s.prefix.padEnd(3, '9')) }] : []));
  return ok((f) => {
    const code = httpOf(f)?.code;
    if (!code) return false;
    return full.includes(code) || prefixes.some((p) => code >= p.lo && code <= p.hi);
  });
}

function byRegex(values: string[], field: string, what: string, get: (f: Flow) => string | undefined): Built {
  const res = all(values, field, (v) => compileRegex(v, what));
  if (!res.ok) return res;
  return ok((f) => {
    const s = get(f);
    return s !== undefined && res.value.some((r) => r.test(s));
  });
}

function byTcpFlags(values: TcpFlags[]): Built {
  return ok((f) => {
    const flags = f.l4.TCP?.flags;
    if (!flags) return false;
    outer: for (const want of values) {
      for (const n of TCP_FLAG_NAMES) if (want[n] && !flags[n]) continue outer;
      return true;
    }
    return false;
  });
}

function byEventType(ff: FlowFilter): Built {
  const types = ff.event_type ?? [];
  return ok((f) => {
    const t = eventTypeOf(f);
    for (const e of types) if (e.type === t && (!e.match_sub_type || e.sub_type === f.event_type?.sub_type)) return true;
    return false;
  });
}

type Builder = (ff: FlowFilter) => Built | undefined;

const BUILDERS: Builder[] = [
  (ff) => (ff.uuid?.length ? ok((f) => f.uuid !== undefined && (ff.uuid as string[]).includes(f.uuid)) : undefined),
  (ff) => (ff.event_type?.length ? byEventType(ff) : undefined),
  (ff) => (ff.verdict?.length ? ok((f) => (ff.verdict as string[]).includes(f.verdict)) : undefined),
  (ff) => (ff.drop_reason_desc?.length ? ok((f) => f.drop_reason_desc !== undefined && (ff.drop_reason_desc as string[]).includes(f.drop_reason_desc)) : undefined),
  (ff) => (ff.protocol?.length ? byProtocol(ff.protocol, 'protocol') : undefined),
  (ff) => (ff.source_ip?.length ? byIp(ff.source_ip, 'source_ip', (f) => f.IP.source) : undefined),
  (ff) => (ff.destination_ip?.length ? byIp(ff.destination_ip, 'destination_ip', (f) => f.IP.destination) : undefined),
  (ff) => (ff.source_pod?.length ? byName(ff.source_pod, 'source_pod', (f) => podOf(f.source)) : undefined),
  (ff) => (ff.destination_pod?.length ? byName(ff.destination_pod, 'destination_pod', (f) => podOf(f.destination)) : undefined),
  (ff) => (ff.source_workload?.length ? byWorkload(ff.source_workload, (f) => f.source) : undefined),
  (ff) => (ff.destination_workload?.length ? byWorkload(ff.destination_workload, (f) => f.destination) : undefined),
  (ff) => (ff.source_service?.length ? byName(ff.source_service, 'source_service', (f) => svcOf(f.source_service)) : undefined),
  (ff) => (ff.destination_service?.length ? byName(ff.destination_service, 'destination_service', (f) => svcOf(f.destination_service)) : undefined),
  (ff) => (ff.source_fqdn?.length ? byFqdn(ff.source_fqdn, 'source_fqdn', (f) => f.source_names) : undefined),
  (ff) => (ff.destination_fqdn?.length ? byFqdn(ff.destination_fqdn, 'destination_fqdn', (f) => f.destination_names) : undefined),
  (ff) => (ff.source_label?.length ? byLabels(ff.source_label, 'source_label', (f) => f.source) : undefined),
  (ff) => (ff.destination_label?.length ? byLabels(ff.destination_label, 'destination_label', (f) => f.destination) : undefined),
  (ff) => (ff.source_port?.length ? byPort(ff.source_port, 'source_port', true) : undefined),
  (ff) => (ff.destination_port?.length ? byPort(ff.destination_port, 'destination_port', false) : undefined),
  (ff) => (ff.http_status_code?.length ? byHttpStatus(ff.http_status_code, 'http_status_code', ff) : undefined),
  (ff) => (ff.http_method?.length ? ok((f) => { const m = httpOf(f)?.method; return m !== undefined && (ff.http_method as string[]).some((x) => x.toUpperCase() === m.toUpperCase()); }) : undefined),
  (ff) => (ff.http_path?.length ? byRegex(ff.http_path, 'http_path', 'HTTP path', (f) => { const u = httpOf(f)?.url; return u === undefined ? undefined : urlPath(u); }) : undefined),
  (ff) => (ff.dns_query?.length ? byRegex(ff.dns_query, 'dns_query', 'DNS query', (f) => dnsOf(f)?.query) : undefined),
  (ff) => (ff.tcp_flags?.length ? byTcpFlags(ff.tcp_flags) : undefined),
  (ff) => (ff.traffic_direction?.length ? ok((f) => (ff.traffic_direction as string[]).includes(f.traffic_direction)) : undefined),
  (ff) => (ff.ip_version?.length ? ok((f) => (ff.ip_version as string[]).includes(f.IP.ipVersion)) : undefined),
  (ff) => (ff.node_name?.length ? byNodeName(ff.node_name) : undefined),
];

function byNodeName(values: string[]): Built {
  const re = compileNodeNamePatterns(values);
  if (!re.ok) return fail(`node_name: ${re.error}`);
  return ok((f) => {
    const n = f.node_name;
    if (!n) return false;
    return re.value.test(n.indexOf('/') < 0 ? `default/${n}` : n);
  });
}

/** One FlowFilter: every field present must match (AND). */
export function compileFlowFilter(ff: FlowFilter): Built {
  if (ff.verdict?.some((v) => !VERDICTS.includes(v))) return fail(`verdict: expected one of ${VERDICTS.join(', ')}`);
  const preds: FlowPredicate[] = [];
  for (const b of BUILDERS) {
    const r = b(ff);
    if (!r) continue;
    if (!r.ok) return r;
    preds.push(r.value);
  }
  if (preds.length === 0) return ok(() => true);
  if (preds.length === 1) return ok(preds[0] as FlowPredicate);
  return ok((f) => {
    for (let i = 0; i < preds.length; i++) if (!(preds[i] as FlowPredicate)(f)) return false;
    return true;
  });
}

function compileList(list: FlowFilter[], name: string): Errorable<FlowPredicate[]> {
  const out: FlowPredicate[] = [];
  for (let i = 0; i < list.length; i++) {
    const r = compileFlowFilter(list[i] as FlowFilter);
    if (!r.ok) return fail(`${name}[${i}].${r.error}`);
    out.push(r.value);
  }
  return ok(out);
}

/** A flow passes when it matches any allowlist filter (or there is none) and no denylist filter. */
export function compileFilterSet(set: FilterSet): Built {
  const allow = compileList(set.allowlist, 'allowlist');
  if (!allow.ok) return allow;
  const deny = compileList(set.denylist, 'denylist');
  if (!deny.ok) return deny;
  const a = allow.value;
  const d = deny.value;
  if (a.length === 0 && d.length === 0) return ok(() => true);
  return ok((f) => {
    let pass = a.length === 0;
    for (let i = 0; i < a.length && !pass; i++) if ((a[i] as FlowPredicate)(f)) pass = true;
    if (!pass) return false;
    for (let i = 0; i < d.length; i++) if ((d[i] as FlowPredicate)(f)) return false;
    return true;
  });
}

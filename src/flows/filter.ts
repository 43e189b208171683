// Flow filters with `hubble observe` semantics: one FlowFilter is an AND of its fields, each field
// an OR of its values; a FilterSet passes a flow that matches any allowlist filter (or there are
// none) and no denylist filter. Field names are Hubble's FlowFilter JSON names (what
// `hubble observe --print-raw-filters` prints and `--allowlist`/`--denylist` read), so the same
// JSON travels over the agent protocol. This module holds the types and the JSON validation;
// filter-args.ts parses flags and filter-bar text, filter-compile.ts turns a set into a predicate.
import type { TcpFlags, TrafficDirection, Verdict } from './flow';
import { type Errorable, fail, ok } from '../cluster/errorable';

/** A user-supplied value inside an error message: quoted, escaped, at most 80 characters. */
export function q(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

export interface WorkloadFilter { name?: string; kind?: string }
export interface EventTypeFilter { type: number; match_sub_type?: boolean; sub_type?: number }

export interface FlowFilter {
  uuid?: string[];
  source_ip?: string[];
  destination_ip?: string[];
  source_pod?: string[];
  destination_pod?: string[];
  source_fqdn?: string[];
  destination_fqdn?: string[];
  source_label?: string[];
  destination_label?: string[];
  source_service?: string[];
  destination_service?: string[];
  source_workload?: WorkloadFilter[];
  destination_workload?: WorkloadFilter[];
  source_port?: string[];
  destination_port?: string[];
  verdict?: Verdict[];
  drop_reason_desc?: string[];
  event_type?: EventTypeFilter[];
  http_status_code?: string[];
  http_method?: string[];
  http_path?: string[];
  protocol?: string[];
  /** Flowlens extension (Hubble's FlowFilter has it, its CLI has no flag): regex on l7.dns.query. */
  dns_query?: string[];
  node_name?: string[];
  tcp_flags?: TcpFlags[];
  traffic_direction?: TrafficDirection[];
  ip_version?: ('IPv4' | 'IPv6')[];
}

export interface FilterSet { allowlist: FlowFilter[]; denylist: FlowFilter[] }

export const EMPTY_FILTER_SET: FilterSet = { allowlist: [], denylist: [] };

export const VERDICTS: readonly Verdict[] = ['FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED', 'VERDICT_UNKNOWN'];
export const PROTOCOLS = ['icmp', 'icmpv4', 'icmpv6', 'tcp', 'udp', 'dns', 'http', 'kafka'] as const;
export const TCP_FLAG_NAMES = ['SYN', 'FIN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'] as const;
/** Hubble's monitor message type names (cilium pkg/monitor/api). */
export const EVENT_TYPES: Readonly<Record<string, number>> = { drop: 1, debug: 2, capture: 3, trace: 4, 'policy-verdict': 5, recorder: 6, 'trace-sock': 7, l7: 129, agent: 130 };
/** Trace observation points, the sub-types of `trace`. */
export const TRACE_SUBTYPES: Readonly<Record<string, number>> = {
  'to-endpoint': 0, 'to-proxy': 1, 'to-host': 2, 'to-stack': 3, 'to-overlay': 4, 'from-endpoint': 5, 'from-proxy': 6,
  'from-host': 7, 'from-stack': 8, 'from-overlay': 9, 'from-network': 10, 'to-network': 11, 'from-crypto': 12, 'to-crypto': 13,
};

/** Limits on a filter received from outside (protocol frames, filter bar). */
export const FILTER_LIMITS = { filters: 64, values: 256, valueLength: 1024 } as const;

const STRING_FIELDS = [
  'uuid', 'source_ip', 'destination_ip', 'source_pod', 'destination_pod', 'source_fqdn', 'destination_fqdn', 'source_label',
  'destination_label', 'source_service', 'destination_service', 'source_port', 'destination_port', 'drop_reason_desc',
  'http_status_code', 'http_method', 'http_path', 'protocol', 'dns_query', 'node_name',
] as const;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkArray(v: unknown, field: string, each: (e: unknown, where: string) => string | undefined): string | undefined {
  if (!Array.isArray(v)) return `${field} must be an array`;
  if (v.length > FILTER_LIMITS.values) return `${field} has ${v.length} values (at most ${FILTER_LIMITS.values})`;
  for (let i = 0; i < v.length; i++) {
    const err = each(v[i], `${field}[${i}]`);
    if (err) return err;
  }
  return undefined;
}

const isString = (e: unknown, where: string) =>
  typeof e === 'string' && e.length <= FILTER_LIMITS.valueLength ? undefined : `${where} must be a string of at most ${FILTER_LIMITS.valueLength} characters`;

function oneOf(values: readonly string[]): (e: unknown, where: string) => string | undefined {
  return (e, where) => (typeof e === 'string' && values.includes(e) ? undefined : `${where} must be one of ${values.join(', ')}, got ${(JSON.stringify(e) ?? typeof e).slice(0, 60)}`);
}

function isWorkload(e: unknown, where: string): string | undefined {
  if (!isRecord(e)) return `${where} must be an object {name, kind}`;
  for (const k of Object.keys(e)) if (k !== 'name' && k !== 'kind') return `${where} has unknown field ${q(k.slice(0, 60))}`;
  return isString(e.name ?? '', `${where}.name`) ?? isString(e.kind ?? '', `${where}.kind`);
}

function isEventType(e: unknown, where: string): string | undefined {
  if (!isRecord(e)) return `${where} must be an object {type, match_sub_type, sub_type}`;
  for (const k of Object.keys(e)) if (!['type', 'match_sub_type', 'sub_type'].includes(k)) return `${where} has unknown field ${q(k.slice(0, 60))}`;
  const int = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff;
  if (!int(e.type)) return `${where}.type must be an integer 0..65535`;
  if (e.sub_type !== undefined && !int(e.sub_type)) return `${where}.sub_type must be an integer 0..65535`;
  if (e.match_sub_type !== undefined && typeof e.match_sub_type !== 'boolean') return `${where}.match_sub_type must be a boolean`;
  return undefined;
}

function isTcpFlags(e: unknown, where: string): string | undefined {
  if (!isRecord(e)) return `${where} must be an object such as {"SYN":true}`;
  for (const [k, v] of Object.entries(e)) {
    if (!(TCP_FLAG_NAMES as readonly string[]).includes(k)) return `${where} has unknown TCP flag ${q(k.slice(0, 60))}`;
    if (typeof v !== 'boolean') return `${where}.${k} must be a boolean`;
  }
  return undefined;
}

const FIELD_CHECKS: Record<keyof FlowFilter, (e: unknown, where: string) => string | undefined> = {
  ...(Object.fromEntries(STRING_FIELDS.map((f) => [f, isString])) as Record<(typeof STRING_FIELDS)[number], typeof isString>),
  source_workload: isWorkload,
  destination_workload: isWorkload,
  verdict: oneOf(VERDICTS),
  event_type: isEventType,
  tcp_flags: isTcpFlags,
  traffic_direction: oneOf(['INGRESS', 'EGRESS', 'TRAFFIC_DIRECTION_UNKNOWN']),
  ip_version: oneOf(['IPv4', 'IPv6']),
};

/** Validates one FlowFilter in its JSON form; the error names the bad field. */
export function validateFlowFilter(v: unknown, where = 'filter'): Errorable<FlowFilter> {
  if (!isRecord(v)) return fail(`${where} must be a JSON object`);
  for (const [k, val] of Object.entries(v)) {
    const check = (FIELD_CHECKS as Record<string, (e: unknown, w: string) => string | undefined>)[k];
    if (!check) return fail(`${where} has unknown field ${q(k.slice(0, 60))}`);
    const err = checkArray(val, `${where}.${k}`, check);
    if (err) return fail(err);
  }
  return ok(v as FlowFilter);
}

/** Validates a FilterSet in its JSON form ({allowlist, denylist}). Values are checked again when compiled. */
export function validateFilterSet(v: unknown, where = 'filters'): Errorable<FilterSet> {
  if (!isRecord(v)) return fail(`${where} must be an object {allowlist, denylist}`);
  for (const k of Object.keys(v)) if (k !== 'allowlist' && k !== 'denylist') return fail(`${where} has unknown field ${q(k.slice(0, 60))}`);
  const out: FilterSet = { allowlist: [], denylist: [] };
  for (const list of ['allowlist', 'denylist'] as const) {
    const arr = v[list] ?? [];
    if (!Array.isArray(arr)) return fail(`${where}.${list} must be an array of filters`);
    if (arr.length > FILTER_LIMITS.filters) return fail(`${where}.${list} has ${arr.length} filters (at most ${FILTER_LIMITS.filters})`);
    for (let i = 0; i < arr.length; i++) {
      const f = validateFlowFilter(arr[i], `${where}.${list}[${i}]`);
      if (!f.ok) return f;
      out[list].push(f.value);
    }
  }
  return ok(out);
}

export function isEmptyFilterSet(s: FilterSet): boolean {
  return s.allowlist.length === 0 && s.denylist.length === 0;
}

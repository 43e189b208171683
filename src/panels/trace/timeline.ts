// The Trace pod timeline, pure (no vscode): flows of one pod → events (DNS lookups, connects with
// latency, HTTP requests, resets, retransmits, drops with reasons and the policy that decided)
// grouped by connection from the pod's side. Bounded: the most recently active connections, each
// with its latest events.
import type { Endpoint, Flow, PolicyRef } from '../../flows/flow';
import type { TraceConnection, TraceEvent, TraceView } from './protocol';

export interface TimelineLimits { connections: number; eventsPerConnection: number }
const DEFAULT_LIMITS: TimelineLimits = { connections: 200, eventsPerConnection: 100 };

interface Side { ip: string; port: number; ep: Endpoint; service?: string }
interface Oriented { local: Side; peer: Side; protocol: string; outbound: boolean }

const ms = (ns: unknown) => (ns === undefined || ns === null || ns === '' ? undefined : Math.round(Number(ns) / 1e4) / 100);
const refs = (r: PolicyRef[] | undefined) => (r ?? []).map((p) => `${p.namespace}/${p.name}`);

function ports(f: Flow): { sport: number; dport: number; protocol: string } {
  const l4 = f.l4.TCP ?? f.l4.UDP;
  const protocol = f.l4.TCP ? 'TCP' : f.l4.UDP ? 'UDP' : f.l4.ICMPv4 || f.l4.ICMPv6 ? 'ICMP' : 'other';
  return { sport: l4?.source_port ?? 0, dport: l4?.destination_port ?? 0, protocol };
}

/** The flow seen from the pod: its side, the peer's side, and who started the connection. */
export function orient(f: Flow, pod: { namespace: string; name: string }): Oriented | undefined {
  const isPod = (e: Endpoint) => e.namespace === pod.namespace && e.pod_name === pod.name;
  const { sport, dport, protocol } = ports(f);
  const src: Side = { ip: f.IP.source, port: sport, ep: f.source, ...(f.source_service ? { service: `${f.source_service.namespace}/${f.source_service.name}` } : {}) };
  const dstIP = f.extensions?.original_destination?.ip ?? f.IP.destination;
  const dst: Side = { ip: dstIP, port: f.extensions?.original_destination?.port ?? dport, ep: f.destination, ...(f.destination_service ? { service: `${f.destination_service.namespace}/${f.destination_service.name}` } : {}) };
  let local: Side;
  let peer: Side;
  if (isPod(f.source)) [local, peer] = [src, dst];
  else if (isPod(f.destination)) [local, peer] = [dst, src];
  else return undefined;
  // The client is the side with the ephemeral (higher) port; replies flip source and destination.
  const outbound = local.port === peer.port ? local === src : local.port > peer.port;
  return { local, peer, protocol, outbound };
}

function peerName(s: Side): string {
  const pod = s.ep.pod_name ? `${s.ep.namespace}/${s.ep.pod_name}` : undefined;
  if (s.service) return `${s.service}:${s.port}${pod ? ` (pod ${pod})` : ''}`;
  return `${pod ?? s.ip}:${s.port}`;
}

function connectionKey(o: Oriented): string {
  return o.outbound ? `${o.protocol}|${o.local.port}` : `${o.protocol}|${o.local.port}|${o.peer.ip}|${o.peer.port}`;
}

function label(o: Oriented, dns: boolean): string {
  if (o.outbound) return `${dns ? 'DNS ' : ''}→ ${peerName(o.peer)}`;
  return `← ${peerName(o.peer)} on :${o.local.port}`;
}

function dnsEvent(f: Flow, l7: Record<string, unknown>): TraceEvent | undefined {
  const dns = l7.dns as { query?: string; qtypes?: string[]; ips?: string[]; rcode?: number } | undefined;
  if (!dns) return undefined;
  if (l7.type !== 'RESPONSE') return { time: f.time, kind: 'dns', severity: 'info', text: `DNS query ${dns.query ?? '?'} ${(dns.qtypes ?? []).join(',')}`.trim() };
  const rcode = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][dns.rcode ?? 0] ?? `RCODE${dns.rcode}`;
  const latencyMs = ms(l7.latency_ns);
  return { time: f.time, kind: 'dns', severity: dns.rcode ? 'error' : 'info', text: `DNS answer ${rcode} ${dns.query ?? '?'}${dns.ips?.length ? ` → ${dns.ips.join(', ')}` : ''}`, ...(latencyMs !== undefined ? { latencyMs } : {}) };
}

function httpEvent(f: Flow, l7: Record<string, unknown>): TraceEvent | undefined {
  const h = l7.http as { method?: string; url?: string; code?: number } | undefined;
  if (!h) return undefined;
  if (l7.type !== 'RESPONSE') return { time: f.time, kind: 'http', severity: 'info', text: `HTTP ${h.method ?? ''} ${h.url ?? ''}`.trim() };
  const latencyMs = ms(l7.latency_ns);
  const severity = (h.code ?? 0) >= 500 ? 'error' : (h.code ?? 0) >= 400 ? 'warning' : 'info';
  return { time: f.time, kind: 'http', severity, text: `HTTP ${h.code ?? '?'}${h.method ? ` ${h.method} ${h.url ?? ''}` : ''}`, ...(latencyMs !== undefined ? { latencyMs } : {}) };
}

function dropEvent(f: Flow): TraceEvent {
  const explain = [
    ...refs(f.egress_denied_by).map((p) => `egress denied by ${p}`),
    ...refs(f.ingress_denied_by).map((p) => `ingress denied by ${p}`),
    ...(f.extensions?.drop_reason ? [`kernel: ${f.extensions.drop_reason.name}${f.extensions.drop_reason.location ? ` at ${f.extensions.drop_reason.location}` : ''}`] : []),
  ];
  return { time: f.time, kind: 'drop', severity: 'error', text: `dropped: ${f.drop_reason_desc ?? f.extensions?.drop_reason?.name ?? 'unknown reason'}`, ...(explain.length ? { explain } : {}) };
}

function tcpEvent(f: Flow, o: Oriented): TraceEvent | undefined {
  const x = f.extensions ?? {};
  const peer = peerName(o.peer);
  switch (x.tcp_event) {
    case 'connect': {
      const latencyMs = ms(x.connect_latency_ns);
      return { time: f.time, kind: 'connect', severity: 'info', text: o.outbound ? `connected to ${peer}` : `${peer} connected`, ...(latencyMs !== undefined ? { latencyMs } : {}) };
    }
    // The server's socket reports accept: the traced pod may be either end.
    case 'accept': return { time: f.time, kind: 'accept', severity: 'info', text: o.outbound ? `${peer} accepted` : `accepted from ${peer}` };
    case 'connect_failed': return { time: f.time, kind: 'connect_failed', severity: 'error', text: `connect to ${peer} failed` };
    case 'reset_sent': return { time: f.time, kind: 'reset', severity: 'warning', text: 'reset sent' };
    case 'reset_received': return { time: f.time, kind: 'reset', severity: 'warning', text: `reset received from ${peer}` };
    case 'close': {
      const d = ms(x.duration_ns);
      return { time: f.time, kind: 'close', severity: 'info', text: `closed${d !== undefined ? ` after ${d} ms` : ''}` };
    }
    default:
      return f.l4.TCP?.flags?.RST ? { time: f.time, kind: 'reset', severity: 'warning', text: 'TCP RST seen' } : undefined;
  }
}

/** What one flow adds to the pod's timeline (nothing for plain traffic counters). */
export function flowEvents(f: Flow, o: Oriented): TraceEvent[] {
  const out: TraceEvent[] = [];
  if (f.verdict === 'DROPPED') out.push(dropEvent(f));
  const l7 = f.l7;
  const l7e = l7 ? (dnsEvent(f, l7) ?? httpEvent(f, l7)) : undefined;
  if (l7e) out.push(l7e);
  else if (f.verdict !== 'DROPPED') {
    const t = tcpEvent(f, o);
    if (t) out.push(t);
  }
  const rtx = f.extensions?.retransmits;
  if (typeof rtx === 'number' && rtx > 0) out.push({ time: f.time, kind: 'retransmit', severity: 'warning', text: `${rtx} retransmit${rtx === 1 ? '' : 's'}` });
  return out;
}

interface Conn { id: string; label: string; protocol: string; outbound: boolean; first: string; last: string; events: TraceEvent[]; problems: number }

export class TraceTimeline {
  private readonly conns = new Map<string, Conn>();
  private total = 0;

  constructor(readonly pod: { namespace: string; name: string }, private readonly limits: TimelineLimits = DEFAULT_LIMITS) {}

  /** Adds flows; returns whether the timeline changed. */
  add(flows: readonly Flow[]): boolean {
    let changed = false;
    for (const f of flows) {
      const o = orient(f, this.pod);
      if (!o) continue;
      const events = flowEvents(f, o);
      if (events.length === 0) continue;
      const c = this.conn(o, f);
      c.events.push(...events);
      if (f.time < c.first) c.first = f.time;
      if (f.time > c.last) c.last = f.time;
      c.problems += events.filter((e) => e.severity !== 'info').length;
      if (c.events.length > this.limits.eventsPerConnection) c.events.splice(0, c.events.length - this.limits.eventsPerConnection);
      this.total += events.length;
      changed = true;
    }
    if (changed) this.evict();
    return changed;
  }

  private conn(o: Oriented, f: Flow): Conn {
    const id = connectionKey(o);
    let c = this.conns.get(id);
    if (!c) this.conns.set(id, (c = { id, label: label(o, !!f.l7?.dns), protocol: o.protocol, outbound: o.outbound, first: f.time, last: f.time, events: [], problems: 0 }));
    else if (o.peer.ep.pod_name && !c.label.includes(o.peer.ep.pod_name)) c.label = label(o, c.label.startsWith('DNS')); // the backend became known
    return c;
  }

  private evict(): void {
    if (this.conns.size <= this.limits.connections) return;
    const oldest = [...this.conns.values()].sort((a, b) => (a.last < b.last ? -1 : 1));
    for (const c of oldest.slice(0, this.conns.size - this.limits.connections)) this.conns.delete(c.id);
  }

  view(seq: number, status: string, error?: string): TraceView {
    const connections: TraceConnection[] = [...this.conns.values()]
      .sort((a, b) => (a.last < b.last ? 1 : a.last > b.last ? -1 : 0))
      .map((c) => ({ ...c, events: [...c.events].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0)) }));
    return { seq, pod: `${this.pod.namespace}/${this.pod.name}`, connections, events: this.total, status, ...(error ? { error } : {}) };
  }
}

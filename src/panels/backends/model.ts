// The Service → backend view: frontends from the Service spec, declared backends from
// EndpointSlices, each backend's share of the connections observed to the service (client-side
// connects, by the backend address conntrack translated to), and drift between declared,
// programmed (the agents' dataplane reports, when they send them) and observed backends. Pure.
import type { Backend } from '../../cluster/model';
import type { Flow } from '../../flows/flow';
import type { KubeObject } from '../../sandbox/apiserver/types';
import type { BackendRow, BackendsView, Frontend } from './protocol';

interface SvcPort { name?: string; port: number; protocol?: string; targetPort?: number | string; nodePort?: number }

export function frontendsOf(svc: KubeObject): Frontend[] {
  const spec = svc.spec ?? {};
  const out: Frontend[] = [];
  const ips: string[] = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter((ip: string) => ip && ip !== 'None');
  const lb: string[] = ((svc.status?.loadBalancer?.ingress ?? []) as { ip?: string; hostname?: string }[]).map((i) => i.ip ?? i.hostname ?? '').filter(Boolean);
  for (const p of (spec.ports ?? []) as SvcPort[]) {
    const base = { port: p.port, protocol: p.protocol ?? 'TCP', targetPort: String(p.targetPort ?? p.port) };
    for (const ip of ips) out.push({ kind: 'ClusterIP', address: ip, ...base });
    if (p.nodePort) out.push({ kind: 'NodePort', address: '<node IPs>', ...base, port: p.nodePort });
    for (const a of lb) out.push({ kind: 'LoadBalancer', address: a, ...base });
    for (const a of (spec.externalIPs ?? []) as string[]) out.push({ kind: 'ExternalIP', address: a, ...base });
  }
  return out;
}

/** Connections to this service per backend address: client-side connects (and failed connects) only. */
export function observedConnections(svc: KubeObject, flows: readonly Flow[]): Map<string, number> {
  const ns = svc.metadata.namespace ?? 'default';
  const out = new Map<string, number>();
  for (const f of flows) {
    if (f.destination_service?.name !== svc.metadata.name || f.destination_service.namespace !== ns) continue;
    if (f.is_reply || f.Type === 'L7') continue; // replies and requests inside a connection are not connections
    const ev = f.extensions?.tcp_event;
    if (ev !== undefined ? ev !== 'connect' : f.traffic_direction !== 'EGRESS') continue;
    const fe = f.extensions?.flow_event;
    if (fe !== undefined && fe !== 'start') continue; // one tc flow per connection, not its updates and end
    out.set(f.IP.destination, (out.get(f.IP.destination) ?? 0) + 1);
  }
  return out;
}

export function buildBackendsView(svc: KubeObject, backends: readonly Backend[], flows: readonly Flow[], programmed: ReadonlySet<string> | undefined, windowSec: number, seq: number): BackendsView {
  const seen = observedConnections(svc, flows);
  let untranslated = 0;
  for (const f of frontendsOf(svc)) {
    untranslated += seen.get(f.address) ?? 0;
    seen.delete(f.address);
  }
  const total = [...seen.values()].reduce((a, b) => a + b, 0);
  const rows: BackendRow[] = backends.map((b) => {
    const n = seen.get(b.ip) ?? 0;
    return {
      ip: b.ip, ready: b.ready, connections: n, share: total ? n / total : 0, declared: true, observed: n > 0,
      ...(b.pod ? { pod: `${b.pod.metadata.namespace ?? ''}/${b.pod.metadata.name}` } : {}), ...(b.nodeName ? { node: b.nodeName } : {}),
      ...(programmed ? { programmed: programmed.has(b.ip) } : {}),
    };
  });
  const drift: string[] = [];
  for (const [ip, n] of seen) {
    if (backends.some((b) => b.ip === ip)) continue;
    rows.push({ ip, ready: false, connections: n, share: total ? n / total : 0, declared: false, observed: true, ...(programmed ? { programmed: programmed.has(ip) } : {}) });
    drift.push(`${ip} received ${n} connection(s) but is not in the EndpointSlices`);
  }
  for (const r of rows) {
    if (r.declared && !r.ready && r.observed) drift.push(`${r.pod ?? r.ip} is not ready but received connections`);
    if (programmed && r.declared && r.ready && !r.programmed) drift.push(`${r.pod ?? r.ip} is declared ready but not programmed on the node`);
  }
  if (programmed) for (const ip of programmed) if (!rows.some((r) => r.ip === ip)) drift.push(`${ip} is programmed on the node but not declared`);
  return {
    seq, service: `${svc.metadata.namespace ?? 'default'}/${svc.metadata.name}`, type: svc.spec?.type ?? 'ClusterIP', sessionAffinity: svc.spec?.sessionAffinity ?? 'None',
    frontends: frontendsOf(svc), backends: rows, total, untranslated, windowSec, drift,
    ...(programmed ? {} : { programmedNote: 'programmed backends: not reported by the agents (needs the agents\' dataplane reports)' }),
  };
}

// The service map's graph from recent flows and the cluster's services: workloads and services
// grouped by namespace, edges client workload → service (or → workload when no service was
// involved) with rates and drops. Pure: no vscode.
import type { Endpoint, Flow } from '../../flows/flow';
import type { KubeObject } from '../../sandbox/apiserver/types';
import { isDrop } from '../../extension/live/stats';
import type { Graph, MapEdge, MapNode } from './protocol';

const MAX_NODES = 2000;

function workloadOf(e: Endpoint | undefined, ip: string): { id: string; label: string; ns?: string; filter: string } {
  if (e?.pod_name) {
    const ns = e.namespace ?? 'default';
    const name = e.workloads?.[0]?.name ?? e.pod_name;
    return { id: `wl:${ns}/${name}`, label: name, ns, filter: `${ns}/${name}` };
  }
  return { id: `ip:${ip}`, label: ip, filter: ip };
}

export function buildGraph(flows: readonly Flow[], services: readonly KubeObject[], windowSec: number, seq: number): Graph {
  const nodes = new Map<string, MapNode>();
  const edges = new Map<string, MapEdge>();
  const nsNode = (ns: string) => {
    if (!nodes.has(`ns:${ns}`)) nodes.set(`ns:${ns}`, { id: `ns:${ns}`, kind: 'namespace', label: ns, filter: `--namespace ${ns}` });
    return `ns:${ns}`;
  };
  const svcNode = (ns: string, name: string) => {
    const id = `svc:${ns}/${name}`;
    if (!nodes.has(id)) nodes.set(id, { id, kind: 'service', label: name, parent: nsNode(ns), filter: `--to-service ${ns}/${name}` });
    return id;
  };
  for (const s of services) if (nodes.size < MAX_NODES) svcNode(s.metadata.namespace ?? 'default', s.metadata.name);
  for (const f of flows) {
    // One observation per connection (the client's), but every drop, wherever it was seen.
    if ((f.extensions?.tcp_event === 'accept' || f.traffic_direction === 'INGRESS') && !isDrop(f)) continue;
    const src = workloadOf(f.source, f.IP.source);
    if (!nodes.has(src.id)) {
      if (nodes.size >= MAX_NODES) continue;
      nodes.set(src.id, { id: src.id, kind: src.ns ? 'workload' : 'external', label: src.label, ...(src.ns ? { parent: nsNode(src.ns) } : {}), filter: src.ns ? `--pod ${src.filter}` : `--ip ${src.filter}` });
    }
    let target: string;
    let filter: string;
    const fromFilter = src.ns ? `--from-pod ${src.filter}` : `--from-ip ${src.filter}`;
    if (f.destination_service) {
      target = svcNode(f.destination_service.namespace, f.destination_service.name);
      filter = `${fromFilter} --to-service ${f.destination_service.namespace}/${f.destination_service.name}`;
    } else {
      const dst = workloadOf(f.destination, f.IP.destination);
      if (!nodes.has(dst.id)) {
        if (nodes.size >= MAX_NODES) continue;
        nodes.set(dst.id, { id: dst.id, kind: dst.ns ? 'workload' : 'external', label: dst.label, ...(dst.ns ? { parent: nsNode(dst.ns) } : {}), filter: dst.ns ? `--pod ${dst.filter}` : `--ip ${dst.filter}` });
      }
      target = dst.id;
      filter = `${fromFilter} ${dst.ns ? `--to-pod ${dst.filter}` : `--to-ip ${dst.filter}`}`;
    }
    const id = `${src.id}->${target}`;
    let e = edges.get(id);
    if (!e) edges.set(id, (e = { id, source: src.id, target, flows: 0, rate: 0, drops: 0, filter }));
    e.flows++;
    if (isDrop(f)) e.drops++;
  }
  for (const e of edges.values()) e.rate = Math.round((e.flows / windowSec) * 100) / 100;
  return { seq, nodes: [...nodes.values()], edges: [...edges.values()], windowSec };
}

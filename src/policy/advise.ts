// Least-privilege advice from observed flows: one NetworkPolicy per workload (Ingress + Egress)
// that allows exactly the peers and ports seen, plus DNS (port 53) egress so name lookups keep
// working (the agent does not observe UDP). Union semantics mean adding these policies can only
// deny traffic that the flows never showed.
import { stringify } from 'yaml';
import type { FlowEnd, ObservedFlow } from './flows';
import { NAMESPACE_NAME_LABEL } from './types';

const PREFERRED = ['app.kubernetes.io/name', 'app', 'k8s-app', 'name'];
const VOLATILE = new Set(['pod-template-hash', 'controller-revision-hash', 'statefulset.kubernetes.io/pod-name', 'pod-template-generation']);

interface Workload { namespace: string; name: string; selector: Record<string, string> }
interface Sides { ingress: Map<string, { peer: Record<string, unknown>; ports: Set<string> }>; egress: Map<string, { peer: Record<string, unknown>; ports: Set<string> }> }

/** The labels that select a workload's pods: a well-known app label if there is one, else all stable labels. */
export function workloadSelector(labels: Record<string, string>): Record<string, string> {
  for (const k of PREFERRED) if (labels[k] !== undefined) return { [k]: labels[k] as string };
  return Object.fromEntries(Object.entries(labels).filter(([k]) => !VOLATILE.has(k)).sort(([a], [b]) => a.localeCompare(b)));
}

function workloadOf(e: FlowEnd): Workload | undefined {
  if (!e.namespace || !e.pod || !e.labels || Object.keys(e.labels).length === 0) return undefined;
  return { namespace: e.namespace, name: e.workload ?? e.pod, selector: workloadSelector(e.labels) };
}

function peerOf(e: FlowEnd, policyNs: string): { key: string; peer: Record<string, unknown> } {
  const w = workloadOf(e);
  if (!w) return { key: `ip:${e.ip}`, peer: { ipBlock: { cidr: `${e.ip}/${e.ip.includes(':') ? 128 : 32}` } } };
  const podSelector = { matchLabels: w.selector };
  const peer = w.namespace === policyNs ? { podSelector } : { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: w.namespace } }, podSelector };
  return { key: `pod:${w.namespace}/${JSON.stringify(w.selector)}`, peer };
}

function add(side: Sides['ingress'], p: { key: string; peer: Record<string, unknown> }, port: string): void {
  const e = side.get(p.key) ?? { peer: p.peer, ports: new Set<string>() };
  e.ports.add(port);
  side.set(p.key, e);
}

function rules(side: Sides['ingress'], peerKey: 'from' | 'to'): Record<string, unknown>[] {
  const byPorts = new Map<string, { peers: Record<string, unknown>[]; ports: string[] }>();
  for (const k of [...side.keys()].sort()) {
    const e = side.get(k) as { peer: Record<string, unknown>; ports: Set<string> };
    const ports = [...e.ports].sort();
    const g = byPorts.get(ports.join(',')) ?? { peers: [], ports };
    g.peers.push(e.peer);
    byPorts.set(ports.join(','), g);
  }
  return [...byPorts.values()].map((g) => ({
    [peerKey]: g.peers,
    ports: g.ports.map((p) => { const [protocol, port] = p.split('/'); return { protocol, port: Number(port) }; }),
  }));
}

export interface Advice { namespace: string; name: string; workload: string; flows: number; policy: Record<string, unknown> }

export function advise(flows: ObservedFlow[], namespace?: string): Advice[] {
  const work = new Map<string, { w: Workload; sides: Sides; flows: number }>();
  const entry = (w: Workload) => {
    const k = `${w.namespace}/${JSON.stringify(w.selector)}`;
    let e = work.get(k);
    if (!e) { e = { w, sides: { ingress: new Map(), egress: new Map() }, flows: 0 }; work.set(k, e); }
    return e;
  };
  for (const f of flows) {
    if (f.verdict === 'DROPPED' || f.verdict === 'ERROR') continue;
    const port = `${f.protocol}/${f.port}`;
    const dst = workloadOf(f.dst);
    const src = workloadOf(f.src);
    if (dst) { const e = entry(dst); e.flows++; add(e.sides.ingress, peerOf(f.src, dst.namespace), port); }
    if (src) { const e = entry(src); e.flows++; add(e.sides.egress, peerOf(f.dst, src.namespace), port); }
  }
  return [...work.values()].filter((e) => namespace === undefined || e.w.namespace === namespace)
    .sort((a, b) => `${a.w.namespace}/${a.w.name}`.localeCompare(`${b.w.namespace}/${b.w.name}`))
    .map(({ w, sides, flows: n }) => {
      const name = `flowlens-advice-${w.name}`.slice(0, 253).replace(/[^a-z0-9.-]/g, '-').replace(/-+$/, '');
      const dns = { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] };
      const policy = {
        apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
        metadata: { name, namespace: w.namespace, labels: { 'app.kubernetes.io/managed-by': 'flowlens-advise' } },
        spec: { podSelector: { matchLabels: w.selector }, policyTypes: ['Ingress', 'Egress'], ingress: rules(sides.ingress, 'from'), egress: [...rules(sides.egress, 'to'), dns] },
      };
      return { namespace: w.namespace, name, workload: w.name, flows: n, policy };
    });
}

export function adviceYaml(list: Advice[], totalFlows: number): string {
  const docs = list.map((a) => `# ${a.namespace}/${a.workload}: least privilege from ${a.flows} of ${totalFlows} observed flows (+ DNS egress on port 53)\n${stringify(a.policy)}`);
  return docs.join('---\n');
}

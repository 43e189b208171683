// Compiles policies into per-pod allow lists for a packet filter: for each pod and direction,
// undefined (not isolated) or the entries that allow traffic (addresses x ports), everything else
// dropped. Same semantics as match.ts: selectors become the matched pods' addresses, ipBlock
// except is subtracted into plain CIDRs, named ports resolve against the destination pod.
import { formatCidr, parseCidr, subtractCidrs } from './cidr';
import { ipBlockMatches } from './match';
import { namespaceLabels } from './resolve';
import { selectorMatches } from './selector';
import type { Cluster, Direction, Peer, Pod, Policy, PortSpec, Protocol, Rule } from './types';
import { policyKey } from './types';

export interface CompiledPort { protocol: Protocol; port?: number; endPort?: number }

export interface AllowEntry {
  /** Peer addresses (CIDRs); undefined = any address. */
  cidrs?: string[];
  /** undefined = every protocol and port. */
  ports?: CompiledPort[];
  policy: string;
  ruleIndex: number;
}

export interface PodEnforcement {
  pod: Pod;
  ingress?: AllowEntry[];
  egress?: AllowEntry[];
  /** Policies that isolate the pod, per direction (for comments and drop attribution). */
  isolatedBy: Record<Direction, string[]>;
}

function hostCidr(ip: string): string {
  return `${ip}/${ip.includes(':') ? 128 : 32}`;
}

function peerPods(peer: Peer, policyNs: string, pods: Pod[], nsLabels: (ns: string) => Record<string, string>): Pod[] {
  return pods.filter((p) => {
    if (p.hostNetwork || p.ips.length === 0) return false;
    if (peer.ipBlock) return p.ips.some((ip) => ipBlockMatches(peer.ipBlock as NonNullable<Peer['ipBlock']>, ip));
    if (peer.namespaceSelector ? !selectorMatches(peer.namespaceSelector, nsLabels(p.namespace)) : p.namespace !== policyNs) return false;
    return !peer.podSelector || selectorMatches(peer.podSelector, p.labels);
  });
}

function peerCidrs(peer: Peer, policyNs: string, pods: Pod[], nsLabels: (ns: string) => Record<string, string>): string[] {
  if (peer.ipBlock) {
    const block = parseCidr(peer.ipBlock.cidr);
    if (!block) return [];
    return subtractCidrs(block, peer.ipBlock.except.map(parseCidr).filter((c) => c !== undefined)).map(formatCidr);
  }
  return peerPods(peer, policyNs, pods, nsLabels).flatMap((p) => p.ips.map(hostCidr));
}

function numericPorts(ports: PortSpec[]): CompiledPort[] {
  return ports.filter((p) => typeof p.port !== 'string').map((p) => ({ protocol: p.protocol, ...(p.port !== undefined ? { port: p.port as number } : {}), ...(p.endPort !== undefined ? { endPort: p.endPort } : {}) }));
}

function namedPorts(ports: PortSpec[], dst: Pod): CompiledPort[] {
  return ports.filter((p) => typeof p.port === 'string').flatMap((p) => dst.ports.filter((c) => c.name === p.port && c.protocol === p.protocol).map((c) => ({ protocol: p.protocol, port: c.containerPort })));
}

interface Ctx { pods: Pod[]; nsLabels: (ns: string) => Record<string, string> }

function compileRule(rule: Rule, ruleIndex: number, policy: Policy, dir: Direction, subject: Pod, ctx: Ctx): AllowEntry[] {
  const base = { policy: policyKey(policy), ruleIndex };
  const cidrs = rule.peers.length === 0 ? undefined : [...new Set(rule.peers.flatMap((p) => peerCidrs(p, policy.namespace, ctx.pods, ctx.nsLabels)))];
  if (rule.ports.length === 0) return cidrs?.length === 0 ? [] : [{ ...base, cidrs }];
  const out: AllowEntry[] = [];
  const numeric = numericPorts(rule.ports);
  if (numeric.length > 0 && cidrs?.length !== 0) out.push({ ...base, cidrs, ports: numeric });
  if (numeric.length === rule.ports.length) return out;
  if (dir === 'ingress') {
    const named = namedPorts(rule.ports, subject);
    if (named.length > 0 && cidrs?.length !== 0) out.push({ ...base, cidrs, ports: named });
    return out;
  }
  // egress: a named port is the destination pod's; every pod the peers match gets its own entry
  const dsts = rule.peers.length === 0 ? ctx.pods.filter((p) => !p.hostNetwork && p.ips.length > 0) : [...new Set(rule.peers.flatMap((p) => peerPods(p, policy.namespace, ctx.pods, ctx.nsLabels)))];
  for (const d of dsts) {
    const named = namedPorts(rule.ports, d);
    if (named.length > 0) out.push({ ...base, cidrs: d.ips.map(hostCidr), ports: named });
  }
  return out;
}

function compileSide(pod: Pod, dir: Direction, selecting: Policy[], ctx: Ctx): AllowEntry[] | undefined {
  if (selecting.length === 0) return undefined;
  return selecting.flatMap((p) => p[dir].flatMap((r, i) => compileRule(r, i, p, dir, pod, ctx)));
}

/** Per-pod allow lists for every non-host-network pod (isolated or not). */
export function compileCluster(cluster: Cluster, only?: (pod: Pod) => boolean): PodEnforcement[] {
  const ctx: Ctx = { pods: cluster.pods, nsLabels: namespaceLabels(cluster.namespaces) };
  const out: PodEnforcement[] = [];
  for (const pod of cluster.pods) {
    if (pod.hostNetwork || (only && !only(pod))) continue;
    const sel = (dir: Direction) => cluster.policies.filter((p) => p.namespace === pod.namespace && p.types[dir] && selectorMatches(p.podSelector, pod.labels));
    const ing = sel('ingress');
    const egr = sel('egress');
    out.push({ pod, ingress: compileSide(pod, 'ingress', ing, ctx), egress: compileSide(pod, 'egress', egr, ctx), isolatedBy: { ingress: ing.map(policyKey), egress: egr.map(policyKey) } });
  }
  return out;
}

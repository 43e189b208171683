// The indexed policy engine. Policies are indexed by namespace and by one matchLabels pair of
// their podSelector, so finding the policies that select a pod looks at a few buckets, not every
// policy. Pods collapse into identities (namespace + labels + named ports); selector matches are
// memoized per (selector, label set), and each direction's verdict is cached per
// (subject identity, peer identity [+ address when an ipBlock could matter], port, protocol).
import { directionVerdict, loopbackVerdict, NOT_A_POD } from './match';
import type { Connection, Matcher, Other } from './match';
import { clusterIndexes, namedPortsOf, resolveEndpoint } from './resolve';
import type { Resolved } from './resolve';
import { labelsKey, SelectorCache } from './selector';
import type { Cluster, Direction, DirectionVerdict, Pod, Policy, Query, Selector, Verdict } from './types';

interface Identity {
  id: number;
  namespace: string;
  labels: Record<string, string>;
  nsLabels: Record<string, string>;
  other: NonNullable<Other['pod']>;
  named: Connection['named'];
  selecting: Record<Direction, Policy[]>;
  /** Some selecting policy has an ipBlock peer: the peer's address matters, not only its identity. */
  ipBlocks: Record<Direction, boolean>;
}

interface NsIndex { byLabel: Map<string, Policy[]>; rest: Policy[] }

export interface EngineStats { identities: number; cached: number; hits: number; misses: number }

function hasIpBlock(policies: Policy[], dir: Direction): boolean {
  return policies.some((p) => p[dir].some((r) => r.peers.some((x) => x.ipBlock !== undefined)));
}

function indexPolicies(policies: Policy[]): Map<string, NsIndex> {
  const out = new Map<string, NsIndex>();
  for (const p of policies) {
    let idx = out.get(p.namespace);
    if (!idx) { idx = { byLabel: new Map(), rest: [] }; out.set(p.namespace, idx); }
    const first = Object.keys(p.podSelector.matchLabels).sort()[0];
    if (first === undefined) { idx.rest.push(p); continue; }
    const k = `${first}=${p.podSelector.matchLabels[first]}`;
    const bucket = idx.byLabel.get(k);
    if (bucket) bucket.push(p); else idx.byLabel.set(k, [p]);
  }
  return out;
}

export class PolicyEngine {
  private readonly idx: ReturnType<typeof clusterIndexes>;
  private readonly byNs: Map<string, NsIndex>;
  private readonly order = new Map<Policy, number>();
  private readonly selectors = new SelectorCache();
  private readonly selIds = new WeakMap<Selector, number>();
  private readonly labelIds = new WeakMap<Record<string, string>, number>();
  private readonly identities = new Map<string, Identity>();
  private readonly podIdentity = new WeakMap<Pod, Identity>();
  private readonly cache = new Map<string, DirectionVerdict>();
  private hits = 0;
  private misses = 0;
  private readonly matcher: Matcher = {
    matches: (sel, labels) => {
      let s = this.selIds.get(sel);
      if (s === undefined) { s = this.selectors.selectorId(sel); this.selIds.set(sel, s); }
      let l = this.labelIds.get(labels);
      if (l === undefined) { l = this.selectors.labelsId(labels); this.labelIds.set(labels, l); }
      return this.selectors.matches(s, l);
    },
  };

  constructor(readonly cluster: Cluster, private readonly maxCached = 2_000_000) {
    this.idx = clusterIndexes(cluster);
    this.byNs = indexPolicies(cluster.policies);
    cluster.policies.forEach((p, i) => this.order.set(p, i));
  }

  podByIP(ip: string): Pod | undefined {
    return this.idx.byIP.get(ip);
  }

  /** The policies that select this pod for a direction (host-network pods: none). */
  selecting(pod: Pod, dir: Direction): Policy[] {
    return pod.hostNetwork ? [] : this.identity(pod).selecting[dir];
  }

  stats(): EngineStats {
    return { identities: this.identities.size, cached: this.cache.size, hits: this.hits, misses: this.misses };
  }

  verdict(q: Query): Verdict {
    const from = resolveEndpoint(q.from, this.idx.byIP);
    const to = resolveEndpoint(q.to, this.idx.byIP);
    if (from.pod && from.pod === to.pod) return loopbackVerdict(q.port, q.protocol);
    const src = from.pod ? this.identity(from.pod) : undefined;
    const dst = to.pod ? this.identity(to.pod) : undefined;
    const egress = src ? this.side(src, 'egress', to, dst, q) : NOT_A_POD;
    const ingress = dst ? this.side(dst, 'ingress', from, src, q) : NOT_A_POD;
    return { allowed: egress.allowed && ingress.allowed, port: q.port, protocol: q.protocol, egress, ingress };
  }

  private side(subject: Identity, dir: Direction, other: Resolved, otherId: Identity | undefined, q: Query): DirectionVerdict {
    const selecting = subject.selecting[dir];
    if (selecting.length === 0) return NOT_ISOLATED;
    const withIP = subject.ipBlocks[dir];
    const peer = otherId ? (withIP ? `${otherId.id}@${other.ip}` : `${otherId.id}`) : (withIP ? `@${other.ip}` : '@');
    const key = `${dir === 'egress' ? 'e' : 'i'}${subject.id}|${peer}|${q.port}|${q.protocol}`;
    const hit = this.cache.get(key);
    if (hit) { this.hits++; return hit; }
    this.misses++;
    const named = dir === 'ingress' ? subject.named : otherId?.named;
    const v = directionVerdict(selecting, dir, { other: otherId ? { ip: other.ip, pod: otherId.other } : { ip: other.ip }, port: q.port, protocol: q.protocol, named }, this.matcher);
    if (this.cache.size >= this.maxCached) this.cache.clear();
    this.cache.set(key, v);
    return v;
  }

  private identity(pod: Pod): Identity {
    const known = this.podIdentity.get(pod);
    if (known) return known;
    const namedKey = pod.ports.filter((p) => p.name).map((p) => `${p.name}/${p.protocol}/${p.containerPort}`).sort().join(',');
    const key = `${pod.namespace}\0${labelsKey(pod.labels)}\0${namedKey}`;
    let idn = this.identities.get(key);
    if (!idn) {
      const nsLabels = this.idx.nsLabels(pod.namespace);
      const selecting = { ingress: this.select(pod, 'ingress'), egress: this.select(pod, 'egress') };
      idn = {
        id: this.identities.size, namespace: pod.namespace, labels: pod.labels, nsLabels, other: { namespace: pod.namespace, labels: pod.labels, nsLabels },
        named: namedPortsOf(pod), selecting, ipBlocks: { ingress: hasIpBlock(selecting.ingress, 'ingress'), egress: hasIpBlock(selecting.egress, 'egress') },
      };
      this.identities.set(key, idn);
    }
    this.podIdentity.set(pod, idn);
    return idn;
  }

  private select(pod: Pod, dir: Direction): Policy[] {
    const idx = this.byNs.get(pod.namespace);
    if (!idx) return [];
    const candidates = [...idx.rest];
    for (const k in pod.labels) {
      const bucket = idx.byLabel.get(`${k}=${pod.labels[k]}`);
      if (bucket) candidates.push(...bucket);
    }
    return candidates.filter((p) => p.types[dir] && this.matcher.matches(p.podSelector, pod.labels))
      .sort((a, b) => (this.order.get(a) ?? 0) - (this.order.get(b) ?? 0));
  }
}

const NOT_ISOLATED: DirectionVerdict = Object.freeze({ evaluated: true, isolated: false, allowed: true, allowedBy: [], deniedBy: [] }) as DirectionVerdict;

// The indexed policy engine. Policies are indexed by namespace and by one matchLabels pair of
// their podSelector, so finding the policies that select a pod looks at a few buckets, not every
// policy. Pods collapse into identities (namespace + labels + named ports); selector matches are
// memoized per (selector, label set), and each direction's verdict is cached per
// (subject identity, peer identity [+ address when an ipBlock could matter], port, protocol).
import { directionVerdict, loopbackVerdict, NOT_A_POD } from './match';
import type { Connection, Matcher, Other } from './match';
import { clusterIndexes, namedPortsOf } from './resolve';
import { labelsKey, SelectorCache } from './selector';
import type { Cluster, Direction, DirectionVerdict, EndpointRef, Pod, Policy, Query, Selector, Verdict } from './types';

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
  /** Verdicts with this identity as the subject: key = peer * 2^18 + port * 4 + protocol. */
  cache: Record<Direction, Map<number, DirectionVerdict>>;
}

const PROTO: Record<string, number> = { TCP: 0, UDP: 1, SCTP: 2 };
/** Peer keys for "address matters" peers start here (identity peers are id + 1, bare addresses 0). */
const ADDRESS_PEERS = 1 << 22;

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
  private readonly addressPeers = new Map<Identity | undefined, Map<string, number>>();
  private addressPeerCount = 0;
  private cached = 0;
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
    return { identities: this.identities.size, cached: this.cached, hits: this.hits, misses: this.misses };
  }

  verdict(q: Query): Verdict {
    const fromPod = this.podOf(q.from);
    const toPod = this.podOf(q.to);
    if (fromPod && fromPod === toPod) return loopbackVerdict(q.port, q.protocol);
    const fromIP = q.from.ip ?? fromPod?.ips[0] ?? '';
    const toIP = q.to.ip ?? toPod?.ips[0] ?? '';
    const src = fromPod ? this.identity(fromPod) : undefined;
    const dst = toPod ? this.identity(toPod) : undefined;
    const egress = src ? this.side(src, 'egress', toIP, dst, q) : NOT_A_POD;
    const ingress = dst ? this.side(dst, 'ingress', fromIP, src, q) : NOT_A_POD;
    return { allowed: egress.allowed && ingress.allowed, port: q.port, protocol: q.protocol, egress, ingress };
  }

  /** Like resolveEndpoint (resolve.ts), without allocating. */
  private podOf(ref: EndpointRef): Pod | undefined {
    if ('pod' in ref) return ref.pod.hostNetwork ? undefined : ref.pod;
    return this.idx.byIP.get(ref.ip);
  }

  private side(subject: Identity, dir: Direction, otherIP: string, otherId: Identity | undefined, q: Query): DirectionVerdict {
    const selecting = subject.selecting[dir];
    if (selecting.length === 0) return NOT_ISOLATED;
    const peer = subject.ipBlocks[dir] ? this.addressPeer(otherId, otherIP) : otherId ? otherId.id + 1 : 0;
    const key = peer * 262144 + q.port * 4 + (PROTO[q.protocol] ?? 3);
    const cache = subject.cache[dir];
    const hit = cache.get(key);
    if (hit) { this.hits++; return hit; }
    this.misses++;
    const named = dir === 'ingress' ? subject.named : otherId?.named;
    const v = directionVerdict(selecting, dir, { other: otherId ? { ip: otherIP, pod: otherId.other } : { ip: otherIP }, port: q.port, protocol: q.protocol, named }, this.matcher);
    if (this.cached >= this.maxCached) this.clearCaches();
    cache.set(key, v);
    this.cached++;
    return v;
  }

  private addressPeer(otherId: Identity | undefined, ip: string): number {
    let byIP = this.addressPeers.get(otherId);
    if (!byIP) { byIP = new Map(); this.addressPeers.set(otherId, byIP); }
    let id = byIP.get(ip);
    if (id === undefined) { id = ADDRESS_PEERS + this.addressPeerCount++; byIP.set(ip, id); }
    return id;
  }

  private clearCaches(): void {
    for (const idn of this.identities.values()) { idn.cache.ingress.clear(); idn.cache.egress.clear(); }
    this.addressPeers.clear();
    this.addressPeerCount = 0;
    this.cached = 0;
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
        cache: { ingress: new Map(), egress: new Map() },
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

// The semantics core shared by the indexed engine and the linear reference evaluator: does a
// rule's peer and port match one connection, and the per-direction verdict from the policies
// that select the pod. Selector matching is injected so the engine can memoize it.
import { cidrContains, parseCidr, parseIP } from './cidr';
import type { Cidr } from './cidr';
import type { Direction, DirectionVerdict, IPBlock, Peer, Policy, PolicyRef, PortSpec, Protocol, Rule, RuleMatch, Selector, Verdict } from './types';
import { policyKey } from './types';

/** The other end of the connection, seen from the pod a policy selects. */
export interface Other {
  /** Set when the other end is a (non-host-network) pod. */
  pod?: { namespace: string; labels: Record<string, string>; nsLabels: Record<string, string> };
  ip: string;
}

/** The destination pod's container ports, for named ports (undefined: the destination is not a pod). */
export type NamedPorts = ((name: string, protocol: Protocol) => number[]) | undefined;

export interface Matcher {
  /** pod labels / namespace labels against a selector */
  matches(sel: Selector, labels: Record<string, string>): boolean;
}

const cidrCache = new Map<string, Cidr | undefined>();
const ipCache = new Map<string, { v6: boolean; value: bigint } | undefined>();

function cachedCidr(text: string): Cidr | undefined {
  if (!cidrCache.has(text)) cidrCache.set(text, parseCidr(text));
  return cidrCache.get(text);
}

function cachedIP(text: string): { v6: boolean; value: bigint } | undefined {
  if (ipCache.size > 100_000) ipCache.clear();
  if (!ipCache.has(text)) ipCache.set(text, parseIP(text));
  return ipCache.get(text);
}

/** ipBlock matches by address, for pods and non-pods alike; `except` carves holes. */
export function ipBlockMatches(block: IPBlock, ip: string): boolean {
  const addr = cachedIP(ip);
  const cidr = cachedCidr(block.cidr);
  if (!addr || !cidr || !cidrContains(cidr, addr)) return false;
  return !block.except.some((e) => { const c = cachedCidr(e); return c !== undefined && cidrContains(c, addr); });
}

export function peerMatches(peer: Peer, policyNs: string, other: Other, m: Matcher): boolean {
  if (peer.ipBlock) return ipBlockMatches(peer.ipBlock, other.ip);
  const pod = other.pod;
  if (!pod) return false; // selectors only ever select pods
  if (peer.namespaceSelector) {
    if (!m.matches(peer.namespaceSelector, pod.nsLabels)) return false;
  } else if (pod.namespace !== policyNs) return false; // podSelector alone: the policy's namespace
  return peer.podSelector === undefined || m.matches(peer.podSelector, pod.labels);
}

export function portMatches(spec: PortSpec, port: number, protocol: Protocol, named: NamedPorts): boolean {
  if (spec.protocol !== protocol) return false;
  if (spec.port === undefined) return true;
  if (typeof spec.port === 'number') return spec.endPort === undefined ? port === spec.port : port >= spec.port && port <= spec.endPort;
  return named !== undefined && named(spec.port, protocol).includes(port);
}

function firstIndex<T>(list: T[], pred: (x: T) => boolean): number | null | undefined {
  if (list.length === 0) return null; // empty = all
  const i = list.findIndex(pred);
  return i < 0 ? undefined : i;
}

export interface Connection { other: Other; port: number; protocol: Protocol; named: NamedPorts }

/** The first matching peer and port of a rule, or undefined when the rule does not match. */
export function ruleMatches(rule: Rule, policyNs: string, c: Connection, m: Matcher): { peerIndex: number | null; portIndex: number | null } | undefined {
  const portIndex = firstIndex(rule.ports, (p) => portMatches(p, c.port, c.protocol, c.named));
  if (portIndex === undefined) return undefined;
  const peerIndex = firstIndex(rule.peers, (p) => peerMatches(p, policyNs, c.other, m));
  if (peerIndex === undefined) return undefined;
  return { peerIndex, portIndex };
}

export function policyRef(p: Policy): PolicyRef {
  return { policy: policyKey(p), namespace: p.namespace, name: p.name, ...(p.source ? { range: p.source.range } : {}) };
}

/** The verdict for one direction, given every policy that selects the pod for that direction. */
export function directionVerdict(selecting: Policy[], dir: Direction, c: Connection, m: Matcher): DirectionVerdict {
  if (selecting.length === 0) return { evaluated: true, isolated: false, allowed: true, allowedBy: [], deniedBy: [] };
  const allowedBy: RuleMatch[] = [];
  for (const p of selecting) {
    const rules = p[dir];
    for (let i = 0; i < rules.length; i++) {
      const hit = ruleMatches(rules[i] as Rule, p.namespace, c, m);
      if (!hit) continue;
      const range = p.source?.[dir][i];
      allowedBy.push({ policy: policyKey(p), namespace: p.namespace, name: p.name, ruleIndex: i, ...hit, ...(range ? { range } : {}) });
    }
  }
  const allowed = allowedBy.length > 0;
  return { evaluated: true, isolated: true, allowed, allowedBy, deniedBy: allowed ? [] : selecting.map(policyRef) };
}

export const NOT_A_POD: DirectionVerdict = Object.freeze({ evaluated: false, isolated: false, allowed: true, allowedBy: [], deniedBy: [] }) as DirectionVerdict;

/** A pod talking to itself (its own address) never leaves it: no policy applies (see docs/POLICY.md). */
export const LOOPBACK: DirectionVerdict = Object.freeze({ evaluated: false, isolated: false, allowed: true, allowedBy: [], deniedBy: [], reason: 'loopback' }) as DirectionVerdict;

export function loopbackVerdict(port: number, protocol: Verdict['protocol']): Verdict {
  return { allowed: true, port, protocol, egress: LOOPBACK, ingress: LOOPBACK };
}

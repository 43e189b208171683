// Shared by the engine and the linear evaluator: namespace labels, pods by IP, and the two ends
// of a query resolved to "pod (policies may select it)" or "bare address".
import type { Cluster, EndpointRef, Namespace, Pod, Protocol } from './types';
import { NAMESPACE_NAME_LABEL } from './types';

export interface Resolved { pod?: Pod; ip: string }

/** Namespace labels, with kubernetes.io/metadata.name always set (the API server sets it). */
export function namespaceLabels(namespaces: Namespace[]): (ns: string) => Record<string, string> {
  const map = new Map<string, Record<string, string>>();
  for (const n of namespaces) map.set(n.name, { ...n.labels, [NAMESPACE_NAME_LABEL]: n.name });
  return (ns) => {
    let l = map.get(ns);
    if (!l) { l = { [NAMESPACE_NAME_LABEL]: ns }; map.set(ns, l); }
    return l;
  };
}

/** Non-host-network pods by each of their IPs (host-network pods share the node's address). */
export function podIPIndex(pods: Pod[]): Map<string, Pod> {
  const m = new Map<string, Pod>();
  for (const p of pods) if (!p.hostNetwork) for (const ip of p.ips) m.set(ip, p);
  return m;
}

export function resolveEndpoint(ref: EndpointRef, byIP: Map<string, Pod>): Resolved {
  if ('pod' in ref) {
    const ip = ref.ip ?? ref.pod.ips[0] ?? '';
    return ref.pod.hostNetwork ? { ip } : { pod: ref.pod, ip };
  }
  const pod = byIP.get(ref.ip);
  return pod ? { pod, ip: ref.ip } : { ip: ref.ip };
}

/** Container ports of `pod` with this name and protocol. */
export function namedPortsOf(pod: Pod): (name: string, protocol: Protocol) => number[] {
  return (name, protocol) => pod.ports.filter((p) => p.name === name && p.protocol === protocol).map((p) => p.containerPort);
}

export function clusterIndexes(c: Cluster): { nsLabels: (ns: string) => Record<string, string>; byIP: Map<string, Pod> } {
  return { nsLabels: namespaceLabels(c.namespaces), byIP: podIPIndex(c.pods) };
}

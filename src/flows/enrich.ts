// Identity enrichment shared by the agent (its own node's pods) and clients (the whole cluster):
// fills source/destination endpoints from pods and destination_service from Service VIPs.
import type { KubeObject } from '../sandbox/apiserver/types';
import { type Endpoint, type Flow, type Workload, labelStrings } from './flow';

export interface IdentityIndex {
  podByIP(ip: string): KubeObject | undefined;
  serviceByClusterIP?(ip: string): KubeObject | undefined;
}

export function workloadsOf(pod: KubeObject): Workload[] {
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  if (!owner) return [];
  if (owner.kind === 'ReplicaSet') {
    const hash = pod.metadata.labels?.['pod-template-hash'];
    if (hash && owner.name.endsWith(`-${hash}`)) return [{ name: owner.name.slice(0, -hash.length - 1), kind: 'Deployment' }];
  }
  return [{ name: owner.name, kind: owner.kind }];
}

export function endpointOf(pod: KubeObject): Endpoint {
  const ns = pod.metadata.namespace ?? 'default';
  const wl = workloadsOf(pod);
  return { namespace: ns, pod_name: pod.metadata.name, labels: labelStrings(pod.metadata.labels, ns), ...(wl.length ? { workloads: wl } : {}) };
}

/** Fills what the index knows and the flow lacks; never overwrites what is already set. */
export function enrichFlow(flow: Flow, index: IdentityIndex): Flow {
  if (!flow.source.pod_name) {
    const p = index.podByIP(flow.IP.source);
    if (p) flow.source = { ...endpointOf(p), ...flow.source };
  }
  if (!flow.destination.pod_name) {
    const p = index.podByIP(flow.IP.destination);
    if (p) flow.destination = { ...endpointOf(p), ...flow.destination };
  }
  if (!flow.destination_service && index.serviceByClusterIP) {
    const vip = flow.extensions?.original_destination?.ip ?? flow.IP.destination;
    const svc = index.serviceByClusterIP(vip);
    if (svc) flow.destination_service = { name: svc.metadata.name, namespace: svc.metadata.namespace ?? 'default' };
  }
  return flow;
}

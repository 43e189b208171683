// Identity enrichment shared by the agent (its own node's pods) and clients (the whole cluster):
// fills source/destination endpoints from pods and destination_service from Service VIPs. The
// objects it sets are shared between flows and frozen: nobody may write into them.
import type { KubeObject } from '../sandbox/apiserver/types';
import { type Endpoint, type Flow, type Service, type Workload, labelStrings } from './flow';

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

// One endpoint per pod object, shared (frozen) by all of its flows: a node keeps tens of
// thousands of flows, most between a few pods, and the label strings are the bulk of an endpoint.
// Informers replace the object of a changed pod, so a WeakMap keyed by it never goes stale.
const shared = new WeakMap<KubeObject, Endpoint>();

function sharedEndpoint(pod: KubeObject): Endpoint {
  let ep = shared.get(pod);
  if (!ep) {
    const e = endpointOf(pod);
    Object.freeze(e.labels);
    if (e.workloads) for (const w of Object.freeze(e.workloads)) Object.freeze(w);
    shared.set(pod, (ep = Object.freeze(e)));
  }
  return ep;
}

// The same for a Service: most flows through a VIP would each carry their own {name, namespace}.
const sharedServices = new WeakMap<KubeObject, Service>();

function sharedService(svc: KubeObject): Service {
  let s = sharedServices.get(svc);
  if (!s) sharedServices.set(svc, (s = Object.freeze({ name: svc.metadata.name, namespace: svc.metadata.namespace ?? 'default' })));
  return s;
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/** `current` completed from the pod: the shared endpoint when nothing is known yet. */
function withPod(current: Endpoint, pod: KubeObject): Endpoint {
  return isEmpty(current) ? sharedEndpoint(pod) : { ...sharedEndpoint(pod), ...current };
}

/**
 * Fills what the index knows and the flow lacks; never overwrites what is already set. Replaces
 * `flow.source` / `flow.destination` rather than writing into them: endpoints may be shared
 * between flows (and frozen), so nobody may write into them.
 */
export function enrichFlow(flow: Flow, index: IdentityIndex): Flow {
  if (!flow.source.pod_name) {
    const p = index.podByIP(flow.IP.source);
    if (p) flow.source = withPod(flow.source, p);
  }
  if (!flow.destination.pod_name) {
    const p = index.podByIP(flow.IP.destination);
    if (p) flow.destination = withPod(flow.destination, p);
  }
  if (!flow.destination_service && index.serviceByClusterIP) {
    const vip = flow.extensions?.original_destination?.ip ?? flow.IP.destination;
    const svc = index.serviceByClusterIP(vip);
    if (svc) flow.destination_service = sharedService(svc);
  }
  return flow;
}

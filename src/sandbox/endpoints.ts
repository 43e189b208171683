// Pure service logic: selected pods -> EndpointSlice (discovery.k8s.io/v1), and EndpointSlices ->
// the kube-proxy rule input. Target ports resolve by name or number against containerPorts.
import type { KubeObject } from './apiserver/types';
import type { Protocol, ServicePortRule } from './net/iptables';
import { matchLabels, podReady } from './workloads';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';

interface ServicePort { name?: string; protocol?: Protocol; port: number; targetPort?: number | string; nodePort?: number }
interface ContainerPort { name?: string; containerPort: number; protocol?: Protocol }

function containerPorts(pod: KubeObject): ContainerPort[] {
  return (pod.spec?.containers ?? []).flatMap((c: { ports?: ContainerPort[] }) => c.ports ?? []);
}

/** The pod port a service port targets, or undefined when a named port does not exist on the pod. */
export function resolveTargetPort(sp: ServicePort, pod: KubeObject): number | undefined {
  const t = sp.targetPort ?? sp.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  const proto = sp.protocol ?? 'TCP';
  return containerPorts(pod).find((p) => p.name === t && (p.protocol ?? 'TCP') === proto)?.containerPort;
}

export function selectedPods(svc: KubeObject, pods: KubeObject[]): KubeObject[] {
  const selector = svc.spec?.selector as Record<string, string> | undefined;
  return pods.filter((p) => p.metadata.namespace === svc.metadata.namespace && p.status?.podIP && !p.metadata.deletionTimestamp && matchLabels(selector, p.metadata.labels));
}

/**
 * The EndpointSlice for a selector service. One slice per service (ports resolved per pod; pods whose
 * named port resolves differently would need more slices: the first resolution wins, like a simplification).
 */
export function buildEndpointSlice(svc: KubeObject, pods: KubeObject[]): KubeObject {
  const ports: ServicePort[] = svc.spec?.ports ?? [];
  const sel = selectedPods(svc, pods).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const slicePorts = ports.map((sp) => {
    const resolved = sel.map((p) => resolveTargetPort(sp, p)).find((n) => n !== undefined);
    return { name: sp.name ?? '', protocol: sp.protocol ?? 'TCP', port: resolved ?? null };
  });
  const endpoints = sel.map((p) => {
    const ready = podReady(p);
    return {
      addresses: [p.status.podIP as string],
      conditions: { ready, serving: ready, terminating: false },
      nodeName: p.spec?.nodeName,
      targetRef: { kind: 'Pod', namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid },
    };
  });
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${svc.metadata.name}-fl`,
      namespace: svc.metadata.namespace,
      labels: { [SERVICE_NAME_LABEL]: svc.metadata.name, [MANAGED_BY_LABEL]: MANAGED_BY },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, uid: svc.metadata.uid ?? '', controller: true }],
    },
    addressType: 'IPv4',
    endpoints,
    ports: slicePorts,
  };
}

/** kube-proxy input: for each service port, the ready endpoints from the service's slices. */
export function servicePortRules(services: KubeObject[], slices: KubeObject[]): ServicePortRule[] {
  const out: ServicePortRule[] = [];
  for (const svc of services) {
    const ip = svc.spec?.clusterIP as string | undefined;
    if (!ip || ip === 'None') continue;
    const mine = slices.filter((s) => s.metadata.namespace === svc.metadata.namespace && s.metadata.labels?.[SERVICE_NAME_LABEL] === svc.metadata.name);
    const affinity = svc.spec?.sessionAffinity === 'ClientIP' ? (svc.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800) : undefined;
    for (const sp of (svc.spec?.ports ?? []) as ServicePort[]) {
      const protocol = sp.protocol ?? 'TCP';
      const endpoints = mine.flatMap((slice) => {
        const port = ((slice.ports ?? []) as { name?: string; protocol?: string; port?: number | null }[])
          .find((p) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP') === protocol)?.port;
        if (!port) return [];
        return ((slice.endpoints ?? []) as { addresses: string[]; conditions?: { ready?: boolean } }[])
          .filter((e) => e.conditions?.ready !== false)
          .map((e) => ({ ip: e.addresses[0] ?? '', port }));
      });
      out.push({
        namespace: svc.metadata.namespace ?? 'default', name: svc.metadata.name, portName: sp.name ?? '', protocol, clusterIP: ip,
        port: sp.port, nodePort: svc.spec?.type === 'NodePort' || svc.spec?.type === 'LoadBalancer' ? sp.nodePort : undefined,
        affinityTimeoutSeconds: affinity, endpoints: endpoints.filter((e) => e.ip !== ''),
      });
    }
  }
  return out;
}

// Shared builders for test objects (instead of copy-pasted YAML).
import type { KubeObject } from '../../src/sandbox/apiserver/types';

export function pod(ns: string, name: string, ip: string, opts: { labels?: Record<string, string>; node?: string; hostNetwork?: boolean; owner?: { kind: string; name: string }; ports?: { name?: string; containerPort: number; protocol?: string }[] } = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: ns, labels: opts.labels ?? {}, resourceVersion: '1', ...(opts.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: opts.owner.kind, name: opts.owner.name, uid: 'u', controller: true }] } : {}) },
    spec: { nodeName: opts.node ?? 'node-1', hostNetwork: opts.hostNetwork ?? false, containers: [{ name: 'c', ports: opts.ports ?? [] }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

export function service(ns: string, name: string, clusterIP: string, selector: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { clusterIP, clusterIPs: [clusterIP], selector, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } };
}

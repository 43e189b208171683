// Defaulting the real API server does on create: service ClusterIP/NodePort allocation, protocol
// and targetPort defaults, pod phase. Applied by the store so objects created by the sandbox
// controller and by kubectl look the same.
import type { KubeObject } from './types';
import { ApiError } from './types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export class ServiceAllocator {
  private readonly base: number;
  private readonly size: number;
  private next = 10; // .1 is the kubernetes service in a real cluster; keep the first few free

  constructor(cidr: string, private readonly usedIps: () => Set<string>, private readonly usedPorts: () => Set<number>) {
    const [ip, bits] = cidr.split('/');
    if (!ip || !/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !bits) throw new Error(`bad service CIDR ${cidr}`);
    this.size = 2 ** (32 - Number(bits));
    this.base = ipToInt(ip) - (ipToInt(ip) % this.size);
  }

  allocateIp(): string {
    const used = this.usedIps();
    for (let i = 0; i < this.size - 2; i++) {
      const off = 1 + ((this.next - 1 + i) % (this.size - 2));
      const ip = intToIp(this.base + off);
      if (!used.has(ip)) { this.next = off + 1; return ip; }
    }
    throw new ApiError(500, 'InternalError', 'failed to allocate a serviceIP: range is full');
  }

  allocateNodePort(): number {
    const used = this.usedPorts();
    for (let p = 30000; p <= 32767; p++) if (!used.has(p)) return p;
    throw new ApiError(422, 'Invalid', 'failed to allocate a nodePort: range is full');
  }
}

export function defaultService(obj: KubeObject, alloc: ServiceAllocator): void {
  const spec: Any = (obj.spec ??= {});
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  for (const port of (spec.ports ?? []) as Any[]) {
    port.protocol ??= 'TCP';
    port.targetPort ??= port.port;
    if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && !port.nodePort) port.nodePort = alloc.allocateNodePort();
  }
  if (spec.type !== 'ExternalName' && !spec.clusterIP) spec.clusterIP = alloc.allocateIp();
  if (spec.clusterIP && spec.clusterIP !== 'None') spec.clusterIPs ??= [spec.clusterIP];
  if (spec.clusterIP === 'None') spec.clusterIPs ??= ['None'];
  if (spec.type !== 'ExternalName') {
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
    spec.internalTrafficPolicy ??= 'Cluster';
  }
  obj.status ??= { loadBalancer: {} };
}

export function defaultPod(obj: KubeObject): void {
  const spec: Any = (obj.spec ??= {});
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  for (const c of (spec.containers ?? []) as Any[]) {
    for (const p of (c.ports ?? []) as Any[]) p.protocol ??= 'TCP';
  }
  obj.status ??= {};
  obj.status.phase ??= 'Pending';
}

export function defaultNamespace(obj: KubeObject): void {
  obj.spec ??= { finalizers: ['kubernetes'] };
  obj.status ??= { phase: 'Active' };
  obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name };
}

export function defaultNetworkPolicy(obj: KubeObject): void {
  const spec: Any = (obj.spec ??= {});
  spec.podSelector ??= {};
  // As the real API server defaults it: an empty egress list does not imply Egress.
  if (!Array.isArray(spec.policyTypes) || spec.policyTypes.length === 0) spec.policyTypes = Array.isArray(spec.egress) && spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

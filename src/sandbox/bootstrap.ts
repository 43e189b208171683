// Objects every sandbox cluster starts with: the Node, the system namespaces, kube-dns (Service
// + a hostNetwork coredns pod whose podIP is the node IP, served by the daemon's DNS server) and
// default/kubernetes (no endpoints: the API server listens on 127.0.0.1 only).
import type { KubeObject } from './apiserver/types';
import type { SandboxNode } from './net/node';

export function nodeObject(node: SandboxNode): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node.name,
      labels: { 'kubernetes.io/hostname': node.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch, ...(node.netns ? {} : { 'node-role.kubernetes.io/control-plane': '' }) },
    },
    spec: { podCIDR: node.podCidr, podCIDRs: [node.podCidr] },
    status: {
      addresses: [{ type: 'InternalIP', address: node.internalIp }, { type: 'Hostname', address: node.name }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'flowlens sandbox node is ready', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }],
      nodeInfo: { kubeletVersion: 'v1.32.0-flowlens', kubeProxyVersion: 'v1.32.0-flowlens', operatingSystem: 'linux', architecture: process.arch, containerRuntimeVersion: 'flowlens://netns', kernelVersion: '', osImage: 'Flowlens sandbox' },
      capacity: { cpu: '4', memory: '8Gi', pods: '250' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '250' },
    },
  };
}

export function namespaceObject(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } };
}

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export function kubeDnsService(node: SandboxNode): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' } },
    spec: {
      type: 'ClusterIP', clusterIP: node.clusterDnsIp, clusterIPs: [node.clusterDnsIp], selector: { 'k8s-app': 'kube-dns' },
      ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 }],
    },
  };
}

export function corednsPod(node: SandboxNode): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'coredns-flowlens', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, annotations: { 'flowlens.dev/served-by': 'sandbox daemon DNS server' } },
    spec: {
      hostNetwork: true,
      nodeName: node.name,
      dnsPolicy: 'Default',
      containers: [{ name: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.11.3', ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' }] }],
    },
  };
}

export function kubernetesService(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] },
  };
}

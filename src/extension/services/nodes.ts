// The Services tree's nodes as a discriminated union, their children and how each looks.
// Pure (no vscode): the tree provider maps `Presentation` to a TreeItem.
import type { Backend } from '../../cluster/model';
import type { KubeObject } from '../../sandbox/apiserver/types';

export type ServicesNode =
  | { kind: 'namespace'; name: string }
  | { kind: 'service'; namespace: string; name: string }
  | { kind: 'pod'; namespace: string; service: string; ip: string; ready: boolean; nodeName?: string; pod?: { namespace: string; name: string } }
  | { kind: 'info'; parent: string; text: string };

export type PodNode = Extract<ServicesNode, { kind: 'pod' }>;

/** What the tree needs from the cluster model (ClusterModel satisfies it). */
export interface ServicesSource {
  namespaces(): KubeObject[];
  services(namespace?: string): KubeObject[];
  backendsOf(service: KubeObject): Backend[];
}

export interface Presentation {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  contextValue: string;
  collapsible: boolean;
  icon: { id: string; color?: string };
}

export const POD_CONTEXT = 'flowlens.pod';

export function rootNodes(src: ServicesSource): ServicesNode[] {
  return src.namespaces().map((ns) => ({ kind: 'namespace', name: ns.metadata.name }));
}

function findService(src: ServicesSource, namespace: string, name: string): KubeObject | undefined {
  return src.services(namespace).find((s) => s.metadata.name === name);
}

export function childrenOf(src: ServicesSource, node: ServicesNode): ServicesNode[] {
  switch (node.kind) {
    case 'namespace': {
      const svcs = src.services(node.name).map((s): ServicesNode => ({ kind: 'service', namespace: node.name, name: s.metadata.name }));
      return svcs.length ? svcs : [{ kind: 'info', parent: nodeId(node), text: 'no services' }];
    }
    case 'service': {
      const svc = findService(src, node.namespace, node.name);
      if (!svc) return [];
      const pods = src.backendsOf(svc).map((b) => podNode(node, b));
      return pods.length ? pods : [{ kind: 'info', parent: nodeId(node), text: svc.spec?.selector ? 'no backends' : 'no selector' }];
    }
    default:
      return [];
  }
}

function podNode(svc: { namespace: string; name: string }, b: Backend): ServicesNode {
  const node: PodNode = { kind: 'pod', namespace: svc.namespace, service: svc.name, ip: b.ip, ready: b.ready };
  if (b.nodeName) node.nodeName = b.nodeName;
  if (b.pod) node.pod = { namespace: b.pod.metadata.namespace ?? svc.namespace, name: b.pod.metadata.name };
  return node;
}

export function nodeId(node: ServicesNode): string {
  switch (node.kind) {
    case 'namespace': return `ns/${node.name}`;
    case 'service': return `svc/${node.namespace}/${node.name}`;
    case 'pod': return `pod/${node.namespace}/${node.service}/${node.ip}`;
    case 'info': return `${node.parent}/info`;
  }
}

/** "ClusterIP 10.96.0.10 · 80/TCP, 443/TCP" */
export function serviceDescription(svc: KubeObject | undefined): string {
  if (!svc) return '';
  const spec = svc.spec ?? {};
  const type = typeof spec.type === 'string' ? spec.type : 'ClusterIP';
  const ip = spec.clusterIP === 'None' ? 'headless' : (spec.clusterIP ?? '');
  const ports = ((spec.ports ?? []) as { port: number; protocol?: string; nodePort?: number }[])
    .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(', ');
  return [type, ip].filter(Boolean).join(' ') + (ports ? ` · ${ports}` : '');
}

export function present(src: ServicesSource | undefined, node: ServicesNode): Presentation {
  const id = nodeId(node);
  switch (node.kind) {
    case 'namespace':
      return { id, label: node.name, contextValue: 'flowlens.namespace', collapsible: true, icon: { id: 'symbol-namespace' } };
    case 'service': {
      const description = serviceDescription(src && findService(src, node.namespace, node.name));
      return { id, label: node.name, description, tooltip: `${node.namespace}/${node.name}\n${description}`, contextValue: 'flowlens.service', collapsible: true, icon: { id: 'server-process' } };
    }
    case 'pod': {
      const state = node.ready ? 'ready' : 'not ready';
      const description = [state, node.nodeName, node.ip].filter(Boolean).join(' · ');
      const label = node.pod?.name ?? node.ip;
      return {
        id, label, description, tooltip: `${node.pod ? `${node.pod.namespace}/${node.pod.name}` : node.ip}\n${description}`,
        contextValue: node.pod ? POD_CONTEXT : 'flowlens.endpoint', collapsible: false,
        icon: node.ready ? { id: 'pass-filled', color: 'testing.iconPassed' } : { id: 'error', color: 'testing.iconFailed' },
      };
    }
    case 'info':
      return { id, label: node.text, contextValue: 'flowlens.info', collapsible: false, icon: { id: 'info' } };
  }
}

export function isPodNode(v: unknown): v is PodNode & { pod: { namespace: string; name: string } } {
  if (typeof v !== 'object' || v === null) return false;
  const n = v as Partial<PodNode>;
  return n.kind === 'pod' && typeof n.pod?.namespace === 'string' && typeof n.pod?.name === 'string';
}

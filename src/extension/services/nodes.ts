// The Services tree's nodes as a discriminated union, their children and how each looks.
// kubeconfig contexts → namespaces (or all namespaces at once) → services → warnings and backends.
// Pure (no vscode): the tree provider maps `Presentation` to a TreeItem.
import type { Backend } from '../../cluster/model';
import type { KubeObject } from '../../sandbox/apiserver/types';
import { type KeyStats, badgeText } from '../live/stats';
import type { ServicesIndex } from './index';

export type ServicesNode =
  /** `other`: a context Flowlens is not using; the others are the one it uses, by session state. */
  | { kind: 'context'; name: string; state: ContextState }
  | { kind: 'namespace'; name: string }
  | { kind: 'service'; namespace: string; name: string }
  | { kind: 'pod'; namespace: string; service: string; ip: string; ready: boolean; nodeName?: string; pod?: { namespace: string; name: string } }
  | { kind: 'warning'; parent: string; text: string }
  | { kind: 'info'; parent: string; text: string };

export type ContextState = 'connected' | 'connecting' | 'disconnected' | 'other';
export type PodNode = Extract<ServicesNode, { kind: 'pod' }>;
export type ServiceNode = Extract<ServicesNode, { kind: 'service' }>;

/** What the tree reads: contexts, the index of the connected context, live stats and the view options. */
export interface TreeSource {
  contexts(): string[];
  /** The context Flowlens uses (connected, connecting to or failed to reach). */
  currentContext(): string | undefined;
  connection(): Exclude<ContextState, 'other'>;
  index(): ServicesIndex | undefined;
  /** True until pods and EndpointSlices are listed: backends and warnings wait for them. */
  backendsLoading(): boolean;
  stats(key: string): KeyStats;
  allNamespaces: boolean;
  /** Lower-case text a service's "namespace/name" must contain; empty for all. */
  filter: string;
}

export interface Presentation {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  contextValue: string;
  collapsible: 'none' | 'collapsed' | 'expanded';
  icon: { id: string; color?: string };
  command?: { command: string; arguments: unknown[] };
}

export const POD_CONTEXT = 'flowlens.pod';
export const SERVICE_CONTEXT = 'flowlens.service';

export function rootNodes(src: TreeSource): ServicesNode[] {
  const current = src.currentContext();
  const names = src.contexts();
  if (current !== undefined && !names.includes(current)) names.unshift(current);
  const state = src.connection();
  return names.map((name) => ({ kind: 'context', name, state: name === current ? state : 'other' }));
}

function matchesFilter(src: TreeSource, s: KubeObject): boolean {
  return !src.filter || `${s.metadata.namespace ?? ''}/${s.metadata.name}`.toLowerCase().includes(src.filter);
}

function serviceNodes(src: TreeSource, idx: ServicesIndex, namespace?: string): ServicesNode[] {
  return idx.services(namespace).filter((s) => matchesFilter(src, s))
    .map((s) => ({ kind: 'service', namespace: s.metadata.namespace ?? 'default', name: s.metadata.name }));
}

function contextChildren(src: TreeSource, node: Extract<ServicesNode, { kind: 'context' }>): ServicesNode[] {
  if (node.state !== 'connected') return [];
  const idx = src.index();
  if (!idx) return [{ kind: 'info', parent: nodeId(node), text: 'not connected' }];
  if (src.allNamespaces) {
    const svcs = serviceNodes(src, idx);
    return svcs.length ? svcs : [{ kind: 'info', parent: nodeId(node), text: src.filter ? 'no services match the filter' : 'no services' }];
  }
  const nss = idx.namespaces.map((ns): ServicesNode => ({ kind: 'namespace', name: ns.metadata.name }));
  return src.filter ? nss.filter((n) => n.kind === 'namespace' && serviceNodes(src, idx, n.name).length > 0) : nss;
}

export function childrenOf(src: TreeSource, node: ServicesNode): ServicesNode[] {
  const idx = src.index();
  switch (node.kind) {
    case 'context':
      return contextChildren(src, node);
    case 'namespace': {
      const svcs = idx ? serviceNodes(src, idx, node.name) : [];
      return svcs.length ? svcs : [{ kind: 'info', parent: nodeId(node), text: 'no services' }];
    }
    case 'service': {
      const svc = idx?.service(node.namespace, node.name);
      if (!idx || !svc) return [];
      if (src.backendsLoading()) return [{ kind: 'info', parent: nodeId(node), text: 'loading…' }];
      const warnings = idx.warnings(svc).map((w): ServicesNode => ({ kind: 'warning', parent: nodeId(node), text: w.message }));
      const pods = idx.backendsOf(svc).map((b) => podNode(node, b));
      if (!pods.length && !warnings.length) return [{ kind: 'info', parent: nodeId(node), text: svc.spec?.selector ? 'no backends' : 'no selector' }];
      return [...warnings, ...pods];
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
    // VS Code keeps a row's expansion by id: a row first shown while connecting (no children)
    // would stay collapsed once connected, so the connected row is a different row.
    case 'context': return node.state === 'connected' ? `ctx/${node.name}/connected` : `ctx/${node.name}`;
    case 'namespace': return `ns/${node.name}`;
    case 'service': return `svc/${node.namespace}/${node.name}`;
    case 'pod': return `pod/${node.namespace}/${node.service}/${node.ip}`;
    case 'warning': return `${node.parent}/warning/${node.text}`;
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

const join = (...parts: (string | undefined)[]) => parts.filter(Boolean).join(' · ');

function presentService(src: TreeSource, node: ServiceNode, id: string): Presentation {
  const idx = src.index();
  const svc = idx?.service(node.namespace, node.name);
  const warnings = svc && idx && !src.backendsLoading() ? idx.warnings(svc) : [];
  const badge = badgeText(src.stats(`svc:${node.namespace}/${node.name}`));
  const description = join(serviceDescription(svc), badge);
  const tooltip = [`${node.namespace}/${node.name}`, description, ...warnings.map((w) => `⚠ ${w.message}`)].join('\n');
  const icon = warnings.length ? { id: 'warning', color: 'list.warningForeground' } : { id: 'server-process' };
  return { id, label: node.name, description: src.allNamespaces ? join(node.namespace, description) : description, tooltip, contextValue: SERVICE_CONTEXT, collapsible: 'collapsed', icon };
}

function presentPod(src: TreeSource, node: PodNode, id: string): Presentation {
  const state = node.ready ? 'ready' : 'not ready';
  const badge = node.pod ? badgeText(src.stats(`pod:${node.pod.namespace}/${node.pod.name}`)) : '';
  const description = join(state, node.nodeName, node.ip, badge);
  return {
    id, label: node.pod?.name ?? node.ip, description, tooltip: `${node.pod ? `${node.pod.namespace}/${node.pod.name}` : node.ip}\n${description}`,
    contextValue: node.pod ? POD_CONTEXT : 'flowlens.endpoint', collapsible: 'none',
    icon: node.ready ? { id: 'pass-filled', color: 'testing.iconPassed' } : { id: 'error', color: 'testing.iconFailed' },
  };
}

function presentContext(node: Extract<ServicesNode, { kind: 'context' }>, id: string): Presentation {
  switch (node.state) {
    case 'connected':
      return { id, label: node.name, description: 'connected', contextValue: 'flowlens.context.current', collapsible: 'expanded', icon: { id: 'cloud' } };
    case 'connecting':
      return { id, label: node.name, description: 'connecting…', contextValue: 'flowlens.context.current', collapsible: 'none', icon: { id: 'loading~spin' } };
    case 'disconnected':
      return { id, label: node.name, description: 'not connected: click to reconnect', tooltip: `Reconnect Flowlens to context ${node.name}`, contextValue: 'flowlens.context.current', collapsible: 'none', icon: { id: 'cloud', color: 'list.errorForeground' }, command: { command: 'flowlens.reconnect', arguments: [] } };
    case 'other':
      return { id, label: node.name, description: 'click to switch', tooltip: `Switch Flowlens to context ${node.name}`, contextValue: 'flowlens.context', collapsible: 'none', icon: { id: 'cloud', color: 'disabledForeground' }, command: { command: 'flowlens.switchContext', arguments: [node.name] } };
  }
}

export function present(src: TreeSource, node: ServicesNode): Presentation {
  const id = nodeId(node);
  switch (node.kind) {
    case 'context':
      return presentContext(node, id);
    case 'namespace':
      return { id, label: node.name, contextValue: 'flowlens.namespace', collapsible: 'collapsed', icon: { id: 'symbol-namespace' } };
    case 'service':
      return presentService(src, node, id);
    case 'pod':
      return presentPod(src, node, id);
    case 'warning':
      return { id, label: node.text, contextValue: 'flowlens.warning', collapsible: 'none', icon: { id: 'warning', color: 'list.warningForeground' } };
    case 'info':
      return { id, label: node.text, contextValue: 'flowlens.info', collapsible: 'none', icon: { id: 'info' } };
  }
}

export function isPodNode(v: unknown): v is PodNode & { pod: { namespace: string; name: string } } {
  if (typeof v !== 'object' || v === null) return false;
  const n = v as Partial<PodNode>;
  return n.kind === 'pod' && typeof n.pod?.namespace === 'string' && typeof n.pod?.name === 'string';
}

export function isServiceNode(v: unknown): v is ServiceNode {
  if (typeof v !== 'object' || v === null) return false;
  const n = v as Partial<ServiceNode>;
  return n.kind === 'service' && typeof n.namespace === 'string' && typeof n.name === 'string';
}

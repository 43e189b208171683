// The resource catalogue served by the emulator: one entry per plural resource, with what
// discovery, routing, validation and tables need to know about it.
import type { Resource } from './types';

export interface ResourceInfo {
  resource: Resource;
  singular: string;
  kind: string;
  group: string; // '' for core
  version: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Subresources served (status only for now; pods also get portforward). */
  subresources: string[];
}

const ALL = ['all'];

function r(resource: Resource, kind: string, group: string, namespaced: boolean, shortNames: string[] = [],
  categories: string[] = [], subresources: string[] = []): ResourceInfo {
  return { resource, singular: kind.toLowerCase(), kind, group, version: 'v1', namespaced, shortNames, categories, subresources };
}

export const RESOURCES: readonly ResourceInfo[] = [
  r('namespaces', 'Namespace', '', false, ['ns'], [], ['status']),
  r('nodes', 'Node', '', false, ['no'], [], ['status']),
  r('pods', 'Pod', '', true, ['po'], ALL, ['status', 'portforward']),
  r('services', 'Service', '', true, ['svc'], ALL, ['status']),
  r('endpoints', 'Endpoints', '', true, ['ep']),
  r('secrets', 'Secret', '', true),
  r('serviceaccounts', 'ServiceAccount', '', true, ['sa']),
  r('configmaps', 'ConfigMap', '', true, ['cm']),
  r('events', 'Event', '', true, ['ev']),
  r('endpointslices', 'EndpointSlice', 'discovery.k8s.io', true),
  r('networkpolicies', 'NetworkPolicy', 'networking.k8s.io', true, ['netpol']),
  r('deployments', 'Deployment', 'apps', true, ['deploy'], ALL, ['status']),
  r('replicasets', 'ReplicaSet', 'apps', true, ['rs'], ALL, ['status']),
  r('daemonsets', 'DaemonSet', 'apps', true, ['ds'], ALL, ['status']),
  r('clusterroles', 'ClusterRole', 'rbac.authorization.k8s.io', false),
  r('clusterrolebindings', 'ClusterRoleBinding', 'rbac.authorization.k8s.io', false),
];

const byResource = new Map(RESOURCES.map((i) => [i.resource, i]));

export function resourceInfo(resource: Resource): ResourceInfo {
  const info = byResource.get(resource);
  if (!info) throw new Error(`unknown resource ${resource}`);
  return info;
}

/** Finds a resource by group and plural name (as in a URL). */
export function lookupResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  const info = byResource.get(plural as Resource);
  return info && info.group === group && info.version === version ? info : undefined;
}

export function apiVersionOf(info: ResourceInfo): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}

/** The group/versions served, core first. */
export function groupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const i of RESOURCES) seen.set(`${i.group}/${i.version}`, { group: i.group, version: i.version });
  return [...seen.values()];
}

export function isResource(name: string): name is Resource {
  return byResource.has(name as Resource);
}

// Discovery documents: /api, /apis, /api/v1, /apis/<group>/<version> (legacy, unaggregated form;
// clients that ask for aggregated discovery fall back to it when the reply is plain JSON).
import { RESOURCES, groupVersions } from './resources';
import type { ResourceInfo } from './resources';

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function resourceEntries(info: ResourceInfo): Record<string, unknown>[] {
  const main: Record<string, unknown> = {
    name: info.resource, singularName: info.singular, namespaced: info.namespaced, kind: info.kind, verbs: VERBS,
  };
  if (info.shortNames.length) main.shortNames = info.shortNames;
  if (info.categories.length) main.categories = info.categories;
  const subs = info.subresources.map((sub) => sub === 'status'
    ? { name: `${info.resource}/status`, singularName: '', namespaced: info.namespaced, kind: info.kind, verbs: ['get', 'patch', 'update'] }
    : { name: `${info.resource}/${sub}`, singularName: '', namespaced: info.namespaced, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] });
  return [main, ...subs];
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions', versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export function apiGroupList(): Record<string, unknown> {
  const groups = groupVersions().filter((gv) => gv.group !== '').map(({ group, version }) => {
    const gv = { groupVersion: `${group}/${version}`, version };
    return { name: group, versions: [gv], preferredVersion: gv };
  });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroup(group: string): Record<string, unknown> | undefined {
  const gv = groupVersions().find((g) => g.group === group);
  if (!gv || !group) return undefined;
  const v = { groupVersion: `${group}/${gv.version}`, version: gv.version };
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: [v], preferredVersion: v };
}

export function apiResourceList(group: string, version: string): Record<string, unknown> | undefined {
  const infos = RESOURCES.filter((i) => i.group === group && i.version === version);
  if (!infos.length) return undefined;
  return {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version,
    resources: infos.flatMap(resourceEntries),
  };
}

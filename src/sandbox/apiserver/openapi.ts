// A minimal OpenAPI v3 surface: enough for kubectl to learn that the server does server-side
// field validation (a fieldValidation parameter on each kind's PATCH path), so it skips
// client-side schema validation, which would need the full Kubernetes schemas.
import { createHash } from 'node:crypto';
import { RESOURCES, groupVersions } from './resources';
import type { ResourceInfo } from './resources';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'].map((name) => ({
  name, in: 'query', description: `${name} query parameter`, schema: { type: name === 'force' ? 'boolean' : 'string' }, uniqueItems: true,
}));

function itemPath(info: ResourceInfo): string {
  const prefix = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  return info.namespaced ? `${prefix}/namespaces/{namespace}/${info.resource}/{name}` : `${prefix}/${info.resource}/{name}`;
}

function operation(info: ResourceInfo, verb: string): Record<string, unknown> {
  return {
    description: `${verb} the specified ${info.kind}`,
    operationId: `${verb}${info.kind}`,
    responses: { '200': { description: 'OK' } },
    'x-kubernetes-action': verb,
    'x-kubernetes-group-version-kind': { group: info.group, version: info.version, kind: info.kind },
    ...(verb === 'patch' ? { parameters: QUERY_PARAMS } : {}),
  };
}

export function openApiV3Document(group: string, version: string): Record<string, unknown> | undefined {
  const infos = RESOURCES.filter((i) => i.group === group && i.version === version);
  if (!infos.length) return undefined;
  const paths: Record<string, unknown> = {};
  for (const info of infos) {
    paths[itemPath(info)] = {
      get: operation(info, 'get'), put: operation(info, 'put'), patch: operation(info, 'patch'), delete: operation(info, 'delete'),
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: {} };
}

function hashOf(group: string, version: string): string {
  return createHash('sha256').update(JSON.stringify(openApiV3Document(group, version))).digest('hex').slice(0, 32).toUpperCase();
}

export function openApiV3Root(): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const { group, version } of groupVersions()) {
    paths[gvPath(group, version)] = { serverRelativeURL: `/openapi/v3/${gvPath(group, version)}?hash=${hashOf(group, version)}` };
  }
  return { paths };
}

/** Maps /openapi/v3/api/v1 or /openapi/v3/apis/<group>/<version> to its document. */
export function openApiV3ForPath(path: string): Record<string, unknown> | undefined {
  const m = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
  if (!m) return undefined;
  return m[1] ? openApiV3Document('', m[1]) : openApiV3Document(m[2]!, m[3]!);
}

// URL routing: discovery paths and resource paths (/api/v1/..., /apis/<group>/<version>/...,
// with the legacy /watch/ prefix).
import type { ResourceInfo } from './resources';
import { lookupResource, RESOURCES } from './resources';
import { ApiError } from './types';

export interface ResourceRoute {
  info: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The legacy /watch/ path prefix. */
  watchPath: boolean;
}

export type Route =
  | { kind: 'core-versions' }
  | { kind: 'groups' }
  | { kind: 'group'; group: string }
  | { kind: 'resources'; group: string; version: string }
  | { kind: 'resource'; route: ResourceRoute };

function notFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}

function segments(pathname: string): string[] {
  try {
    return pathname.split('/').filter((s) => s.length > 0).map(decodeURIComponent);
  } catch {
    throw new ApiError(400, 'BadRequest', 'malformed URL path');
  }
}

function servesGroupVersion(group: string, version: string): boolean {
  return RESOURCES.some((i) => i.group === group && i.version === version);
}

function resourceRoute(group: string, version: string, rest: string[]): ResourceRoute {
  const watchPath = rest[0] === 'watch';
  if (watchPath) rest = rest.slice(1);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[1]) {
    const inner = lookupResource(group, version, rest[2]!);
    if (inner?.namespaced) { namespace = rest[1]; rest = rest.slice(2); }
  }
  const [plural, name, subresource, ...extra] = rest;
  const info = plural ? lookupResource(group, version, plural) : undefined;
  if (!info || extra.length > 0) throw notFound();
  if (!info.namespaced && namespace !== undefined) throw notFound();
  if (subresource !== undefined && !info.subresources.includes(subresource)) throw notFound();
  return { info, namespace, name, subresource, watchPath };
}

export function parseRoute(pathname: string): Route {
  const s = segments(pathname);
  if (s[0] === 'api') {
    if (s.length === 1) return { kind: 'core-versions' };
    if (s[1] !== 'v1') throw notFound();
    if (s.length === 2) return { kind: 'resources', group: '', version: 'v1' };
    return { kind: 'resource', route: resourceRoute('', 'v1', s.slice(2)) };
  }
  if (s[0] === 'apis') {
    if (s.length === 1) return { kind: 'groups' };
    const group = s[1]!;
    if (s.length === 2) return { kind: 'group', group };
    const version = s[2]!;
    if (!servesGroupVersion(group, version)) throw notFound();
    if (s.length === 3) return { kind: 'resources', group, version };
    return { kind: 'resource', route: resourceRoute(group, version, s.slice(3)) };
  }
  throw notFound();
}

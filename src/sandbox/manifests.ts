// Loading ordinary Kubernetes YAML (multi-document, `kind: List` too) into the sandbox store.
// Every document is validated before anything is created; errors name file, document and field.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { KubeObject, ObjectStore, Resource } from './apiserver/types';
import { ApiError } from './apiserver/types';
import { RESOURCES, apiVersionOf } from './apiserver/resources';
import type { ResourceInfo } from './apiserver/resources';
import { validateObject } from './apiserver/validate';
import { namespaceObject } from './bootstrap';

export interface ManifestObject { resource: Resource; object: KubeObject; source: string }

export class ManifestError extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function infoFor(apiVersion: unknown, kind: unknown): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.kind === kind && apiVersionOf(r) === apiVersion);
}

function portOk(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
}

/** Checks the sandbox relies on beyond the API server's validation. */
function sandboxCauses(resource: Resource, obj: KubeObject): string[] {
  const out: string[] = [];
  const containers = (spec: Record<string, unknown> | undefined, at: string): void => {
    const list = spec?.containers;
    if (!Array.isArray(list) || list.length === 0) { out.push(`${at}.containers: Required value: at least one container`); return; }
    list.forEach((c: unknown, i) => {
      if (!isObject(c) || typeof c.name !== 'string') { out.push(`${at}.containers[${i}].name: Required value`); return; }
      const ports = c.ports ?? [];
      if (!Array.isArray(ports)) { out.push(`${at}.containers[${i}].ports: must be a list`); return; }
      ports.forEach((p: unknown, j) => {
        if (!isObject(p) || !portOk(p.containerPort)) out.push(`${at}.containers[${i}].ports[${j}].containerPort: must be an integer 1-65535`);
        else if (p.protocol !== undefined && p.protocol !== 'TCP' && p.protocol !== 'UDP') out.push(`${at}.containers[${i}].ports[${j}].protocol: must be TCP or UDP`);
      });
    });
  };
  if (resource === 'pods') containers(obj.spec, 'spec');
  if (resource === 'deployments' || resource === 'daemonsets' || resource === 'replicasets') {
    const t = obj.spec?.template;
    if (!isObject(t)) out.push('spec.template: Required value');
    else {
      containers(t.spec as Record<string, unknown> | undefined, 'spec.template.spec');
      const want = (obj.spec?.selector?.matchLabels ?? {}) as Record<string, string>;
      const labels = ((t.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {});
      if (Object.entries(want).some(([k, v]) => labels[k] !== v)) out.push('spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`');
    }
    const r = obj.spec?.replicas;
    if (r !== undefined && (!Number.isInteger(r) || r < 0 || r > 500)) out.push('spec.replicas: must be an integer 0-500');
  }
  if (resource === 'services') {
    ((obj.spec?.ports ?? []) as unknown[]).forEach((p, i) => {
      if (!isObject(p) || !portOk(p.port)) out.push(`spec.ports[${i}].port: must be an integer 1-65535`);
      else if (p.protocol !== undefined && p.protocol !== 'TCP' && p.protocol !== 'UDP') out.push(`spec.ports[${i}].protocol: must be TCP or UDP`);
    });
  }
  return out;
}

function checkDocument(doc: unknown, where: string): ManifestObject[] {
  if (!isObject(doc)) throw new ManifestError(`${where}: expected a mapping with apiVersion, kind and metadata`);
  if (doc.kind === 'List' && Array.isArray(doc.items)) return doc.items.flatMap((item, i) => checkDocument(item, `${where} items[${i}]`));
  if (typeof doc.apiVersion !== 'string') throw new ManifestError(`${where}: apiVersion: Required value`);
  if (typeof doc.kind !== 'string') throw new ManifestError(`${where}: kind: Required value`);
  const info = infoFor(doc.apiVersion, doc.kind);
  if (!info) throw new ManifestError(`${where}: kind: ${doc.kind} (${doc.apiVersion}) is not served by the sandbox; supported: ${RESOURCES.map((r) => `${r.kind} (${apiVersionOf(r)})`).join(', ')}`);
  if (!isObject(doc.metadata) || typeof doc.metadata.name !== 'string') throw new ManifestError(`${where}: metadata.name: Required value`);
  const obj = structuredClone(doc) as KubeObject;
  if (info.namespaced) obj.metadata.namespace = typeof obj.metadata.namespace === 'string' && obj.metadata.namespace ? obj.metadata.namespace : 'default';
  else if (obj.metadata.namespace !== undefined) throw new ManifestError(`${where}: metadata.namespace: ${info.kind} is cluster-scoped`);
  const label = `${info.kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata.name}`;
  try {
    validateObject(info, obj);
  } catch (e) {
    throw new ManifestError(`${where} (${label}): ${(e as Error).message}`);
  }
  const causes = sandboxCauses(info.resource, obj);
  if (causes.length > 0) throw new ManifestError(`${where} (${label}): ${causes.join('; ')}`);
  return [{ resource: info.resource, object: obj, source: where }];
}

/** Parses and validates one YAML text (`source` names it in errors). */
export function parseManifests(text: string, source: string): ManifestObject[] {
  const out: ManifestObject[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    const where = `${source}: document ${i + 1}`;
    if (!('errors' in doc)) throw new ManifestError(`${where}: not a YAML document`);
    const err = doc.errors[0];
    if (err) throw new ManifestError(`${where} (line ${err.linePos?.[0]?.line ?? '?'}): ${err.message.split('\n')[0]}`);
    const value: unknown = doc.toJS({ maxAliasCount: 50 });
    if (value === null || value === undefined) return; // empty document
    out.push(...checkDocument(value, where));
  });
  return out;
}

export function loadManifestFiles(paths: string[]): ManifestObject[] {
  return paths.flatMap((p) => {
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch (e) {
      throw new ManifestError(`${p}: ${(e as Error).message}`);
    }
    return parseManifests(text, p);
  });
}

const ORDER: Resource[] = ['namespaces', 'clusterroles', 'clusterrolebindings', 'serviceaccounts', 'configmaps', 'secrets', 'networkpolicies', 'services', 'endpointslices'];

/** Creates the objects (namespaces first; missing namespaces are created). Existing objects are replaced. */
export function applyManifests(store: ObjectStore, objects: ManifestObject[], log: (m: string) => void): void {
  const rank = (r: Resource): number => (ORDER.includes(r) ? ORDER.indexOf(r) : ORDER.length);
  const sorted = [...objects].sort((a, b) => rank(a.resource) - rank(b.resource));
  for (const m of sorted) {
    const ns = m.object.metadata.namespace;
    if (ns && !store.get('namespaces', undefined, ns)) {
      store.create('namespaces', namespaceObject(ns));
      log(`created namespace ${ns} (used by ${m.source})`);
    }
    try {
      const have = store.get(m.resource, ns, m.object.metadata.name);
      if (have) store.update(m.resource, { ...m.object, metadata: { ...m.object.metadata, resourceVersion: undefined } });
      else store.create(m.resource, m.object);
    } catch (e) {
      const msg = e instanceof ApiError ? `${e.code} ${e.reason}: ${e.message}` : (e as Error).message;
      throw new ManifestError(`${m.source}: ${msg}`);
    }
  }
}

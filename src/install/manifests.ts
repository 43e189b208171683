// The agent's manifests (deploy/*.yaml) as objects, in apply order, with their REST paths.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type Errorable, errorMessage, fail, ok } from '../cluster/errorable';
import { findRepoRoot } from '../agent/loader';

export interface Manifest { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown }

/** Kinds the install applies: REST plural and whether namespaced. */
const KINDS: Record<string, { plural: string; namespaced: boolean; order: number }> = {
  Namespace: { plural: 'namespaces', namespaced: false, order: 0 },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true, order: 1 },
  Secret: { plural: 'secrets', namespaced: true, order: 1 },
  ConfigMap: { plural: 'configmaps', namespaced: true, order: 1 },
  ClusterRole: { plural: 'clusterroles', namespaced: false, order: 2 },
  ClusterRoleBinding: { plural: 'clusterrolebindings', namespaced: false, order: 3 },
  Role: { plural: 'roles', namespaced: true, order: 2 },
  RoleBinding: { plural: 'rolebindings', namespaced: true, order: 3 },
  DaemonSet: { plural: 'daemonsets', namespaced: true, order: 4 },
};

export function defaultManifestsDir(): string {
  return join(findRepoRoot(), 'deploy');
}

/** "/api/v1/namespaces/ns/serviceaccounts/name" and the like. */
export function objectPath(m: Manifest): string {
  const k = KINDS[m.kind];
  if (!k) throw new Error(`unsupported kind ${m.kind}`);
  const base = m.apiVersion === 'v1' ? '/api/v1' : `/apis/${m.apiVersion}`;
  const ns = k.namespaced ? `/namespaces/${encodeURIComponent(m.metadata.namespace ?? 'default')}` : '';
  return `${base}${ns}/${k.plural}/${encodeURIComponent(m.metadata.name)}`;
}

export function describe(m: Manifest): string {
  return `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata.name}`;
}

function check(doc: unknown, where: string): Errorable<Manifest> {
  const m = doc as Manifest;
  if (!m || typeof m !== 'object' || typeof m.apiVersion !== 'string' || typeof m.kind !== 'string' || typeof m.metadata?.name !== 'string') {
    return fail(`${where}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
  }
  if (!KINDS[m.kind]) return fail(`${where}: ${m.kind} is not a kind the installer applies (${Object.keys(KINDS).join(', ')})`);
  return ok(m);
}

/** Every object of the .yaml files in `dir`, ordered so dependencies come first. */
export function loadManifests(dir: string = defaultManifestsDir()): Errorable<Manifest[]> {
  const out: Manifest[] = [];
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (e) {
    return fail(`cannot read manifests in ${dir}: ${errorMessage(e)}`);
  }
  for (const f of files) {
    const docs = parseAllDocuments(readFileSync(join(dir, f), 'utf8'));
    for (let i = 0; i < docs.length; i++) {
      const d = docs[i];
      if (!d || d.errors.length) return fail(`${f} document ${i + 1}: ${d?.errors[0]?.message ?? 'unreadable'}`);
      const v: unknown = d.toJS();
      if (v === null || v === undefined) continue;
      const m = check(v, `${f} document ${i + 1}`);
      if (!m.ok) return m;
      out.push(m.value);
    }
  }
  if (out.length === 0) return fail(`no manifests in ${dir}`);
  return ok(out.sort((a, b) => (KINDS[a.kind]?.order ?? 9) - (KINDS[b.kind]?.order ?? 9)));
}

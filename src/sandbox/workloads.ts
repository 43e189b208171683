// Pure workload logic: Deployment -> ReplicaSet -> Pods, DaemonSet -> Pods, the way the
// kube-controller-manager names and labels them.
import { randomInt } from 'node:crypto';
import type { KubeObject } from './apiserver/types';

const SAFE = 'bcdfghjklmnpqrstvwxz2456789'; // k8s.io/apimachinery/pkg/util/rand SafeEncodeString

function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** pod-template-hash: a short, stable, vowel-free hash of the pod template (max 10 chars). */
export function podTemplateHash(template: unknown): string {
  let n = fnv32a(stable(template));
  let out = '';
  do {
    out += SAFE[n % SAFE.length];
    n = Math.floor(n / SAFE.length);
  } while (n > 0);
  return out.slice(0, 10);
}

export function randomSuffix(len = 5): string {
  let out = '';
  for (let i = 0; i < len; i++) out += SAFE[randomInt(SAFE.length)];
  return out;
}

export function ownerRef(owner: KubeObject): NonNullable<KubeObject['metadata']['ownerReferences']>[number] {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid ?? '', controller: true };
}

export function isOwnedBy(obj: KubeObject, owner: KubeObject): boolean {
  return (obj.metadata.ownerReferences ?? []).some((r) => r.uid !== '' && r.uid === owner.metadata.uid);
}

export function matchLabels(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Label selector (matchLabels + matchExpressions In/NotIn/Exists/DoesNotExist). */
export function matchSelector(sel: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined, labels: Record<string, string> = {}): boolean {
  if (!sel) return false;
  const ml = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const me = (sel.matchExpressions ?? []).every((e) => {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === 'In') return has && (e.values ?? []).includes(labels[e.key] ?? '');
    if (e.operator === 'NotIn') return !has || !(e.values ?? []).includes(labels[e.key] ?? '');
    if (e.operator === 'Exists') return has;
    if (e.operator === 'DoesNotExist') return !has;
    return false;
  });
  return ml && me && (Object.keys(sel.matchLabels ?? {}).length > 0 || (sel.matchExpressions ?? []).length > 0);
}

/** The ReplicaSet a Deployment wants now. */
export function desiredReplicaSet(deploy: KubeObject): KubeObject {
  const template = deploy.spec?.template ?? {};
  const hash = podTemplateHash(template);
  const labels = { ...(template.metadata?.labels ?? {}), 'pod-template-hash': hash };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${deploy.metadata.name}-${hash}`,
      namespace: deploy.metadata.namespace,
      labels,
      annotations: { 'deployment.kubernetes.io/revision': '1' },
      ownerReferences: [ownerRef(deploy)],
    },
    spec: {
      replicas: deploy.spec?.replicas ?? 1,
      selector: { matchLabels: { ...(deploy.spec?.selector?.matchLabels ?? {}), 'pod-template-hash': hash } },
      template: { ...template, metadata: { ...(template.metadata ?? {}), labels } },
    },
  };
}

/** A new Pod from an owner's template. */
export function podFromTemplate(owner: KubeObject, nodeName?: string): KubeObject {
  const template = owner.spec?.template ?? {};
  const spec = structuredClone(template.spec ?? {});
  if (nodeName) spec.nodeName = nodeName;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${owner.metadata.name}-${randomSuffix()}`,
      namespace: owner.metadata.namespace,
      labels: { ...(template.metadata?.labels ?? {}) },
      annotations: { ...(template.metadata?.annotations ?? {}) },
      ownerReferences: [ownerRef(owner)],
    },
    spec,
  };
}

export function podReady(pod: KubeObject): boolean {
  return (pod.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
}

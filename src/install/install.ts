// Installs and uninstalls the node agents through the API server: server-side apply
// (PATCH application/apply-patch+yaml, fieldManager=flowlens, force) of deploy/*.yaml, then waits
// until the DaemonSet's pods are all ready. Shared by `flowlens install` and the extension's
// "Flowlens: Install agents" command (progress callback, AbortSignal, Errorable result).
import type { ClusterAccess } from '../cluster/kubeconfig';
import { type Errorable, errorMessage, fail, ok } from '../cluster/errorable';
import { HttpError, requestJSON } from '../cluster/http';
import type { KubeObject } from '../sandbox/apiserver/types';
import { type Manifest, describe, loadManifests, objectPath } from './manifests';

export const FIELD_MANAGER = 'flowlens';

export interface InstallProgress { step: 'apply' | 'wait' | 'delete' | 'done'; message: string; ready?: number; desired?: number }
export interface InstallOptions {
  onProgress?: (p: InstallProgress) => void;
  signal?: AbortSignal;
  /** Folder with the manifests; default <repo>/deploy. */
  manifestsDir?: string;
  timeoutMs?: number;
  pollMs?: number;
}
export interface InstallResult { applied: string[]; daemonSet: string; ready: number; desired: number }

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  // The listener goes away with the timer: a long wait must not pile listeners on one signal.
  const onAbort = () => { clearTimeout(t); reject(new Error('cancelled')); };
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  signal?.addEventListener('abort', onAbort, { once: true });
});

async function apply(access: ClusterAccess, m: Manifest, signal?: AbortSignal): Promise<void> {
  const q = `?fieldManager=${FIELD_MANAGER}&force=true`;
  await requestJSON(access, 'PATCH', objectPath(m) + q, JSON.stringify(m), 'application/apply-patch+yaml', signal);
}

function daemonSetOf(objects: Manifest[]): Manifest | undefined {
  return objects.find((m) => m.kind === 'DaemonSet');
}

interface DsStatus { desiredNumberScheduled?: number; numberReady?: number; updatedNumberScheduled?: number; observedGeneration?: number }

function readyPods(pods: KubeObject[]): number {
  return pods.filter((p) => p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True')).length;
}

/** Waits until every scheduled agent pod is ready (DaemonSet status and the pods themselves). */
async function waitReady(access: ClusterAccess, ds: Manifest, opts: InstallOptions): Promise<Errorable<{ ready: number; desired: number }>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  const selector = Object.entries((ds.spec as { selector?: { matchLabels?: Record<string, string> } })?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const ns = ds.metadata.namespace ?? 'default';
  let last = '';
  for (;;) {
    const cur = await requestJSON<KubeObject>(access, 'GET', objectPath(ds), undefined, undefined, opts.signal);
    const st = (cur.status ?? {}) as DsStatus;
    const pods = await requestJSON<{ items: KubeObject[] }>(access, 'GET', `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`, undefined, undefined, opts.signal);
    const desired = st.desiredNumberScheduled ?? 0;
    const ready = Math.min(st.numberReady ?? 0, readyPods(pods.items));
    const msg = `${ready}/${desired} agents ready`;
    if (msg !== last) opts.onProgress?.({ step: 'wait', message: msg, ready, desired });
    last = msg;
    const current = (st.observedGeneration ?? 0) >= (cur.metadata.generation ?? 0);
    if (desired > 0 && ready >= desired && current && (st.updatedNumberScheduled ?? desired) >= desired) return ok({ ready, desired });
    if (Date.now() > deadline) return fail(`timed out waiting for the agents: ${msg} (kubectl -n ${ns} get pods -l ${selector})`);
    await sleep(opts.pollMs ?? 500, opts.signal);
  }
}

function explain(e: unknown, what: string): string {
  if (e instanceof HttpError && (e.status === 401 || e.status === 403)) return `not allowed to ${what} (HTTP ${e.status}): ${e.message}; installing needs cluster-admin-like rights (Namespace, ClusterRole, DaemonSet)`;
  return `${what}: ${errorMessage(e)}`;
}

export async function installAgents(access: ClusterAccess, opts: InstallOptions = {}): Promise<Errorable<InstallResult>> {
  const objects = loadManifests(opts.manifestsDir);
  if (!objects.ok) return objects;
  const ds = daemonSetOf(objects.value);
  if (!ds) return fail('the manifests hold no DaemonSet');
  const applied: string[] = [];
  for (const m of objects.value) {
    try {
      await apply(access, m, opts.signal);
    } catch (e) {
      return fail(explain(e, `apply ${describe(m)}`));
    }
    applied.push(describe(m));
    opts.onProgress?.({ step: 'apply', message: `applied ${describe(m)}` });
  }
  try {
    const r = await waitReady(access, ds, opts);
    if (!r.ok) return r;
    opts.onProgress?.({ step: 'done', message: `${r.value.ready} agents ready`, ...r.value });
    return ok({ applied, daemonSet: describe(ds), ...r.value });
  } catch (e) {
    return fail(explain(e, 'wait for the agents'));
  }
}

/** Deletes what install applied (reverse order; missing objects are fine) and waits for the agent pods to go. */
export async function uninstallAgents(access: ClusterAccess, opts: InstallOptions = {}): Promise<Errorable<{ deleted: string[] }>> {
  const objects = loadManifests(opts.manifestsDir);
  if (!objects.ok) return objects;
  const deleted: string[] = [];
  for (const m of [...objects.value].reverse()) {
    try {
      await requestJSON(access, 'DELETE', objectPath(m), undefined, undefined, opts.signal);
      deleted.push(describe(m));
      opts.onProgress?.({ step: 'delete', message: `deleted ${describe(m)}` });
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) continue;
      return fail(explain(e, `delete ${describe(m)}`));
    }
  }
  opts.onProgress?.({ step: 'done', message: `removed ${deleted.length} objects` });
  return ok({ deleted });
}

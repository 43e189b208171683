// In-memory object store with Kubernetes semantics: one global resourceVersion counter, uid,
// creationTimestamp, generation, generateName, and a bounded event history for watches that
// resume from a resourceVersion (older than the window: 410 Gone / Expired).
import { randomUUID, randomBytes } from 'node:crypto';
import type { KubeObject, ObjectStore, Resource, StoreEvent } from './types';
import { ApiError } from './types';
import { resourceInfo, RESOURCES } from './resources';
import { ServiceAllocator, defaultNamespace, defaultNetworkPolicy, defaultPod, defaultService } from './defaults';

export interface WatchEvent extends StoreEvent {
  /** The object before the change (MODIFIED only): lets filtered watches emit ADDED/DELETED on transitions. */
  oldObject?: KubeObject;
  rv: number;
}

/** One page of a list: clones of the objects on it, how many more match, the last key on it. */
export interface ListPage { items: KubeObject[]; remaining: number; lastKey?: string }

export interface ListPageOptions {
  /** Only keys ("namespace/name", "/name" when cluster-scoped) after this one. */
  after?: string;
  /** Most objects on the page; 0 or absent: all. */
  limit?: number;
  /** Reads the stored object (must not change it). */
  filter?: (o: KubeObject) => boolean;
}

export interface MemoryStoreOptions {
  /** Events kept for watches from a resourceVersion (default 1000). */
  historySize?: number;
  /** Seed the default namespaces (default true). */
  seed?: boolean;
  /** Range for service ClusterIPs (default 10.96.0.0/16). */
  serviceCIDR?: string;
}

const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function key(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

export class MemoryStore implements ObjectStore {
  private readonly objects = new Map<Resource, Map<string, KubeObject>>();
  /** Each resource's keys in byte order (as etcd pages), built on the first list, kept up to date on create and delete. */
  private readonly sorted = new Map<Resource, string[]>();
  private readonly listeners = new Set<(e: WatchEvent) => void>();
  private readonly history: WatchEvent[] = [];
  private readonly historySize: number;
  private readonly services: ServiceAllocator;
  private rv = 0;
  /** Watches from a resourceVersion below this number can no longer be served. */
  private windowStart = 0;

  constructor(opts: MemoryStoreOptions = {}) {
    this.historySize = Math.max(1, opts.historySize ?? 1000);
    for (const info of RESOURCES) this.objects.set(info.resource, new Map());
    this.services = new ServiceAllocator(opts.serviceCIDR ?? '10.96.0.0/16',
      () => new Set(this.list('services').map((s) => s.spec?.clusterIP as string)),
      () => new Set(this.list('services').flatMap((s) => ((s.spec?.ports ?? []) as { nodePort?: number }[]).map((p) => p.nodePort ?? 0))));
    if (opts.seed !== false) {
      for (const name of DEFAULT_NAMESPACES) this.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
  }

  /** The latest resourceVersion, as the opaque string clients see. */
  resourceVersion(): string {
    return String(this.rv);
  }

  /** Clones of the objects in key order ("namespace/name", byte order). */
  list(resource: Resource, namespace?: string): KubeObject[] {
    return this.listPage(resource, namespace).items;
  }

  /**
   * A page of a list in key order without cloning or sorting the collection: a binary search in
   * the sorted key index finds the start; only the page's objects are cloned.
   */
  listPage(resource: Resource, namespace: string | undefined, opts: ListPageOptions = {}): ListPage {
    const bucket = this.bucket(resource);
    const keys = this.sortedKeys(resource);
    const prefix = namespace === undefined ? '' : `${namespace}/`;
    const end = namespace === undefined ? keys.length : lowerBound(keys, `${namespace}0`); // '0' follows '/'
    let i = lowerBound(keys, prefix);
    if (opts.after !== undefined) i = Math.max(i, upperBound(keys, opts.after));
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const items: KubeObject[] = [];
    let lastKey: string | undefined;
    for (; i < end && items.length < limit; i++) {
      const k = keys[i] as string;
      const obj = bucket.get(k) as KubeObject;
      if (opts.filter && !opts.filter(obj)) continue;
      items.push(clone(obj));
      lastKey = k;
    }
    let remaining = end - i;
    if (opts.filter) for (remaining = 0; i < end; i++) if (opts.filter(bucket.get(keys[i] as string) as KubeObject)) remaining++;
    return { items, remaining, ...(lastKey !== undefined ? { lastKey } : {}) };
  }

  private sortedKeys(resource: Resource): string[] {
    let keys = this.sorted.get(resource);
    if (!keys) this.sorted.set(resource, (keys = [...this.bucket(resource).keys()].sort()));
    return keys;
  }

  get(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.bucket(resource).get(key(this.nsFor(resource, namespace), name));
    return obj ? clone(obj) : undefined;
  }

  create(resource: Resource, input: KubeObject): KubeObject {
    const info = resourceInfo(resource);
    const obj = clone(input);
    const meta = obj.metadata ?? (obj.metadata = { name: '' });
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix();
    if (!meta.name) throw new ApiError(422, 'Invalid', `${info.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
    if (info.namespaced) {
      meta.namespace ||= 'default';
      if (!this.bucket('namespaces').has(key(undefined, meta.namespace))) {
        throw new ApiError(404, 'NotFound', `namespaces "${meta.namespace}" not found`);
      }
    } else delete meta.namespace;
    const k = key(meta.namespace, meta.name);
    if (this.bucket(resource).has(k)) throw new ApiError(409, 'AlreadyExists', `${info.resource} "${meta.name}" already exists`);
    this.applyDefaults(resource, obj);
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    meta.generation = 1;
    delete meta.deletionTimestamp;
    obj.apiVersion ||= info.group ? `${info.group}/${info.version}` : info.version;
    obj.kind ||= info.kind;
    return this.commit(resource, k, obj, 'ADDED');
  }

  update(resource: Resource, input: KubeObject): KubeObject {
    const info = resourceInfo(resource);
    const obj = clone(input);
    const ns = this.nsFor(resource, obj.metadata?.namespace);
    const k = key(ns, obj.metadata?.name ?? '');
    const old = this.bucket(resource).get(k);
    if (!old) throw new ApiError(404, 'NotFound', `${info.resource}${info.group ? '.' + info.group : ''} "${obj.metadata?.name}" not found`);
    const wanted = obj.metadata.resourceVersion;
    if (wanted && wanted !== old.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${info.resource}${info.group ? '.' + info.group : ''} "${old.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    obj.metadata.uid = old.metadata.uid;
    obj.metadata.creationTimestamp = old.metadata.creationTimestamp;
    obj.metadata.namespace = ns;
    if (!info.namespaced) delete obj.metadata.namespace;
    const specChanged = JSON.stringify(old.spec ?? null) !== JSON.stringify(obj.spec ?? null);
    obj.metadata.generation = (old.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    obj.apiVersion ||= old.apiVersion;
    obj.kind ||= old.kind;
    return this.commit(resource, k, obj, 'MODIFIED', old);
  }

  delete(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    const k = key(this.nsFor(resource, namespace), name);
    const old = this.bucket(resource).get(k);
    if (!old) return undefined;
    if (resource === 'namespaces') this.deleteNamespaceContents(name);
    this.bucket(resource).delete(k);
    const keys = this.sorted.get(resource);
    if (keys) keys.splice(lowerBound(keys, k), 1);
    const gone = clone(old);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit({ type: 'DELETED', resource, object: gone, rv: this.rv });
    return clone(gone);
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** Live subscriptions (store subscribers and watches): lets tests check that nothing leaks. */
  listenerCount(): number {
    return this.listeners.size;
  }

  /**
   * Replays the history after `resourceVersion` (or synthesizes ADDED for the current objects when
   * it is absent or "0"), then delivers live events, all synchronously and without gaps.
   * Throws ApiError 410 (Expired) when the history no longer reaches back that far, 400 when the
   * resourceVersion is not one this store issued.
   */
  watchFrom(resource: Resource, resourceVersion: string | undefined, listener: (e: WatchEvent) => void): () => void {
    const initial: WatchEvent[] = [];
    if (!resourceVersion || resourceVersion === '0') {
      for (const obj of this.list(resource)) initial.push({ type: 'ADDED', resource, object: obj, rv: Number(obj.metadata.resourceVersion) });
    } else {
      const from = parseResourceVersion(resourceVersion);
      if (from < this.windowStart) {
        throw new ApiError(410, 'Expired', `too old resource version: ${resourceVersion} (${this.windowStart})`);
      }
      for (const e of this.history) if (e.rv > from && e.resource === resource) initial.push(e);
    }
    for (const e of initial) listener(e);
    const live = (e: WatchEvent): void => { if (e.resource === resource) listener(e); };
    this.listeners.add(live);
    return () => { this.listeners.delete(live); };
  }

  private bucket(resource: Resource): Map<string, KubeObject> {
    const b = this.objects.get(resource);
    if (!b) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${resource})`);
    return b;
  }

  private nsFor(resource: Resource, namespace: string | undefined): string | undefined {
    return resourceInfo(resource).namespaced ? (namespace || 'default') : undefined;
  }

  private applyDefaults(resource: Resource, obj: KubeObject): void {
    if (resource === 'services') defaultService(obj, this.services);
    else if (resource === 'pods') defaultPod(obj);
    else if (resource === 'namespaces') defaultNamespace(obj);
    else if (resource === 'networkpolicies') defaultNetworkPolicy(obj);
  }

  private commit(resource: Resource, k: string, obj: KubeObject, type: 'ADDED' | 'MODIFIED', old?: KubeObject): KubeObject {
    obj.metadata.resourceVersion = String(++this.rv);
    const keys = this.sorted.get(resource);
    if (type === 'ADDED' && keys) keys.splice(lowerBound(keys, k), 0, k);
    this.bucket(resource).set(k, obj);
    const snapshot = clone(obj);
    this.emit({ type, resource, object: snapshot, oldObject: old ? clone(old) : undefined, rv: this.rv });
    return clone(obj);
  }

  private deleteNamespaceContents(namespace: string): void {
    for (const info of RESOURCES) {
      if (!info.namespaced) continue;
      for (const obj of this.list(info.resource, namespace)) this.delete(info.resource, namespace, obj.metadata.name);
    }
  }

  private emit(e: WatchEvent): void {
    this.history.push(e);
    while (this.history.length > this.historySize) this.windowStart = this.history.shift()?.rv ?? this.windowStart;
    for (const l of [...this.listeners]) {
      try { l(e); } catch (err) { console.error('apiserver store listener failed:', err); }
    }
  }
}

/** First index whose key is >= k (byte order). */
function lowerBound(keys: readonly string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose key is > k. */
function upperBound(keys: readonly string[], k: string): number {
  const i = lowerBound(keys, k);
  return keys[i] === k ? i + 1 : i;
}

export function parseResourceVersion(rv: string): number {
  if (!/^\d{1,15}$/.test(rv)) throw new ApiError(400, 'BadRequest', `invalid resource version "${rv}": must be a resourceVersion issued by this server`);
  return Number(rv);
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
}

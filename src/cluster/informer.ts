// One generic informer: list, watch from the list's resourceVersion with bookmarks, relist on
// 410 Gone (HTTP status or in-stream ERROR event), capped backoff, stop on 401/403 with a clear
// message. Handlers only get coalesced change notifications.
import type { KubeObject } from '../sandbox/apiserver/types';
import { errorMessage } from './errorable';
import { HttpError, requestJSON, streamJSONLines } from './http';
import type { ClusterAccess } from './kubeconfig';

export interface WatchEvent { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: KubeObject }

export interface InformerOptions {
  /** Collection path, e.g. /api/v1/pods or /apis/discovery.k8s.io/v1/endpointslices. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Keep only the fields the caller uses (memory). */
  strip?: (o: KubeObject) => KubeObject;
  backoff?: { initialMs: number; maxMs: number };
  /** Server-side watch timeout; the informer re-watches after it. */
  watchTimeoutSeconds?: number;
  pageSize?: number;
}

export function objectKey(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** Applies one watch event to a cache. Returns 'gone' on a 410 ERROR, else whether it changed. */
export function applyWatchEvent(items: Map<string, KubeObject>, ev: WatchEvent, strip: (o: KubeObject) => KubeObject = (o) => o): 'changed' | 'unchanged' | 'gone' | 'error' {
  switch (ev.type) {
    case 'ADDED':
    case 'MODIFIED':
      items.set(objectKey(ev.object), strip(ev.object));
      return 'changed';
    case 'DELETED':
      return items.delete(objectKey(ev.object)) ? 'changed' : 'unchanged';
    case 'BOOKMARK':
      return 'unchanged';
    case 'ERROR': {
      const code = (ev.object as unknown as { code?: number }).code;
      return code === 410 ? 'gone' : 'error';
    }
    default:
      return 'error';
  }
}

type Listener = () => void;

/** The watch's resourceVersion is too old (410 Gone in the stream): relist. */
class WatchGone extends Error {}

export class Informer {
  private items = new Map<string, KubeObject>();
  private listeners = new Set<Listener>();
  private abort = new AbortController();
  private resourceVersion = '';
  private lastError: string | undefined;
  private notifyQueued = false;
  private stopped = false;
  synced = false;
  /** Full lists done so far (1 after start; more after 410 Gone). */
  relists = 0;

  constructor(private readonly access: ClusterAccess, private readonly opts: InformerOptions) {}

  /** Starts the list/watch loop; resolves after the first successful list (or rejects on a fatal error). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      void this.run(resolve, reject);
    });
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.listeners.clear();
  }

  list(): KubeObject[] {
    return [...this.items.values()];
  }

  get(key: string): KubeObject | undefined {
    return this.items.get(key);
  }

  error(): string | undefined {
    return this.lastError;
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private queueNotify(): void {
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    setTimeout(() => {
      this.notifyQueued = false;
      for (const l of this.listeners) l();
    }, 0);
  }

  private query(extra: Record<string, string>): string {
    const q = new URLSearchParams(extra);
    if (this.opts.labelSelector) q.set('labelSelector', this.opts.labelSelector);
    if (this.opts.fieldSelector) q.set('fieldSelector', this.opts.fieldSelector);
    return `${this.opts.path}?${q.toString()}`;
  }

  private async relist(): Promise<void> {
    const fresh = new Map<string, KubeObject>();
    const strip = this.opts.strip ?? ((o: KubeObject) => o);
    let cont = '';
    do {
      const page = await requestJSON<{ items: KubeObject[]; metadata: { resourceVersion: string; continue?: string } }>(
        this.access, 'GET', this.query({ limit: String(this.opts.pageSize ?? 500), ...(cont ? { continue: cont } : {}) }), undefined, undefined, this.abort.signal);
      for (const o of page.items) fresh.set(objectKey(o), strip(o));
      this.resourceVersion = page.metadata.resourceVersion;
      cont = page.metadata.continue ?? '';
    } while (cont);
    this.items = fresh;
    this.synced = true;
    this.relists++;
    this.queueNotify();
  }

  private async watch(): Promise<'gone' | 'ended'> {
    const strip = this.opts.strip;
    const path = this.query({ watch: '1', allowWatchBookmarks: 'true', resourceVersion: this.resourceVersion, timeoutSeconds: String(this.opts.watchTimeoutSeconds ?? 300) });
    try {
      await streamJSONLines(this.access, path, (v) => {
        const ev = v as WatchEvent;
        if (!ev || typeof ev.type !== 'string' || typeof ev.object !== 'object' || ev.object === null) throw new Error('malformed watch event');
        const r = applyWatchEvent(this.items, ev, strip);
        // Throwing ends the stream (streamJSONLines destroys the response); the loop relists.
        if (r === 'gone') throw new WatchGone();
        if (r === 'error') throw new Error(`watch error: ${JSON.stringify(ev.object).slice(0, 200)}`);
        const rv = ev.object.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (r === 'changed') this.queueNotify();
      }, this.abort.signal);
    } catch (e) {
      if (e instanceof WatchGone) return 'gone';
      throw e;
    }
    return 'ended';
  }

  private async run(resolve: () => void, reject: (e: Error) => void): Promise<void> {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 250, maxMs: 10_000 };
    let delay = initialMs;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          resolve();
          needList = false;
        }
        const r = await this.watch();
        if (r === 'gone') needList = true;
        this.lastError = undefined;
        delay = initialMs;
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof HttpError && e.status === 410) {
          needList = true;
          continue;
        }
        this.lastError = `${this.opts.path}: ${errorMessage(e)}`;
        if (e instanceof HttpError && (e.status === 401 || e.status === 403)) {
          this.lastError = `not allowed to list/watch ${this.opts.path} (HTTP ${e.status}): ${e.message}`;
          reject(new Error(this.lastError));
          this.queueNotify();
          return;
        }
        if (!this.synced) reject(new Error(this.lastError));
        this.queueNotify();
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(maxMs, delay * 2);
      }
    }
  }
}

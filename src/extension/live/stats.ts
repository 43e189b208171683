// Recent flows of the whole cluster, kept for a few minutes (bounded), with the aggregates the
// editor shows: flows/s and drops per service and per pod (tree badges), totals (status bar),
// and the recent flows themselves (CodeLens counts, service map, backend shares, what-if).
// Pure: no vscode, no timers; the caller passes the clock.
import type { Flow, FlowResponse } from '../../flows/flow';

export interface LiveOptions { windowMs?: number; rateWindowMs?: number; capacity?: number }
export interface KeyStats { rate: number; flows: number; drops: number }
export interface Totals { rate: number; flows: number; drops: number; lost: number }

interface Entry { t: number; flow: Flow }

/** A dropped or refused connection: the kernel or a policy dropped it, or the connect failed. */
export function isDrop(f: Flow): boolean {
  return f.verdict === 'DROPPED' || f.verdict === 'ERROR' || f.extensions?.tcp_event === 'connect_failed';
}

/** The stats keys a flow counts under: "svc:ns/name" for its service, "pod:ns/name" for each end. */
export function statKeys(f: Flow): string[] {
  const keys: string[] = [];
  if (f.destination_service) keys.push(`svc:${f.destination_service.namespace}/${f.destination_service.name}`);
  if (f.source?.pod_name) keys.push(`pod:${f.source.namespace ?? ''}/${f.source.pod_name}`);
  if (f.destination?.pod_name) keys.push(`pod:${f.destination.namespace ?? ''}/${f.destination.pod_name}`);
  return keys;
}

export class LiveStats {
  private entries: Entry[] = [];
  private head = 0;
  private lost = 0;
  private cache: { at: number; keys: Map<string, KeyStats>; totals: Totals } | undefined;
  readonly windowMs: number;
  private readonly rateWindowMs: number;
  private readonly capacity: number;

  constructor(opts: LiveOptions = {}) {
    this.windowMs = opts.windowMs ?? 300_000;
    this.rateWindowMs = opts.rateWindowMs ?? 10_000;
    this.capacity = opts.capacity ?? 50_000;
  }

  ingest(flows: readonly FlowResponse[], now: number): void {
    for (const r of flows) this.entries.push({ t: now, flow: r.flow });
    this.cache = undefined;
    this.compact(now);
  }

  addLost(n: number): void {
    this.lost += n;
    this.cache = undefined;
  }

  /** Flows seen within the window (oldest first). */
  recent(now: number, windowMs = this.windowMs): Flow[] {
    const from = now - windowMs;
    const out: Flow[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      if (e.t >= from) out.push(e.flow);
    }
    return out;
  }

  stats(key: string, now: number): KeyStats {
    return this.aggregate(now).keys.get(key) ?? { rate: 0, flows: 0, drops: 0 };
  }

  totals(now: number): Totals {
    return this.aggregate(now).totals;
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.lost = 0;
    this.cache = undefined;
  }

  private aggregate(now: number): { keys: Map<string, KeyStats>; totals: Totals } {
    if (this.cache && this.cache.at === now) return this.cache;
    this.compact(now);
    const keys = new Map<string, KeyStats>();
    const totals: Totals = { rate: 0, flows: 0, drops: 0, lost: this.lost };
    const rateFrom = now - this.rateWindowMs;
    const perSec = 1000 / this.rateWindowMs;
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      const drop = isDrop(e.flow);
      const inRate = e.t >= rateFrom;
      totals.flows++;
      if (drop) totals.drops++;
      if (inRate) totals.rate += perSec;
      for (const k of statKeys(e.flow)) {
        let s = keys.get(k);
        if (!s) keys.set(k, (s = { rate: 0, flows: 0, drops: 0 }));
        s.flows++;
        if (drop) s.drops++;
        if (inRate) s.rate += perSec;
      }
    }
    this.cache = { at: now, keys, totals };
    return this.cache;
  }

  private compact(now: number): void {
    const from = now - this.windowMs;
    while (this.head < this.entries.length && ((this.entries[this.head] as Entry).t < from || this.entries.length - this.head > this.capacity)) this.head++;
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}

/** "3.2/s · 1 drop" (empty when nothing was seen). */
export function badgeText(s: KeyStats): string {
  if (s.flows === 0) return '';
  const rate = s.rate >= 10 ? Math.round(s.rate).toString() : s.rate.toFixed(1);
  return s.drops ? `${rate}/s · ${s.drops} drop${s.drops === 1 ? '' : 's'}` : `${rate}/s`;
}

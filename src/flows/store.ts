// A bounded ring of recent flows: O(1) append, oldest overwritten, time-ordered queries
// (since/until/first/last with a filter). Times are compared as canonical RFC 3339 strings
// (nine fraction digits, UTC: see filter-time.ts), which order like the instants they name.
import type { Flow } from './flow';

export const DEFAULT_STORE_SIZE = 65_535;

export interface StoreQuery {
  /** Inclusive lower bound (canonical time). */
  since?: string;
  /** Inclusive upper bound (canonical time). */
  until?: string;
  /** The oldest N matching flows. */
  first?: number;
  /** The newest N matching flows (default: all). */
  last?: number;
  filter?: (f: Flow) => boolean;
}

export class FlowRing {
  private buf: (Flow | undefined)[];
  private next = 0;
  private count = 0;
  /** Flows overwritten because the ring was full. */
  evicted = 0;

  constructor(readonly capacity: number = DEFAULT_STORE_SIZE) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`store capacity must be a positive integer, got ${capacity}`);
    this.buf = new Array<Flow | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(flow: Flow): void {
    if (this.count === this.capacity) this.evicted++;
    else this.count++;
    this.buf[this.next] = flow;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
  }

  /** The i-th stored flow, 0 = oldest. */
  private at(i: number): Flow {
    return this.buf[(this.next - this.count + i + this.capacity) % this.capacity] as Flow;
  }

  private inRange(f: Flow, q: StoreQuery): boolean {
    return (q.since === undefined || f.time >= q.since) && (q.until === undefined || f.time <= q.until) && (q.filter === undefined || q.filter(f));
  }

  /**
   * Matching flows in time order. Arrival order is almost time order (records from several CPUs
   * interleave), so the scan collects in arrival order and the result is sorted by time.
   */
  query(q: StoreQuery = {}): Flow[] {
    const out: Flow[] = [];
    if (q.first !== undefined) {
      for (let i = 0; i < this.count && out.length < q.first; i++) {
        const f = this.at(i);
        if (this.inRange(f, q)) out.push(f);
      }
    } else {
      const n = q.last ?? Infinity;
      for (let i = this.count - 1; i >= 0 && out.length < n; i--) {
        const f = this.at(i);
        if (this.inRange(f, q)) out.push(f);
      }
      out.reverse();
    }
    return sortByTime(out);
  }

  /** The most recent `n` flows that pass `filter`, oldest first. */
  last(n: number, filter?: (f: Flow) => boolean): Flow[] {
    return this.query({ last: n, filter });
  }

  clear(): void {
    this.buf = new Array<Flow | undefined>(this.capacity);
    this.next = 0;
    this.count = 0;
  }
}

/** Stable sort by time; cheap when already (nearly) ordered. */
export function sortByTime<T extends { time: string }>(items: T[]): T[] {
  for (let i = 1; i < items.length; i++) {
    if ((items[i - 1] as T).time > (items[i] as T).time) return items.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  }
  return items;
}

/** Merges per-node lists, each time-ordered, into one time-ordered list. */
export function mergeByTime<T extends { time: string }>(lists: T[][]): T[] {
  return sortByTime(lists.flat());
}

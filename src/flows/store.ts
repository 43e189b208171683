// A bounded ring of recent flows: O(1) append, oldest overwritten, time-ordered reads.
import type { Flow } from './flow';

export class FlowRing {
  private buf: (Flow | undefined)[];
  private next = 0;
  private count = 0;
  /** Flows overwritten because the ring was full. */
  evicted = 0;

  constructor(readonly capacity: number) {
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
    this.next = (this.next + 1) % this.capacity;
  }

  /** The most recent `n` flows that pass `filter`, oldest first. */
  last(n: number, filter: (f: Flow) => boolean = () => true): Flow[] {
    const out: Flow[] = [];
    for (let i = 0; i < this.count && out.length < n; i++) {
      const f = this.buf[(this.next - 1 - i + this.capacity) % this.capacity] as Flow;
      if (filter(f)) out.push(f);
    }
    return out.reverse();
  }
}

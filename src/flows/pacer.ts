// Batching cadence for live flows: at most one batch per interval, but the first flows after a
// quiet spell go out at once (on the next turn of the event loop, so a burst is still one batch).
// A fixed timer adds up to one whole interval to every flow's latency at each hop; this adds
// nothing at low rates and keeps the same cadence at high ones.
import { performance } from 'node:perf_hooks';

export class Pacer {
  private last = -Infinity;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;

  constructor(private readonly intervalMs: number, private readonly run: () => void, private readonly now = () => performance.now()) {}

  /** Something is pending: run soon, but not sooner than intervalMs after the previous run. */
  poke(): void {
    if (this.timer || this.disposed) return;
    const wait = Math.max(0, this.last + this.intervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.last = this.now();
      this.run();
    }, wait);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

// Latest-wins, coalesced application of desired state (iptables rule sets): bursts of changes
// become one apply; applies never overlap; flush() waits until everything scheduled is applied.
export abstract class CoalescingApplier<T> {
  private pending: T | undefined;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  applyCount = 0;
  lastError: string | undefined;

  constructor(protected readonly log: (msg: string) => void, private readonly what: string, private readonly delayMs = 20) {}

  /** Does the work for one desired state; throws on failure. */
  protected abstract apply(state: T): Promise<void>;

  /** Schedules an apply of this complete desired state (coalesced with later updates). */
  update(state: T): void {
    this.pending = state;
    if (!this.timer) this.timer = setTimeout(() => { this.timer = undefined; void this.kick(); }, this.delayMs);
  }

  /** Resolves once everything scheduled so far has been applied. */
  async flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    await this.kick();
    while (this.running) await this.running;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private async kick(): Promise<void> {
    if (this.running) return this.running.then(() => this.kick());
    const state = this.pending;
    if (state === undefined) return;
    this.pending = undefined;
    this.running = this.applyCounted(state).finally(() => { this.running = undefined; });
    return this.running;
  }

  private async applyCounted(state: T): Promise<void> {
    try {
      await this.apply(state);
      this.applyCount++;
      this.lastError = undefined;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.log(`${this.what} failed: ${this.lastError}`);
    }
  }
}

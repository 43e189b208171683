// The webview's row state: all rows (bounded), the rows the filter bar shows, the namespaces seen
// (for the namespace chip), and the sequence check that turns a missed batch into a snapshot
// request. Batches arrive as wire lines (JSON text) and wait in a queue; `ingest` parses,
// validates and maps them to rows until a deadline, so the page does the work in slices per
// animation frame instead of one long task per batch. Nothing is dropped silently: invalid lines
// and lines skipped while the page was more than maxRows behind are counted. No DOM.
import { type Batch, type FlowRow, type PanelFilter, type Snapshot, type WireRows, decodeLine } from '../../src/panels/flows/protocol';
import { toRow } from '../../src/panels/flows/rows';
import { firstAtLeast, warmSearch } from './format';
import type { RowPredicate } from './query';

/** How many rows to map between two looks at the clock. */
const CLOCK_EVERY = 32;

interface Queued { first: number; lines: string[]; pos: number }

/**
 * Rows in id order without copying: `rows[head..]` of an array that is compacted only now and then,
 * so dropping the oldest rows per frame does not move 100,000 pointers per frame.
 */
export class RowView {
  constructor(private rows: FlowRow[] = [], private head = 0) {}

  get length(): number {
    return this.rows.length - this.head;
  }

  at(i: number): FlowRow | undefined {
    return i >= 0 ? this.rows[this.head + i] : undefined;
  }

  /** The index of the row with this id, or -1 (binary search: ids increase). */
  indexOfId(id: number): number {
    const i = firstAtLeast(this.rows, id, this.head) - this.head;
    return this.at(i)?.id === id ? i : -1;
  }

  push(r: FlowRow): void {
    this.rows.push(r);
  }

  /** Drops the rows with ids below `id`. */
  dropBefore(id: number): void {
    this.head = firstAtLeast(this.rows, id, this.head);
    if (this.head > 1024 && this.head > this.rows.length >> 3) {
      this.rows = this.rows.slice(this.head);
      this.head = 0;
    }
  }

  filter(p: (r: FlowRow) => boolean): RowView {
    const out: FlowRow[] = [];
    for (let i = this.head; i < this.rows.length; i++) if (p(this.rows[i] as FlowRow)) out.push(this.rows[i] as FlowRow);
    return new RowView(out);
  }

  toArray(): FlowRow[] {
    return this.rows.slice(this.head);
  }
}

export class FlowStore {
  private all = new RowView();
  private shown = new RowView();
  private seq = 0;
  private match: RowPredicate | undefined;
  private queue: Queued[] = [];
  private queued = 0;
  /** Lines that were not a valid flow (dropped, counted). */
  invalid = 0;
  /** Lines never shown because more than maxRows newer rows were already queued behind them. */
  skipped = 0;
  /** Rows mapped since the page started (delivered to the table). */
  ingested = 0;
  readonly namespaces = new Set<string>();
  filter: PanelFilter;

  constructor(public maxRows: number, filter: PanelFilter = {}) {
    this.filter = filter;
  }

  get rows(): RowView {
    return this.shown;
  }

  get held(): RowView {
    return this.all;
  }

  get total(): number {
    return this.all.length;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Lines received and not yet mapped to rows. */
  get pending(): number {
    return this.queued;
  }

  reset(s: Snapshot): void {
    this.seq = s.seq;
    this.maxRows = s.maxRows;
    this.filter = s.filter;
    this.all = new RowView();
    this.shown = new RowView();
    this.queue = [];
    this.queued = 0;
    this.namespaces.clear();
    this.enqueue(s);
  }

  /** Queues a batch; returns 'gap' (and changes nothing) when a batch was missed. */
  applyBatch(b: Batch): 'ok' | 'gap' | 'stale' {
    if (b.seq <= this.seq) return 'stale';
    if (b.seq !== this.seq + 1) return 'gap';
    this.seq = b.seq;
    this.enqueue(b);
    return 'ok';
  }

  /**
   * Maps queued lines to rows until `deadline` (performance.now() time); returns how many lines
   * it consumed. The filter runs on the new rows only.
   */
  ingest(deadline = Infinity): number {
    while (this.queue.length > 0) {
      const q = this.queue[0] as Queued;
      const end = Math.min(q.lines.length, q.pos + CLOCK_EVERY);
      for (; q.pos < end; q.pos++) this.add(q.lines[q.pos] as string, q.first + q.pos);
      if (q.pos >= q.lines.length) this.queue.shift();
      if (performance.now() >= deadline) break;
    }
    const done = this.settle();
    this.trim();
    return done;
  }

  /** Sets the predicate (undefined: every row) and refilters the held rows. */
  setMatch(match: RowPredicate | undefined): void {
    this.match = match;
    this.refilter();
  }

  /** The shown row with this id. */
  byId(id: number): FlowRow | undefined {
    return this.shown.at(this.shown.indexOfId(id));
  }

  private enqueue(w: WireRows): void {
    if (w.lines.length === 0) return;
    this.queue.push({ first: w.first, lines: w.lines, pos: 0 });
    this.queued += w.lines.length;
    // More than maxRows queued: the oldest would be trimmed before anyone saw them. Skip, count.
    while (this.queued > this.maxRows) {
      const q = this.queue[0] as Queued;
      const n = Math.min(q.lines.length - q.pos, this.queued - this.maxRows);
      q.pos += n;
      this.queued -= n;
      this.skipped += n;
      if (q.pos >= q.lines.length) this.queue.shift();
    }
  }

  private added = 0;

  private add(line: string, id: number): void {
    this.added++;
    const resp = decodeLine(line);
    if (!resp) {
      this.invalid++;
      return;
    }
    const r = toRow(resp, id);
    warmSearch(r);
    this.all.push(r);
    if (r.src.namespace) this.namespaces.add(r.src.namespace);
    if (r.dst.namespace) this.namespaces.add(r.dst.namespace);
    const m = this.match;
    if (!m || m(r)) this.shown.push(r);
  }

  private settle(): number {
    const n = this.added;
    this.added = 0;
    this.queued -= n;
    this.ingested += n;
    return n;
  }

  private refilter(): void {
    const m = this.match;
    this.shown = this.all.filter(m ?? (() => true));
  }

  /** Keeps exactly the newest maxRows. */
  private trim(): void {
    const excess = this.all.length - this.maxRows;
    if (excess <= 0) return;
    const first = this.all.at(excess)?.id ?? 0;
    this.all.dropBefore(first);
    this.shown.dropBefore(first);
  }
}

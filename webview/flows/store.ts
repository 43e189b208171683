// The webview's row state: all rows (bounded), the rows the filter bar shows, the namespaces seen
// (for the namespace chip), and the sequence check that turns a missed batch into a snapshot
// request. No DOM.
import type { Batch, FlowRow, PanelFilter, Snapshot } from '../../src/panels/flows/protocol';
import { firstAtLeast } from './format';
import type { RowPredicate } from './query';

export class FlowStore {
  private all: FlowRow[] = [];
  private shown: FlowRow[] = [];
  private seq = 0;
  private match: RowPredicate | undefined;
  readonly namespaces = new Set<string>();
  filter: PanelFilter;

  constructor(public maxRows: number, filter: PanelFilter = {}) {
    this.filter = filter;
  }

  get rows(): readonly FlowRow[] {
    return this.shown;
  }

  get held(): readonly FlowRow[] {
    return this.all;
  }

  get total(): number {
    return this.all.length;
  }

  get lastSeq(): number {
    return this.seq;
  }

  reset(s: Snapshot): void {
    this.seq = s.seq;
    this.maxRows = s.maxRows;
    this.filter = s.filter;
    this.all = s.rows.slice(-s.maxRows);
    this.namespaces.clear();
    for (const r of this.all) this.noteNamespaces(r);
    this.refilter();
  }

  /** Appends a batch; returns 'gap' (and changes nothing) when a batch was missed. */
  applyBatch(b: Batch): 'ok' | 'gap' | 'stale' {
    if (b.seq <= this.seq) return 'stale';
    if (b.seq !== this.seq + 1) return 'gap';
    this.seq = b.seq;
    const m = this.match;
    for (const r of b.rows) {
      this.all.push(r);
      this.noteNamespaces(r);
      if (!m || m(r)) this.shown.push(r);
    }
    this.trim();
    return 'ok';
  }

  /** Sets the predicate (undefined: every row) and refilters the held rows. */
  setMatch(match: RowPredicate | undefined): void {
    this.match = match;
    this.refilter();
  }

  /** The shown row with this id. */
  byId(id: number): FlowRow | undefined {
    const i = firstAtLeast(this.shown, id);
    const r = this.shown[i];
    return r && r.id === id ? r : undefined;
  }

  private noteNamespaces(r: FlowRow): void {
    if (r.src.namespace) this.namespaces.add(r.src.namespace);
    if (r.dst.namespace) this.namespaces.add(r.dst.namespace);
  }

  private refilter(): void {
    const m = this.match;
    this.shown = m ? this.all.filter(m) : this.all.slice();
  }

  private trim(): void {
    // Trim in steps so a steady stream does not copy the whole array on every batch.
    const slack = this.maxRows >= 4096 ? this.maxRows >> 4 : 0;
    if (this.all.length <= this.maxRows + slack) return;
    this.all = this.all.slice(-this.maxRows);
    const first = this.all[0]?.id ?? 0;
    this.shown = this.shown.slice(firstAtLeast(this.shown, first));
  }
}

// The webview's row state: all rows (bounded), the rows the pod filter shows, and the sequence
// check that turns a missed batch into a snapshot request. No DOM.
import type { Batch, FlowRow, PanelFilter, Snapshot } from '../../src/panels/flows/protocol';
import { firstAtLeast, rowMatches } from './format';

export class FlowStore {
  private all: FlowRow[] = [];
  private shown: FlowRow[] = [];
  private seq = 0;
  private text = '';
  filter: PanelFilter;

  constructor(public maxRows: number, filter: PanelFilter = {}) {
    this.filter = filter;
  }

  get rows(): readonly FlowRow[] {
    return this.shown;
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
    this.refilter();
  }

  /** Appends a batch; returns 'gap' (and changes nothing) when a batch was missed. */
  applyBatch(b: Batch): 'ok' | 'gap' | 'stale' {
    if (b.seq <= this.seq) return 'stale';
    if (b.seq !== this.seq + 1) return 'gap';
    this.seq = b.seq;
    this.all.push(...b.rows);
    for (const r of b.rows) if (rowMatches(r, this.text)) this.shown.push(r);
    this.trim();
    return 'ok';
  }

  setText(text: string): void {
    this.text = text;
    this.refilter();
  }

  private refilter(): void {
    this.shown = this.text ? this.all.filter((r) => rowMatches(r, this.text)) : this.all.slice();
  }

  private trim(): void {
    if (this.all.length <= this.maxRows) return;
    this.all = this.all.slice(-this.maxRows);
    const first = this.all[0]?.id ?? 0;
    this.shown = this.shown.slice(firstAtLeast(this.shown, first));
  }
}

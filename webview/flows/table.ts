// A virtualized flow table: fixed-height rows, only the visible ones in the DOM, following the
// newest row while the user is scrolled to the bottom. Text only (textContent), never HTML.
// Keyboard: arrows move the selection, Enter opens the details, Escape clears the selection.
import type { FlowRow } from '../../src/panels/flows/protocol';
import { RowView } from './store';
import { directionLabel, endpointLabel, endpointTitle, formatTime, protoLabel } from './format';

export const ROW_HEIGHT = 22;
const OVERSCAN = 8;

interface Column { key: string; title: string; text: (r: FlowRow) => string; title_?: (r: FlowRow) => string }

export const COLUMNS: readonly Column[] = [
  { key: 'time', title: 'Time', text: (r) => formatTime(r.time), title_: (r) => r.time },
  { key: 'src', title: 'Source', text: (r) => endpointLabel(r.src), title_: (r) => endpointTitle(r.src) },
  { key: 'dst', title: 'Destination', text: (r) => endpointLabel(r.dst), title_: (r) => endpointTitle(r.dst) },
  { key: 'service', title: 'Service', text: (r) => r.service ?? '' },
  { key: 'port', title: 'Port', text: (r) => (r.dst.port === undefined ? '' : String(r.dst.port)) },
  { key: 'l7', title: 'L7', text: (r) => r.l7 },
  { key: 'verdict', title: 'Verdict', text: (r) => r.verdict, title_: (r) => r.dropReason ?? r.verdict },
  { key: 'direction', title: 'Direction', text: (r) => directionLabel(r.direction), title_: (r) => `${r.direction} on ${r.node}` },
  { key: 'proto', title: 'TCP flags', text: protoLabel },
  { key: 'policy', title: 'Policy', text: (r) => r.policy },
];

/** A pooled row element: which row index and row id it shows now. */
type PooledRow = HTMLDivElement & { index: number; rowId: number };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = cls;
  return e;
}

export class FlowTable {
  readonly root = el('div', 'table');
  private readonly viewport = el('div', 'viewport');
  private readonly spacer = el('div', 'spacer');
  private readonly pool: PooledRow[] = [];
  /** The viewport's height, from the ResizeObserver (0 until the first observation). */
  private height = 0;
  private spacerHeight = -1;
  private rows = new RowView();
  private follow = true;
  private frame = 0;
  private selected: number | undefined;
  /** Called with the row the user selected (click or Enter), or undefined when cleared. */
  onSelect: (row: FlowRow | undefined) => void = () => undefined;

  constructor() {
    const header = el('div', 'row header');
    header.setAttribute('role', 'row');
    for (const c of COLUMNS) {
      const h = el('div', `cell col-${c.key}`);
      h.setAttribute('role', 'columnheader');
      h.textContent = c.title;
      header.append(h);
    }
    this.root.setAttribute('role', 'table');
    this.viewport.tabIndex = 0;
    this.viewport.setAttribute('aria-label', 'Flows');
    this.viewport.append(this.spacer);
    this.root.append(header, this.viewport);
    this.viewport.addEventListener('scroll', () => {
      const v = this.viewport;
      // Against the height last rendered (no layout read; rows may have arrived since).
      this.follow = v.scrollTop + (this.height || v.clientHeight) >= this.spacerHeight - ROW_HEIGHT;
      this.schedule();
    });
    this.viewport.addEventListener('click', (e) => this.clicked(e));
    this.viewport.addEventListener('mouseover', (e) => this.hovered(e));
    this.viewport.addEventListener('keydown', (e) => this.key(e));
    new ResizeObserver((entries) => {
      for (const e of entries) this.height = e.contentRect.height;
      this.schedule();
    }).observe(this.viewport);
  }

  setRows(rows: RowView): void {
    this.rows = rows;
    this.schedule();
  }

  /** New rows while ingesting: drawn at the caller's next renderNow (it paces redraws). */
  updateRows(rows: RowView): void {
    this.rows = rows;
  }

  /** Renders now (benchmarks and tests measure a frame's work). */
  renderNow(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.render();
  }

  select(id: number | undefined): void {
    this.selected = id;
    for (const d of this.pool) d.classList.toggle('selected', id !== undefined && d.dataset.id === String(id));
    this.onSelect(id === undefined ? undefined : this.rows.at(this.rows.indexOfId(id)));
  }

  private clicked(e: MouseEvent): void {
    const div = (e.target as HTMLElement).closest<HTMLElement>('.flow-row');
    if (div?.dataset.id) this.select(Number(div.dataset.id));
  }

  private key(e: KeyboardEvent): void {
    if (e.key === 'Escape') return this.select(undefined);
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Enter') return;
    e.preventDefault();
    const i = this.selected === undefined ? -1 : this.rows.indexOfId(this.selected);
    const next = e.key === 'Enter' ? Math.max(i, 0) : e.key === 'ArrowDown' ? Math.min(i + 1, this.rows.length - 1) : Math.max(i - 1, 0);
    const row = this.rows.at(next);
    if (!row) return;
    this.follow = false;
    const v = this.viewport;
    const top = next * ROW_HEIGHT;
    if (top < v.scrollTop) v.scrollTop = top;
    else if (top + ROW_HEIGHT > v.scrollTop + v.clientHeight) v.scrollTop = top + ROW_HEIGHT - v.clientHeight;
    this.select(row.id);
    this.schedule();
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  /**
   * One frame's DOM work, reads before writes (no forced layout in between): the pool slot of row
   * k is k modulo the pool size, so while following the newest rows a slot keeps its row until it
   * scrolls out, and only the newly visible rows are filled.
   */
  private render(): void {
    this.frame = 0;
    const v = this.viewport;
    const height = this.height || v.clientHeight;
    const total = this.rows.length * ROW_HEIGHT;
    const top = this.follow ? Math.max(0, total - height) : Math.min(v.scrollTop, Math.max(0, total - height));
    // Following the newest rows nobody scrolls: no overscan (every redraw lays out new text).
    const over = this.follow ? 1 : OVERSCAN;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - over);
    const count = Math.max(0, Math.min(this.rows.length - first, Math.ceil(height / ROW_HEIGHT) + 2 * over));
    const want = Math.ceil(height / ROW_HEIGHT) + 2 * OVERSCAN;
    while (this.pool.length < want) this.pool.push(this.newRow());
    if (this.spacerHeight !== total) {
      this.spacerHeight = total;
      this.spacer.style.height = `${total}px`;
    }
    if (this.follow && v.scrollTop !== top) v.scrollTop = top;
    const n = this.pool.length;
    for (let k = 0; k < n; k++) {
      const index = first + k;
      const div = this.pool[index % n] as PooledRow;
      const row = k < count ? this.rows.at(index) : undefined;
      if (!row) {
        if (!div.hidden) div.hidden = true;
        continue;
      }
      if (div.hidden) div.hidden = false;
      if (div.index !== index) {
        div.index = index;
        div.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
      }
      this.fill(div, row);
    }
  }

  private newRow(): PooledRow {
    const div: PooledRow = Object.assign(el('div', 'row flow-row'), { index: -1, rowId: -1 });
    div.setAttribute('role', 'row');
    for (const c of COLUMNS) {
      const cell = el('div', `cell col-${c.key}`);
      cell.dataset.col = c.key;
      cell.setAttribute('role', 'cell');
      cell.append(document.createTextNode(''));
      div.append(cell);
    }
    this.spacer.append(div);
    return div;
  }

  private fill(div: PooledRow, row: FlowRow): void {
    const selected = row.id === this.selected;
    if (div.classList.contains('selected') !== selected) div.classList.toggle('selected', selected);
    if (div.rowId === row.id) return;
    div.rowId = row.id;
    div.dataset.id = String(row.id);
    div.dataset.verdict = row.verdict;
    // One Text node per cell, written only when its text changes; titles are set on hover.
    for (let i = 0; i < COLUMNS.length; i++) {
      const text = (div.children[i] as HTMLElement).firstChild as Text;
      const value = (COLUMNS[i] as Column).text(row);
      if (text.data !== value) text.data = value;
    }
  }

  /** The hovered cell's tooltip, from its row (cheaper than a title on every cell of every frame). */
  private hovered(e: MouseEvent): void {
    const cell = (e.target as HTMLElement).closest<HTMLElement>('.flow-row .cell');
    const div = cell?.parentElement as PooledRow | null;
    const col = COLUMNS.find((c) => c.key === cell?.dataset.col);
    const row = div ? this.rows.at(this.rows.indexOfId(div.rowId)) : undefined;
    if (cell && col && row) cell.title = col.title_ ? col.title_(row) : col.text(row);
  }
}

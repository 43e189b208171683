// A virtualized flow table: fixed-height rows, only the visible ones in the DOM, following the
// newest row while the user is scrolled to the bottom. Text only (textContent), never HTML.
// Keyboard: arrows move the selection, Enter opens the details, Escape clears the selection.
import type { FlowRow } from '../../src/panels/flows/protocol';
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

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = cls;
  return e;
}

export class FlowTable {
  readonly root = el('div', 'table');
  private readonly viewport = el('div', 'viewport');
  private readonly spacer = el('div', 'spacer');
  private readonly pool: HTMLDivElement[] = [];
  private rows: readonly FlowRow[] = [];
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
      this.follow = v.scrollTop + v.clientHeight >= v.scrollHeight - ROW_HEIGHT;
      this.schedule();
    });
    this.viewport.addEventListener('click', (e) => this.clicked(e));
    this.viewport.addEventListener('keydown', (e) => this.key(e));
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
  }

  setRows(rows: readonly FlowRow[]): void {
    this.rows = rows;
    this.schedule();
  }

  /** Renders now (benchmarks and tests measure a frame's work). */
  renderNow(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.render();
  }

  select(id: number | undefined): void {
    this.selected = id;
    for (const d of this.pool) d.classList.toggle('selected', id !== undefined && d.dataset.id === String(id));
    this.onSelect(id === undefined ? undefined : this.rows.find((r) => r.id === id));
  }

  private clicked(e: MouseEvent): void {
    const div = (e.target as HTMLElement).closest<HTMLElement>('.flow-row');
    if (div?.dataset.id) this.select(Number(div.dataset.id));
  }

  private key(e: KeyboardEvent): void {
    if (e.key === 'Escape') return this.select(undefined);
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Enter') return;
    e.preventDefault();
    const i = this.selected === undefined ? -1 : this.rows.findIndex((r) => r.id === this.selected);
    const next = e.key === 'Enter' ? Math.max(i, 0) : e.key === 'ArrowDown' ? Math.min(i + 1, this.rows.length - 1) : Math.max(i - 1, 0);
    const row = this.rows[next];
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

  private render(): void {
    this.frame = 0;
    const v = this.viewport;
    this.spacer.style.height = `${this.rows.length * ROW_HEIGHT}px`;
    if (this.follow) v.scrollTop = v.scrollHeight;
    const first = Math.max(0, Math.floor(v.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const count = Math.min(this.rows.length - first, Math.ceil(v.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN);
    while (this.pool.length < count) this.pool.push(this.newRow());
    for (let i = 0; i < this.pool.length; i++) {
      const div = this.pool[i] as HTMLDivElement;
      const row = i < count ? this.rows[first + i] : undefined;
      if (!row) {
        div.hidden = true;
        continue;
      }
      div.hidden = false;
      div.style.transform = `translateY(${(first + i) * ROW_HEIGHT}px)`;
      this.fill(div, row);
    }
  }

  private newRow(): HTMLDivElement {
    const div = el('div', 'row flow-row');
    div.setAttribute('role', 'row');
    for (const c of COLUMNS) {
      const cell = el('div', `cell col-${c.key}`);
      cell.dataset.col = c.key;
      cell.setAttribute('role', 'cell');
      div.append(cell);
    }
    this.spacer.append(div);
    return div;
  }

  private fill(div: HTMLDivElement, row: FlowRow): void {
    div.classList.toggle('selected', row.id === this.selected);
    if (div.dataset.id === String(row.id)) return;
    div.dataset.id = String(row.id);
    div.dataset.verdict = row.verdict;
    COLUMNS.forEach((c, i) => {
      const cell = div.children[i] as HTMLElement;
      cell.textContent = c.text(row);
      cell.title = c.title_ ? c.title_(row) : cell.textContent;
    });
  }
}

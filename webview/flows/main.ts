// The Flows panel webview: filter bar (hubble-style flags, quick chips), counts, agent status,
// pause, clear, export, over a virtualized table and a details pane. Talks to the host only
// through the Flows contract.
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import './style.css';
import { type InitialState, type Status, isInitialState } from '../../src/panels/flows/protocol';
import { FlowsClient } from './client';
import { DetailsPane } from './details';
import { scopeLabel } from './format';
import { compileQuery, hasFlag, toggleFlag } from './query';
import { FlowStore, type RowView } from './store';
import { FlowTable } from './table';

function readInitialState(): InitialState {
  try {
    const s: unknown = JSON.parse(document.body.dataset.state ?? '');
    if (isInitialState(s)) return s;
  } catch {
    // fall through to the default
  }
  return { filter: {}, maxRows: 10_000 };
}

function make<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** What the page itself dropped or has not shown yet (empty when all is well). */
function pageNotes(store: FlowStore): string {
  const notes: string[] = [];
  if (store.pending > 2000) notes.push(`${store.pending} flows queued`);
  if (store.skipped) notes.push(`${store.skipped} skipped by the panel (behind by more than ${store.maxRows})`);
  if (store.invalid) notes.push(`${store.invalid} invalid dropped`);
  return notes.join(' · ');
}

function statusText(s: Status): string {
  if (s.error) return s.error;
  if (s.recording) return s.recording;
  const agents = `${s.connected}/${s.agents} agent${s.agents === 1 ? '' : 's'}`;
  return s.lost ? `${agents} · ${s.lost} lost` : agents;
}

const CHIPS: readonly [flag: string, value: string][] = [['verdict', 'FORWARDED'], ['verdict', 'DROPPED'], ['protocol', 'tcp'], ['protocol', 'udp'], ['protocol', 'dns'], ['protocol', 'http']];

/**
 * When each of the last rows reached the table (wall clock ms), read by the e2e latency measurement
 * (kernel event → panel row) as `window.__flowsArrivals`: row time → arrival. Bounded, cheap.
 */
const arrivals: [time: string, arrivedMs: number][] = [];
function noteArrivals(rows: RowView, n: number): void {
  const now = performance.timeOrigin + performance.now();
  for (let i = Math.max(0, rows.length - Math.min(n, 2000)); i < rows.length; i++) arrivals.push([rows.at(i)?.time ?? '', now]);
  if (arrivals.length > 4000) arrivals.splice(0, arrivals.length - 2000);
}
(window as unknown as { __flowsArrivals: typeof arrivals }).__flowsArrivals = arrivals;

/** The most main-thread time one animation frame spends turning wire lines into rows. */
const INGEST_BUDGET_MS = 4;
/** The most often the table redraws while rows stream in (the host's batch period). */
const TABLE_INTERVAL_MS = 66;

function main(): void {
  const init = readInitialState();
  const store = new FlowStore(init.maxRows, init.filter);
  const table = new FlowTable();
  const filter = make('vscode-textfield', { id: 'filter', placeholder: 'Filter: --namespace shop --verdict DROPPED --port 53, or words to search', 'aria-label': 'Filter flows' });
  filter.append(make('vscode-icon', { slot: 'content-before', name: 'filter' }));
  const filterError = make('div', { id: 'filter-error', class: 'filter-error', role: 'alert' });
  const scope = make('span', { id: 'scope', class: 'scope' });
  const count = make('vscode-badge', { id: 'count', title: 'flows shown / held' }, '0');
  const status = make('span', { id: 'status', class: 'status' }, 'waiting for the extension…');
  const pause = make('vscode-button', { id: 'pause', secondary: '', icon: 'debug-pause' }, 'Pause');
  const clear = make('vscode-button', { id: 'clear', secondary: '', icon: 'clear-all' }, 'Clear');
  const exportJson = make('vscode-button', { id: 'export-jsonl', secondary: '', icon: 'save', title: 'Save the shown flows as JSON lines (hubble observe -o json)' }, 'JSONL');
  const exportCsv = make('vscode-button', { id: 'export-csv', secondary: '', icon: 'save', title: 'Save the shown flows as CSV' }, 'CSV');
  const nsChip = make('select', { id: 'chip-namespace', class: 'chip-select', 'aria-label': 'Namespace' });
  const chips = make('div', { class: 'chips' });
  const empty = make('div', { id: 'empty', class: 'empty' }, 'Waiting for flows…');
  const toolbar = make('div', { class: 'toolbar' });
  toolbar.append(filter, scope, count, status, pause, clear, exportJson, exportCsv);
  chips.append(nsChip);
  const chipButtons = CHIPS.map(([flag, value]) => {
    const b = make('button', { class: 'chip', 'data-flag': flag, 'data-value': value, 'aria-pressed': 'false' }, value);
    b.addEventListener('click', () => setText(toggleFlag(filter.value, flag, value)));
    chips.append(b);
    return b;
  });
  const body = make('div', { class: 'body' });
  const main_ = make('div', { class: 'main' });
  main_.append(table.root, empty);
  const client: FlowsClient = new FlowsClient(acquireVsCodeApi(), {
    reset: (s) => { store.reset(s); render(); pump(); },
    batch: (b) => {
      const r = store.applyBatch(b);
      if (r === 'gap') void client.request('snapshot', {}).then((s) => { store.reset(s); render(); pump(); }, (e: unknown) => console.warn('flows webview:', e));
      else if (r === 'ok') pump();
    },
    status: (s) => {
      paused = s.paused;
      hostStatus = s;
      renderStatus();
      pause.textContent = paused ? 'Resume' : 'Pause';
      pause.setAttribute('icon', paused ? 'debug-continue' : 'debug-pause');
      pause.hidden = s.recording !== undefined; // a recording is not a stream: nothing to pause
    },
    setFilter: ({ text }) => setText(text),
  });
  const details = new DetailsPane({
    explain: (id) => client.request('explain', { id }),
    openPolicy: (link) => client.command('openPolicy', link),
    filterLabel: (side, label) => setText(toggleFlag(filter.value, `${side}-label`, label)),
    close: () => table.select(undefined),
  });
  body.append(main_, details.root);
  document.getElementById('app')?.append(toolbar, chips, filterError, body);
  table.onSelect = (row) => details.show(row);

  let paused = false;
  let hostStatus: Status | undefined;
  let noted = '';
  const renderStatus = () => {
    const page = pageNotes(store);
    if (hostStatus === undefined && !page) return;
    const text = [hostStatus ? statusText(hostStatus) : '', page].filter(Boolean).join(' · ');
    if (text === noted) return;
    noted = text;
    status.textContent = text;
    status.title = text;
    status.classList.toggle('error', Boolean(hostStatus?.error));
  };
  // Ingest in slices: at most INGEST_BUDGET_MS of each animation frame, then render that frame.
  let pumping = 0;
  let drawn = 0;
  const pump = () => {
    if (!pumping && store.pending > 0) pumping = requestAnimationFrame(step);
  };
  const step = () => {
    pumping = 0;
    const now = performance.now();
    const n = store.ingest(now + INGEST_BUDGET_MS);
    if (n > 0) {
      noteArrivals(store.held, n);
      renderNamespaces();
      render(true);
      // A live tail redraws at most every TABLE_INTERVAL_MS, and once when caught up: painting a
      // table that scrolls every frame is most of a frame's cost, and nobody reads 300 rows/frame.
      if (now - drawn >= TABLE_INTERVAL_MS || store.pending === 0) {
        drawn = now;
        table.renderNow();
      }
    }
    renderStatus();
    pump();
  };
  const put = (e: HTMLElement, text: string) => { if (e.textContent !== text) e.textContent = text; };
  const render = (live = false) => {
    if (live) table.updateRows(store.rows);
    else table.setRows(store.rows);
    put(scope, scopeLabel(store.filter));
    put(count, store.rows.length === store.total ? String(store.total) : `${store.rows.length} / ${store.total}`);
    const none = store.rows.length > 0;
    if (empty.hidden !== none) empty.hidden = none;
    put(empty, store.total > 0 ? 'No flows match the filter.' : 'Waiting for flows…');
  };
  const renderNamespaces = () => {
    if (nsChip.options.length === store.namespaces.size + 1) return;
    const current = [...store.namespaces].sort();
    const selected = current.find((n) => hasFlag(filter.value, 'namespace', n)) ?? '';
    nsChip.replaceChildren(make('option', { value: '' }, 'all namespaces'), ...current.map((n) => make('option', { value: n }, n)));
    nsChip.value = selected;
  };
  const applyText = () => {
    const q = compileQuery(filter.value);
    filterError.textContent = q.ok ? '' : q.error;
    filter.toggleAttribute('invalid', !q.ok);
    if (q.ok) store.setMatch(q.mode === 'all' ? undefined : q.match);
    for (const b of chipButtons) b.setAttribute('aria-pressed', String(hasFlag(filter.value, b.dataset.flag ?? '', b.dataset.value ?? '')));
    render();
    // The filtered rows are on screen when the input event returns, not one frame later.
    table.renderNow();
  };
  const saved = (): string | undefined => {
    const st = client.api.getState?.();
    return typeof st === 'object' && st !== null && typeof (st as { text?: unknown }).text === 'string' ? (st as { text: string }).text : undefined;
  };
  filter.addEventListener('change', () => client.api.setState?.({ text: filter.value }));
  const setText = (text: string) => {
    client.api.setState?.({ text });
    filter.value = text;
    applyText();
  };
  nsChip.addEventListener('change', () => {
    let text = filter.value;
    for (const n of store.namespaces) if (hasFlag(text, 'namespace', n)) text = toggleFlag(text, 'namespace', n);
    setText(nsChip.value ? toggleFlag(text, 'namespace', nsChip.value) : text);
  });
  filter.addEventListener('input', () => { client.api.setState?.({ text: filter.value }); applyText(); });
  pause.addEventListener('click', () => client.command('pause', { paused: !paused }));
  clear.addEventListener('click', () => client.command('clear', {}));
  exportJson.addEventListener('click', () => client.command('export', { format: 'jsonl', filter: filter.value }));
  exportCsv.addEventListener('click', () => client.command('export', { format: 'csv', filter: filter.value }));
  // Read by the benchmark and the e2e tests: what the page holds, shows, has queued and dropped.
  (window as unknown as { __flowsStats: () => object }).__flowsStats = () => ({
    held: store.total, shown: store.rows.length, pending: store.pending, ingested: store.ingested, skipped: store.skipped, invalid: store.invalid,
  });
  const restored = saved() ?? init.filter.text;
  if (restored) setText(restored);
  render();
  client.start(window);
}

main();

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
import { FlowStore } from './store';
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

function statusText(s: Status): string {
  if (s.error) return s.error;
  const agents = `${s.connected}/${s.agents} agent${s.agents === 1 ? '' : 's'}`;
  return s.lost ? `${agents} · ${s.lost} lost` : agents;
}

const CHIPS: readonly [flag: string, value: string][] = [['verdict', 'FORWARDED'], ['verdict', 'DROPPED'], ['protocol', 'tcp'], ['protocol', 'udp'], ['protocol', 'dns'], ['protocol', 'http']];

/**
 * When each of the last rows arrived (wall clock ms), read by the e2e latency measurement
 * (kernel event → panel row) as `window.__flowsArrivals`: row time → arrival. Bounded, cheap.
 */
const arrivals: [time: string, arrivedMs: number][] = [];
function noteArrivals(rows: readonly { time: string }[]): void {
  const now = performance.timeOrigin + performance.now();
  for (const r of rows) arrivals.push([r.time, now]);
  if (arrivals.length > 4000) arrivals.splice(0, arrivals.length - 2000);
}
(window as unknown as { __flowsArrivals: typeof arrivals }).__flowsArrivals = arrivals;

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
    reset: (s) => { store.reset(s); renderNamespaces(); render(); },
    batch: (b) => {
      noteArrivals(b.rows);
      const r = store.applyBatch(b);
      if (r === 'gap') void client.request('snapshot', {}).then((s) => { store.reset(s); render(); }, (e: unknown) => console.warn('flows webview:', e));
      else if (r === 'ok') { renderNamespaces(); render(); }
    },
    status: (s) => {
      paused = s.paused;
      status.textContent = statusText(s);
      status.title = status.textContent;
      status.classList.toggle('error', Boolean(s.error));
      pause.textContent = paused ? 'Resume' : 'Pause';
      pause.setAttribute('icon', paused ? 'debug-continue' : 'debug-pause');
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
  const render = () => {
    table.setRows(store.rows);
    scope.textContent = scopeLabel(store.filter);
    count.textContent = store.rows.length === store.total ? String(store.total) : `${store.rows.length} / ${store.total}`;
    empty.hidden = store.rows.length > 0;
    empty.textContent = store.total > 0 ? 'No flows match the filter.' : 'Waiting for flows…';
  };
  const renderNamespaces = () => {
    const current = [...store.namespaces].sort();
    if (nsChip.options.length === current.length + 1) return;
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
  const restored = saved() ?? init.filter.text;
  if (restored) setText(restored);
  render();
  client.start(window);
}

main();

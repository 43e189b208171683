// The Flows panel webview: toolbar (pod filter, counts, agent status, pause, clear) over a
// virtualized table. Talks to the host only through the Flows contract.
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import './style.css';
import { type InitialState, type Status, isInitialState } from '../../src/panels/flows/protocol';
import { FlowsClient } from './client';
import { scopeLabel } from './format';
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

function main(): void {
  const init = readInitialState();
  const store = new FlowStore(init.maxRows, init.filter);
  const table = new FlowTable();
  const filter = make('vscode-textfield', { id: 'pod-filter', placeholder: 'Filter by pod, namespace or IP', 'aria-label': 'Filter flows by pod' });
  filter.append(make('vscode-icon', { slot: 'content-before', name: 'filter' }));
  const scope = make('span', { id: 'scope', class: 'scope' });
  const count = make('vscode-badge', { id: 'count', title: 'flows shown / held' }, '0');
  const status = make('span', { id: 'status', class: 'status' }, 'waiting for the extension…');
  const pause = make('vscode-button', { id: 'pause', secondary: '', icon: 'debug-pause' }, 'Pause');
  const clear = make('vscode-button', { id: 'clear', secondary: '', icon: 'clear-all' }, 'Clear');
  const empty = make('div', { id: 'empty', class: 'empty' }, 'Waiting for flows…');
  const toolbar = make('div', { class: 'toolbar' });
  toolbar.append(filter, scope, count, status, pause, clear);
  document.getElementById('app')?.append(toolbar, table.root, empty);

  let paused = false;
  const render = () => {
    table.setRows(store.rows);
    scope.textContent = scopeLabel(store.filter);
    count.textContent = store.rows.length === store.total ? String(store.total) : `${store.rows.length} / ${store.total}`;
    empty.hidden = store.rows.length > 0;
    empty.textContent = store.total > 0 ? 'No flows match the filter.' : 'Waiting for flows…';
  };
  const client = new FlowsClient(acquireVsCodeApi(), {
    reset: (s) => { store.reset(s); render(); },
    batch: (b) => {
      const r = store.applyBatch(b);
      if (r === 'gap') void client.request('snapshot', {}).then((s) => { store.reset(s); render(); }, (e: unknown) => console.warn('flows webview:', e));
      else if (r === 'ok') render();
    },
    status: (s) => {
      paused = s.paused;
      status.textContent = statusText(s);
      status.title = status.textContent;
      status.classList.toggle('error', Boolean(s.error));
      pause.textContent = paused ? 'Resume' : 'Pause';
      pause.setAttribute('icon', paused ? 'debug-continue' : 'debug-pause');
    },
  });
  filter.addEventListener('input', () => { store.setText(filter.value); render(); });
  pause.addEventListener('click', () => client.command('pause', { paused: !paused }));
  clear.addEventListener('click', () => client.command('clear', {}));
  render();
  client.start(window);
}

main();

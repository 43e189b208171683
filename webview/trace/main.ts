// The Trace pod webview: one pod's live timeline grouped by connection (most recent first): DNS,
// connects with latency, HTTP, resets, retransmits, drops with reasons and policies. Text only
// (textContent), never HTML. Renders at most once per animation frame.
import './style.css';
import type { CommandMessage } from '../../src/panels/ipc';
import { el, startViewPanel } from '../shared/view-panel';
import { type TraceConnection, type TraceContract, type TraceEvent, type TraceView, traceGuards } from '../../src/panels/trace/protocol';

const ICONS: Record<TraceEvent['kind'], string> = {
  dns: 'globe', connect: 'plug', accept: 'debug-step-into', connect_failed: 'error', http: 'cloud', reset: 'debug-restart', retransmit: 'sync', drop: 'circle-slash', close: 'close',
};

/** "12:03:04.123" from an RFC 3339 time. */
function clock(time: string): string {
  return /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(time)?.[1] ?? time;
}

function eventRow(e: TraceEvent): HTMLElement {
  const row = el('div', `event ${e.severity}`);
  row.dataset.kind = e.kind;
  row.append(el('span', 'time', clock(e.time)), el('span', `codicon codicon-${ICONS[e.kind]}`), el('span', 'text', e.text));
  if (e.latencyMs !== undefined) row.append(el('span', 'latency', `${e.latencyMs} ms`));
  for (const x of e.explain ?? []) row.append(el('div', 'explain', x));
  return row;
}

function connection(c: TraceConnection): HTMLElement {
  const box = el('section', `conn${c.problems ? ' has-problems' : ''}`);
  box.dataset.id = c.id;
  const head = el('div', 'conn-head');
  head.append(el('span', 'conn-label', c.label), el('span', 'conn-meta', `${c.protocol} · ${clock(c.first)} – ${clock(c.last)}${c.problems ? ` · ${c.problems} problem${c.problems === 1 ? '' : 's'}` : ''}`));
  box.append(head, ...c.events.map(eventRow));
  return box;
}

function header(v: TraceView, post: (m: CommandMessage<TraceContract>) => void): HTMLElement {
  const bar = el('header', 'bar');
  const flows = el('button', 'flows', 'Flows');
  flows.id = 'show-flows';
  flows.title = 'Open the Flows panel for this pod';
  flows.addEventListener('click', () => post({ kind: 'command', name: 'showFlows', payload: {} }));
  bar.append(el('h2', '', `Trace — pod ${v.pod}`), el('span', 'meta', `${v.connections.length} connection(s) · ${v.events} event(s) · ${v.status}`), flows);
  return bar;
}

function render(app: HTMLElement, v: TraceView, post: (m: CommandMessage<TraceContract>) => void): void {
  const parts: HTMLElement[] = [header(v, post)];
  if (v.error) parts.push(el('div', 'error', v.error));
  if (v.connections.length === 0 && !v.error) parts.push(el('div', 'empty', 'No connections, DNS lookups or drops seen for this pod yet.'));
  parts.push(...v.connections.map(connection));
  app.replaceChildren(...parts);
}

startViewPanel<TraceContract>('trace', traceGuards, render);

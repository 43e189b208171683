// The "Why can't A reach B?" webview: the walk DNS → Service → endpoints → translation → egress
// policy → ingress policy → kernel, one row per step with its status icon and evidence, the first
// failing step marked. Text only (textContent), never HTML.
import './style.css';
import type { CommandMessage } from '../../src/panels/ipc';
import { el, startViewPanel } from '../shared/view-panel';
import type { Step, StepStatus } from '../../src/extension/policies/reach';
import { type ReachContract, type ReachView, reachGuards } from '../../src/panels/reach/protocol';

const ICONS: Record<StepStatus, string> = { ok: 'pass', fail: 'error', warn: 'warning', skip: 'circle-slash' };
const LABELS: Record<StepStatus, string> = { ok: 'passed', fail: 'failed', warn: 'warning', skip: 'not checked' };

function stepRow(s: Step, first: boolean): HTMLElement {
  const li = el('li', `step ${s.status}${first ? ' first-failure' : ''}`);
  li.dataset.status = s.status;
  li.dataset.step = s.name;
  const icon = el('span', `codicon codicon-${ICONS[s.status]}`);
  icon.setAttribute('role', 'img');
  icon.setAttribute('aria-label', LABELS[s.status]);
  li.append(icon, el('span', 'name', s.name), el('span', 'detail', s.detail));
  if (first) li.append(el('span', 'badge', 'failing step'));
  return li;
}

function button(id: string, icon: string, label: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', 'action');
  b.id = id;
  b.type = 'button';
  b.append(el('span', `codicon codicon-${icon}`), el('span', '', label));
  b.addEventListener('click', onClick);
  return b;
}

function render(v: ReachView, post: (m: CommandMessage<ReachContract>) => void): HTMLElement[] {
  const r = v.report;
  const failing = r.steps.find((s) => s.status === 'fail');
  const bar = el('div', 'bar');
  bar.append(el('h2', '', `Why can't ${r.from} reach ${r.to}:${r.port}/${r.protocol}?`),
    button('rerun', 'refresh', 'Run again', () => post({ kind: 'command', name: 'rerun', payload: {} })),
    button('copy', 'copy', 'Copy as Markdown', () => post({ kind: 'command', name: 'copyMarkdown', payload: {} })));
  const verdict = el('div', `verdict ${failing ? 'fail' : 'ok'}`);
  verdict.id = 'verdict';
  verdict.setAttribute('role', 'status');
  verdict.append(el('span', `codicon codicon-${failing ? 'error' : 'pass-filled'}`), el('span', '', r.verdict));
  const steps = el('ol', 'steps');
  steps.setAttribute('aria-label', 'Steps');
  steps.append(...r.steps.map((s) => stepRow(s, s === failing)));
  const out: HTMLElement[] = [bar, verdict, steps, el('div', 'meta', `checked at ${/T(\d\d:\d\d:\d\d)/.exec(v.at)?.[1] ?? v.at}; steps without evidence are marked not checked: try the connection, then Run again`)];
  if (v.error) out.push(el('div', 'error', v.error));
  return out;
}

startViewPanel<ReachContract>('reach', reachGuards, (app, v, post) => app.replaceChildren(...render(v, post)));

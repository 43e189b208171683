// The Service → backend map webview: frontends → backends with readiness, share of observed
// connections (bars), session affinity and drift. Text only (textContent), never HTML.
import './style.css';
import type { CommandMessage } from '../../src/panels/ipc';
import { el, startViewPanel } from '../shared/view-panel';
import { type BackendsContract, type BackendsView, backendsGuards } from '../../src/panels/backends/protocol';

function table(head: string[], rows: (string | HTMLElement)[][], cls: string): HTMLTableElement {
  const t = el('table', cls);
  const tr = el('tr');
  for (const h of head) tr.append(el('th', '', h));
  t.append(tr);
  for (const r of rows) {
    const row = el('tr');
    for (const c of r) { const td = el('td'); td.append(c); row.append(td); }
    t.append(row);
  }
  return t;
}

function render(v: BackendsView, post: (m: CommandMessage<BackendsContract>) => void): HTMLElement[] {
  const out: HTMLElement[] = [el('h2', '', `${v.service}`), el('div', 'meta', `${v.type} · session affinity: ${v.sessionAffinity} · ${v.total} connection(s) observed in the last ${Math.round(v.windowSec / 60)} min`)];
  if (v.error) return [...out, el('div', 'error', v.error)];
  out.push(el('h3', '', 'Frontends'), table(['Kind', 'Address', 'Port', 'Protocol', 'Target port'], v.frontends.map((f) => [f.kind, f.address, String(f.port), f.protocol, f.targetPort]), 'frontends'));
  const rows = v.backends.map((b) => {
    const bar = el('div', 'bar');
    const fill = el('div', 'fill');
    fill.style.width = `${Math.round(b.share * 100)}%`;
    bar.append(fill);
    const share = el('div', 'share');
    share.append(bar, el('span', 'pct', `${Math.round(b.share * 100)}% (${b.connections})`));
    const pod: string | HTMLElement = b.pod ? el('a', 'pod', b.pod) : b.ip;
    if (b.pod && pod instanceof HTMLElement) {
      pod.setAttribute('href', '#');
      pod.title = 'Trace this pod';
      pod.addEventListener('click', (e) => { e.preventDefault(); post({ kind: 'command', name: 'tracePod', payload: { pod: b.pod as string } }); });
    }
    const flag = (x: boolean | undefined) => (x === undefined ? '?' : x ? '✓' : '✗');
    return [pod, b.ip, b.node ?? '', b.ready ? 'ready' : 'not ready', share, flag(b.declared), flag(b.programmed), flag(b.observed)];
  });
  out.push(el('h3', '', 'Backends'), table(['Pod', 'IP', 'Node', 'Ready', 'Share of connections', 'Declared', 'Programmed', 'Observed'], rows, 'backends'));
  if (v.untranslated) out.push(el('div', 'note', `${v.untranslated} more connection(s) went to a frontend address without an observed translation to a backend: not counted in the shares`));
  if (v.programmedNote) out.push(el('div', 'note', v.programmedNote));
  out.push(el('h3', '', 'Drift'));
  if (v.drift.length === 0) out.push(el('div', 'ok', v.programmedNote ? 'no drift between declared and observed backends' : 'no drift between declared, programmed and observed backends'));
  for (const d of v.drift) out.push(el('div', 'drift', `⚠ ${d}`));
  return out;
}

startViewPanel<BackendsContract>('backends', backendsGuards, (app, v, post) => app.replaceChildren(...render(v, post)));

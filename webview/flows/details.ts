// The details pane: every field of the selected flow (flattened), the labels of both ends (click
// to filter by one), and the policy explanation with links that open the policy at the rule.
// Text only (textContent), never HTML.
import type { Explanation, FlowRow, PolicyLink } from '../../src/panels/flows/protocol';
import { endpointTitle } from './format';

export interface DetailsActions {
  explain(id: number): Promise<Explanation>;
  openPolicy(link: PolicyLink): void;
  filterLabel(side: 'from' | 'to', label: string): void;
  close(): void;
}

/** Every leaf of a JSON value as "a.b[0].c" → text, in document order. */
export function flatten(v: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (Array.isArray(v)) {
    if (v.length === 0) out.push([prefix, '[]']);
    v.forEach((x, i) => flatten(x, `${prefix}[${i}]`, out));
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.push([prefix, String(v)]);
  return out;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function linkLabel(l: PolicyLink): string {
  const rule = l.direction !== undefined && l.ruleIndex !== undefined ? ` (${l.direction} rule ${l.ruleIndex + 1})` : '';
  return `${l.namespace}/${l.name}${rule}`;
}

export class DetailsPane {
  readonly root = el('aside', 'details');
  private current = 0;

  constructor(private readonly actions: DetailsActions) {
    this.root.hidden = true;
    this.root.setAttribute('aria-label', 'Flow details');
  }

  show(row: FlowRow | undefined): void {
    this.root.hidden = !row;
    this.root.replaceChildren();
    if (!row) return;
    const id = (this.current = row.id);
    const close = el('button', 'close', '×');
    close.title = 'Close details (Escape)';
    close.addEventListener('click', () => this.actions.close());
    this.root.append(close, el('h3', '', `${endpointTitle(row.src)} → ${endpointTitle(row.dst)}`));
    const policy = el('section', 'policy');
    policy.append(el('h4', '', 'Policy'), el('div', 'muted', 'explaining…'));
    this.root.append(policy, this.labels(row), this.fields(row));
    this.actions.explain(id).then(
      (x) => { if (this.current === id) this.fillPolicy(policy, row, x); },
      (e: unknown) => { if (this.current === id) policy.replaceChildren(el('h4', '', 'Policy'), el('div', 'muted', `no explanation: ${e instanceof Error ? e.message : String(e)}`)); },
    );
  }

  private fillPolicy(section: HTMLElement, row: FlowRow, x: Explanation): void {
    section.replaceChildren(el('h4', '', 'Policy'));
    if (x.unavailable) section.append(el('div', 'muted', x.unavailable));
    for (const line of x.lines) section.append(el('div', 'explain-line', line));
    const links = x.links.length ? x.links : refsOf(row);
    for (const l of links) {
      const a = el('a', 'policy-link', linkLabel(l));
      a.href = '#';
      a.addEventListener('click', (e) => { e.preventDefault(); this.actions.openPolicy(l); });
      section.append(el('div', '', ''), a);
    }
  }

  private labels(row: FlowRow): HTMLElement {
    const s = el('section', 'labels');
    s.append(el('h4', '', 'Labels'));
    for (const [side, ep] of [['from', row.flow.source], ['to', row.flow.destination]] as const) {
      const line = el('div', 'label-line');
      line.append(el('span', 'muted', side === 'from' ? 'source ' : 'destination '));
      for (const label of ep?.labels ?? []) {
        const chip = el('button', 'label-chip', label.replace(/^k8s:/, ''));
        chip.title = `Filter: --${side}-label ${label.replace(/^k8s:/, '')}`;
        chip.addEventListener('click', () => this.actions.filterLabel(side, label.replace(/^k8s:/, '')));
        line.append(chip);
      }
      s.append(line);
    }
    return s;
  }

  private fields(row: FlowRow): HTMLElement {
    const s = el('section', 'fields');
    s.append(el('h4', '', 'Fields'));
    const table = el('table');
    for (const [k, v] of flatten(row.flow)) {
      const tr = el('tr');
      tr.append(el('td', 'field-key', k), el('td', 'field-value', v));
      table.append(tr);
    }
    s.append(table);
    return s;
  }
}

function refsOf(row: FlowRow): PolicyLink[] {
  const f = row.flow;
  const refs = [...(f.egress_denied_by ?? []), ...(f.ingress_denied_by ?? []), ...(f.egress_allowed_by ?? []), ...(f.ingress_allowed_by ?? [])];
  const seen = new Set<string>();
  return refs.filter((r) => !seen.has(`${r.namespace}/${r.name}`) && seen.add(`${r.namespace}/${r.name}`)).map((r) => ({ namespace: r.namespace, name: r.name }));
}

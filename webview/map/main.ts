// The Service map webview: cytoscape (canvas; no eval, no injected styles, so it runs under the
// shell's CSP) with services and workloads grouped by namespace, edges with rates, dropped traffic
// in the theme's error colour. Incremental: known elements keep their positions; only a change
// in the set of elements runs the layout again, seeded with the old positions.
import cytoscape from 'cytoscape';
import './style.css';
import { type CommandMessage, parseFromHost } from '../../src/panels/ipc';
import { type Graph, type MapContract, mapGuards } from '../../src/panels/map/protocol';

declare function acquireVsCodeApi(): { postMessage(m: unknown): void };

const css = (name: string, fallback: string) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;

function theme() {
  return {
    fg: css('--vscode-foreground', '#ccc'), muted: css('--vscode-descriptionForeground', '#999'),
    error: css('--vscode-errorForeground', '#f14c4c'), edge: css('--vscode-charts-blue', '#3794ff'),
    group: css('--vscode-editorWidget-background', '#252526'), border: css('--vscode-panel-border', '#444'),
    svc: css('--vscode-charts-green', '#89d185'), wl: css('--vscode-charts-purple', '#b180d7'), font: css('--vscode-font-family', 'sans-serif'),
  };
}

function styles(t: ReturnType<typeof theme>): cytoscape.StylesheetJson {
  return [
    { selector: 'node', style: { label: 'data(label)', color: t.fg, 'font-family': t.font, 'font-size': 11, 'text-valign': 'bottom', 'text-margin-y': 4, width: 22, height: 22 } },
    { selector: 'node[kind = "service"]', style: { shape: 'round-rectangle', 'background-color': t.svc } },
    { selector: 'node[kind = "workload"]', style: { shape: 'ellipse', 'background-color': t.wl } },
    { selector: 'node[kind = "external"]', style: { shape: 'diamond', 'background-color': t.muted } },
    { selector: ':parent', style: { 'background-color': t.group, 'background-opacity': 0.6, 'border-color': t.border, 'border-width': 1, 'text-valign': 'top', 'font-weight': 'bold', shape: 'round-rectangle', padding: '14px' } },
    { selector: 'edge', style: { width: 2, 'line-color': t.edge, 'target-arrow-color': t.edge, 'target-arrow-shape': 'triangle', 'curve-style': 'bezier', label: 'data(text)', 'font-size': 9, color: t.muted, 'text-rotation': 'autorotate' } },
    { selector: 'edge[drops > 0]', style: { 'line-color': t.error, 'target-arrow-color': t.error, color: t.error, 'line-style': 'dashed' } },
    { selector: ':selected', style: { 'overlay-opacity': 0.2, 'overlay-color': t.fg } },
  ];
}

function edgeText(e: Graph['edges'][number]): string {
  return e.drops ? `${e.rate}/s · ${e.drops} dropped` : `${e.rate}/s`;
}

function main(): void {
  const api = acquireVsCodeApi();
  const post = (m: CommandMessage<MapContract>) => api.postMessage(m);
  const status = document.createElement('div');
  status.id = 'map-status';
  status.className = 'map-status';
  status.textContent = 'waiting for the extension…';
  const container = document.createElement('div');
  container.id = 'cy';
  document.getElementById('app')?.append(status, container);
  // Cytoscape injects a <style> (blocked by the CSP) unless an element with this id exists; the
  // rule it would add is in style.css, loaded from the bundle.
  const placeholder = document.createElement('meta');
  placeholder.id = '__________cytoscape_stylesheet';
  document.head.append(placeholder);
  const cy = cytoscape({ container, style: styles(theme()), wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 4 });
  (window as unknown as { __cy: cytoscape.Core }).__cy = cy;
  let seq = 0;
  const apply = (g: Graph) => {
    if (g.seq <= seq) return;
    seq = g.seq;
    const added = update(cy, g);
    status.textContent = g.error ?? `${g.nodes.filter((n) => n.kind !== 'namespace').length} services and workloads · ${g.edges.length} edges · last ${Math.round(g.windowSec / 60)} min · click a node or edge to see its flows`;
    status.classList.toggle('error', Boolean(g.error));
    if (added) {
      layout(cy);
      if (cy.zoom() > 1.5) { cy.zoom(1.5); cy.center(); }
    }
  };
  cy.on('tap', 'node, edge', (ev) => {
    const filter = ev.target.data('filter') as unknown;
    if (typeof filter === 'string') post({ kind: 'command', name: 'openFlows', payload: { filter } });
  });
  window.addEventListener('message', (e: MessageEvent) => {
    const p = parseFromHost(mapGuards, e.data);
    if (!p.ok || p.value.kind !== 'notification') return console.warn('service map: dropped message', p.ok ? 'response' : p.error);
    apply(p.value.payload);
  });
  post({ kind: 'command', name: 'ready', payload: {} });
}

/**
 * cose (force-directed, seeded with the current positions) up to a few hundred nodes; beyond that
 * its quadratic steps take seconds, so large graphs get a grid per namespace.
 */
function layout(cy: cytoscape.Core): void {
  const n = cy.nodes().length;
  const t0 = performance.now();
  if (n <= 150) cy.layout({ name: 'cose', animate: false, randomize: false, nodeDimensionsIncludeLabels: true, numIter: 300 } as cytoscape.LayoutOptions).run();
  else {
    let x = 0;
    cy.nodes(':parent').forEach((ns) => {
      const kids = ns.children();
      const cols = Math.max(1, Math.ceil(Math.sqrt(kids.length)));
      kids.forEach((k, i) => { k.position({ x: x + (i % cols) * 90, y: Math.floor(i / cols) * 70 }); });
      x += cols * 90 + 120;
    });
    const loose = cy.nodes(':orphan').filter((o) => o.isChildless());
    loose.forEach((o, i) => { o.position({ x: x + (i % 4) * 90, y: Math.floor(i / 4) * 70 }); });
    cy.fit(undefined, 20);
  }
  (window as unknown as { __layoutMs: number }).__layoutMs = performance.now() - t0;
}

/** Applies the graph; returns true when elements were added or removed (the layout must run). */
function update(cy: cytoscape.Core, g: Graph): boolean {
  const want = new Set([...g.nodes.map((n) => n.id), ...g.edges.map((e) => e.id)]);
  let changed = false;
  cy.batch(() => {
    cy.elements().forEach((el) => { if (!want.has(el.id())) { el.remove(); changed = true; } });
    const parentsFirst = [...g.nodes].sort((a, b) => Number(a.kind !== 'namespace') - Number(b.kind !== 'namespace'));
    for (const n of parentsFirst) {
      const el = cy.getElementById(n.id);
      if (el.nonempty()) el.data({ ...n });
      else { cy.add({ group: 'nodes', data: { ...n } }); changed = true; }
    }
    for (const e of g.edges) {
      const data = { ...e, text: edgeText(e) };
      const el = cy.getElementById(e.id);
      if (el.nonempty()) el.data(data);
      else { cy.add({ group: 'edges', data }); changed = true; }
    }
  });
  return changed;
}

main();

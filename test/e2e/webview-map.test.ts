// The Service map webview bundle (cytoscape) in Chromium, in the real panel shell and CSP, against
// a fake host speaking the map contract: ready handshake, graph rendering grouped by namespace,
// dropped edges in the error colour, incremental updates, clicks → openFlows, invalid messages.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CHROMIUM, RESULTS } from './harness';
import { type PanelPage, openPanelPage } from './fake-flows-host';
import { parseFromWebview } from '../../src/panels/ipc';
import { type Graph, mapGuards } from '../../src/panels/map/protocol';
import { waitFor as pollUntil } from '../helpers/cli';

const skip = existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM}`;
const OUT = join(RESULTS, 'webview-map');
let panel: PanelPage | undefined;
let page: Page;

function graph(seq: number, extra = 0): Graph {
  const nodes: Graph['nodes'] = [
    { id: 'ns:shop', kind: 'namespace', label: 'shop', filter: '--namespace shop' },
    { id: 'ns:data', kind: 'namespace', label: 'data', filter: '--namespace data' },
    { id: 'wl:shop/frontend', kind: 'workload', label: 'frontend', parent: 'ns:shop', filter: '--pod shop/frontend' },
    { id: 'svc:shop/cart', kind: 'service', label: 'cart', parent: 'ns:shop', filter: '--to-service shop/cart' },
    { id: 'svc:data/redis', kind: 'service', label: 'redis', parent: 'ns:data', filter: '--to-service data/redis' },
  ];
  for (let i = 0; i < extra; i++) nodes.push({ id: `svc:data/s${i}`, kind: 'service', label: `s${i}`, parent: 'ns:data', filter: `--to-service data/s${i}` });
  return {
    seq, windowSec: 300, nodes,
    edges: [
      { id: 'a', source: 'wl:shop/frontend', target: 'svc:shop/cart', flows: 30, rate: 0.1, drops: 0, filter: '--from-pod shop/frontend --to-service shop/cart' },
      { id: 'b', source: 'wl:shop/frontend', target: 'svc:data/redis', flows: 3, rate: 0.01, drops: 3, filter: '--from-pod shop/frontend --to-service data/redis' },
    ],
  };
}

before(async () => {
  if (skip) return;
  panel = await openPanelPage('map', { width: 1000, height: 700 }, OUT);
  page = panel.page;
});

after(async () => panel?.close());

const sent = async () => ((await page.evaluate('window.__sent')) as unknown[]).map((m) => parseFromWebview(mapGuards, m));
const count = (sel: string) => page.evaluate(`window.__cy.elements(${JSON.stringify(sel)}).length`) as Promise<number>;
const post = (m: unknown) => page.evaluate((x) => window.postMessage(x, '*'), m as object);

/** The shared poller, with this file's argument order. */
const waitFor = (check: () => Promise<boolean>, what: string, ms = 5000): Promise<boolean> => pollUntil(what, check, ms, 25);

test('service map: handshake, graph grouped by namespace, red dropped edge, incremental, clicks, CSP', { skip }, async () => {
  await waitFor(async () => (await sent()).some((p) => p.ok && p.value.name === 'ready'), 'ready');
  await post({ kind: 'notification', name: 'graph', payload: graph(1) });
  await waitFor(async () => (await count('node')) === 5, '5 nodes');
  assert.equal(await count('edge'), 2);
  assert.equal(await page.evaluate(`window.__cy.getElementById('svc:shop/cart').parent().id()`), 'ns:shop');
  const colors = await page.evaluate(`[window.__cy.getElementById('a').style('line-color'), window.__cy.getElementById('b').style('line-color')]`) as string[];
  assert.notEqual(colors[0], colors[1], 'the dropped edge has its own colour');
  const before = await page.evaluate(`JSON.stringify(window.__cy.getElementById('svc:shop/cart').position())`);
  await post({ kind: 'notification', name: 'graph', payload: { ...graph(2), edges: graph(2).edges.map((e) => ({ ...e, rate: 9 })) } });
  await waitFor(async () => (await page.evaluate(`window.__cy.getElementById('a').data('rate')`)) === 9, 'rate update');
  assert.equal(await page.evaluate(`JSON.stringify(window.__cy.getElementById('svc:shop/cart').position())`), before, 'no relayout for data changes');
  await post({ kind: 'notification', name: 'graph', payload: graph(1, 3) });
  await post({ kind: 'notification', name: 'graph', payload: { seq: 9, nodes: [{ id: 1 }], edges: [], windowSec: 1 } });
  assert.equal(await count('node'), 5, 'stale and invalid graphs are ignored');
  await post({ kind: 'notification', name: 'graph', payload: graph(3, 500) });
  await waitFor(async () => (await count('node')) === 505, '505 nodes');
  console.log(`# service map: layout of 505 nodes took ${Number(await page.evaluate('window.__layoutMs')).toFixed(0)} ms`);
  await page.screenshot({ path: join(OUT, 'map-505.png') });
  await post({ kind: 'notification', name: 'graph', payload: graph(4) });
  await waitFor(async () => (await count('node')) === 5, 'removed');
  await page.evaluate(`window.__cy.fit(); window.__cy.getElementById('b').emit('tap')`);
  await waitFor(async () => (await sent()).some((p) => p.ok && p.value.name === 'openFlows'), 'openFlows');
  const open = (await sent()).find((p) => p.ok && p.value.name === 'openFlows');
  assert.deepEqual(open?.ok && open.value.payload, { filter: '--from-pod shop/frontend --to-service data/redis' });
  await page.screenshot({ path: join(OUT, 'map.png') });
  assert.deepEqual(await page.evaluate('window.__violations'), [], 'no CSP violations');
});

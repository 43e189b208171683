// The Service → backend map webview bundle in Chromium, in the real panel shell and CSP, against a
// fake host speaking the backends contract: ready handshake, frontends, each backend's readiness,
// share of connections and declared/programmed/observed flags, drift, text never HTML, stale and
// invalid views ignored, a pod link as the tracePod command.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CHROMIUM, RESULTS } from './harness';
import { type PanelPage, openPanelPage } from './fake-flows-host';
import { parseFromWebview } from '../../src/panels/ipc';
import { type BackendsView, backendsGuards } from '../../src/panels/backends/protocol';

const skip = existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM}`;
const OUT = join(RESULTS, 'webview-backends');
let panel: PanelPage | undefined;
let page: Page;

function view(seq: number, over: Partial<BackendsView> = {}): BackendsView {
  return {
    seq, service: 'shop/cart', type: 'ClusterIP', sessionAffinity: 'None', windowSec: 300, total: 4, untranslated: 1,
    frontends: [{ kind: 'ClusterIP', address: '10.96.0.12', port: 80, protocol: 'TCP', targetPort: 'http' }, { kind: 'NodePort', address: '*', port: 30080, protocol: 'TCP', targetPort: 'http' }],
    backends: [
      { ip: '10.244.0.4', pod: 'shop/cart-a', node: 'node-1', ready: true, connections: 3, share: 0.75, declared: true, programmed: true, observed: true },
      { ip: '10.244.0.5', pod: 'shop/<img src=x onerror=alert(1)>', ready: false, connections: 1, share: 0.25, declared: true, programmed: false, observed: true },
      { ip: '10.244.0.9', ready: false, connections: 0, share: 0, declared: false, observed: false },
    ],
    drift: ['shop/cart-b is not ready but received connections', '10.244.0.5 is declared but not programmed on node-1'],
    ...over,
  };
}

before(async () => {
  if (skip) return;
  panel = await openPanelPage('backends', { width: 1000, height: 600 }, OUT);
  page = panel.page;
});

after(async () => panel?.close());

const sent = async () => ((await page.evaluate('window.__sent')) as unknown[]).map((m) => parseFromWebview(backendsGuards, m));
const post = (m: unknown) => page.evaluate((x) => window.postMessage(x, '*'), m as object);
const cells = (row: number) => page.locator('table.backends tr').nth(row).locator('td').allTextContents();

test('backends webview: ready first, frontends, shares and flags per backend, drift, text only, stale/invalid ignored, Trace link, CSP', { skip }, async () => {
  await page.locator('#app .meta', { hasText: 'waiting for the extension' }).waitFor();
  const first = await sent();
  assert.equal(first.length, 1);
  assert.ok(first[0]?.ok && first[0].value.name === 'ready', 'ready is the first message');

  await post({ kind: 'notification', name: 'view', payload: view(1) });
  await page.locator('h2', { hasText: 'shop/cart' }).waitFor();
  assert.equal(await page.locator('.meta').textContent(), 'ClusterIP · session affinity: None · 4 connection(s) observed in the last 5 min');
  assert.deepEqual(await page.locator('table.frontends tr').nth(2).locator('td').allTextContents(), ['NodePort', '*', '30080', 'TCP', 'http']);
  assert.deepEqual(await cells(1), ['shop/cart-a', '10.244.0.4', 'node-1', 'ready', '75% (3)', '✓', '✓', '✓']);
  assert.deepEqual(await cells(2), ['shop/<img src=x onerror=alert(1)>', '10.244.0.5', '', 'not ready', '25% (1)', '✓', '✗', '✓']);
  assert.deepEqual(await cells(3), ['10.244.0.9', '10.244.0.9', '', 'not ready', '0% (0)', '✗', '?', '✗']);
  assert.equal(await page.locator('#app img').count(), 0, 'a pod name is text, never HTML');
  assert.equal(await page.locator('table.backends tr').nth(1).locator('.fill').evaluate((e) => (e as HTMLElement).style.width), '75%');
  assert.match((await page.locator('.note').first().textContent()) ?? '', /^1 more connection\(s\) went to a frontend address/);
  assert.deepEqual(await page.locator('.drift').allTextContents(), ['⚠ shop/cart-b is not ready but received connections', '⚠ 10.244.0.5 is declared but not programmed on node-1']);
  await page.screenshot({ path: join(OUT, 'backends.png') });

  await post({ kind: 'notification', name: 'view', payload: view(1, { service: 'stale/one' }) });
  await post({ kind: 'notification', name: 'view', payload: { ...view(9), backends: [{ ip: '10.0.0.1', share: 2 }] } });
  await page.waitForTimeout(100);
  assert.equal(await page.locator('h2').textContent(), 'shop/cart', 'a stale and an invalid view are ignored');

  await post({ kind: 'notification', name: 'view', payload: view(2, { backends: [], drift: [], untranslated: 0, programmedNote: 'programmed backends not reported by the agents' }) });
  await page.locator('.ok', { hasText: 'no drift between declared and observed backends' }).waitFor();
  await post({ kind: 'notification', name: 'view', payload: view(3, { error: 'service shop/cart not found' }) });
  await page.locator('.error', { hasText: 'service shop/cart not found' }).waitFor();
  assert.equal(await page.locator('table').count(), 0);

  await post({ kind: 'notification', name: 'view', payload: view(4) });
  await page.locator('a.pod', { hasText: 'shop/cart-a' }).click();
  const last = (await sent()).pop();
  assert.ok(last?.ok && last.value.kind === 'command' && last.value.name === 'tracePod', 'the pod link is the tracePod command');
  assert.deepEqual(last.value.payload, { pod: 'shop/cart-a' });
  assert.deepEqual(await page.evaluate('window.__violations'), [], 'no CSP violations');
});

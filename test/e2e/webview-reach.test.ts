// The "Why can't A reach B?" webview bundle in Chromium, in the real panel shell and CSP, against a
// fake host speaking the reach contract: ready handshake, one row per step with its status icon,
// the first failing step marked, text never parsed as HTML, stale and invalid views ignored, the
// Run again and Copy as Markdown buttons as commands.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CHROMIUM, RESULTS } from './harness';
import { type PanelPage, openPanelPage } from './fake-flows-host';
import { parseFromWebview } from '../../src/panels/ipc';
import { reachGuards } from '../../src/panels/reach/protocol';
import type { ReachReport } from '../../src/extension/policies/reach';

const skip = existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM}`;
const OUT = join(RESULTS, 'webview-reach');
let panel: PanelPage | undefined;
let page: Page;

const report: ReachReport = {
  from: 'shop/frontend-1', to: 'redis.data', port: 6379, protocol: 'TCP', verdict: 'shop/frontend-1 cannot reach redis.data:6379/TCP: Ingress policy — denied',
  steps: [
    { name: 'DNS', status: 'ok', detail: 'redis.data → 10.96.0.15 (service data/redis)' },
    { name: 'Translation', status: 'skip', detail: '<img src=x onerror=alert(1)> no translation seen' },
    { name: 'Egress policy', status: 'warn', detail: 'upstream DNS' },
    { name: 'Ingress policy', status: 'fail', detail: 'denied: data/redis-allow-cart selects the destination' },
    { name: 'Kernel', status: 'fail', detail: '2 of 3 recent flow(s) dropped' },
  ],
};

before(async () => {
  if (skip) return;
  panel = await openPanelPage('reach', { width: 1000, height: 500 }, OUT);
  page = panel.page;
});

after(async () => panel?.close());

const sent = async () => ((await page.evaluate('window.__sent')) as unknown[]).map((m) => parseFromWebview(reachGuards, m));
const post = (m: unknown) => page.evaluate((x) => window.postMessage(x, '*'), m as object);
const view = (seq: number, r: ReachReport, error?: string) => ({ kind: 'notification', name: 'view', payload: { seq, report: r, at: '2026-01-01T10:00:02.000Z', ...(error ? { error } : {}) } });

test('reach webview: ready first, a row and icon per step, the first failure marked, text only, stale/invalid views ignored, buttons, CSP', { skip }, async () => {
  await page.locator('#app .meta', { hasText: 'waiting for the extension' }).waitFor();
  const first = await sent();
  assert.ok(first.length === 1 && first[0]?.ok && first[0].value.name === 'ready', 'ready is the first message');

  await post(view(1, report));
  await page.getByRole('heading', { name: "Why can't shop/frontend-1 reach redis.data:6379/TCP?" }).waitFor();
  const rows = page.getByRole('list', { name: 'Steps' }).getByRole('listitem');
  assert.deepEqual(await rows.locator('.name').allTextContents(), ['DNS', 'Translation', 'Egress policy', 'Ingress policy', 'Kernel']);
  assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.querySelector('.codicon')?.getAttribute('aria-label'))), ['passed', 'not checked', 'warning', 'failed', 'failed']);
  assert.equal(await page.getByText('failing step').count(), 1, 'only the first failure is marked');
  assert.equal(await rows.nth(3).getByText('failing step').count(), 1);
  assert.equal(await rows.nth(1).locator('.detail').textContent(), '<img src=x onerror=alert(1)> no translation seen');
  assert.equal(await page.locator('img').count(), 0, 'details are text, never HTML');
  assert.equal(await page.getByRole('status').textContent(), report.verdict);
  await page.screenshot({ path: join(OUT, 'reach.png') });

  await post(view(1, { ...report, verdict: 'stale' }));
  await post({ kind: 'notification', name: 'view', payload: { seq: 9, report: { ...report, port: -1 }, at: 'x' } });
  await page.waitForTimeout(100);
  assert.equal(await page.getByRole('status').textContent(), report.verdict, 'a stale and an invalid view are ignored');
  await post(view(2, { ...report, steps: report.steps.slice(0, 1), verdict: 'Nothing blocks' }, 'cannot re-run: no cluster connected'));
  await page.locator('.error', { hasText: 'cannot re-run: no cluster connected' }).waitFor();
  assert.equal(await page.getByText('failing step').count(), 0);

  await page.getByRole('button', { name: 'Run again' }).click();
  await page.getByRole('button', { name: 'Copy as Markdown' }).click();
  const names = (await sent()).slice(1).map((m) => (m.ok ? m.value.name : `rejected: ${m.error}`));
  assert.deepEqual(names, ['rerun', 'copyMarkdown'], 'the buttons are commands to the host');
  assert.deepEqual(await page.evaluate('window.__violations'), [], 'no CSP violations');
});

// The Flows webview bundle in Chromium, in the real panel shell and CSP, against a fake host that
// speaks the same contract: handshake, rendering, batches and sequence gaps, pod filter,
// virtualization, invalid messages and scripted request failures.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, RESULTS, buildExtension } from './harness';
import { FakeFlowsHost, INIT_SCRIPT, batchOf, row, serveShell, wireRows } from './fake-flows-host';
import type { FlowRow, Snapshot } from '../../src/panels/flows/protocol';
import { existsSync } from 'node:fs';
import { waitFor as pollUntil } from '../helpers/cli';

const skip = existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM}`;
const OUT = join(RESULTS, 'webview-flows');
let browser: Browser;
let server: Server;
let url: string;
let page: Page;
let host: FakeFlowsHost;

const ROWS: FlowRow[] = [
  row(1, 'shop/frontend-1', 'shop/cart-1', { service: 'shop/cart' }),
  row(2, 'shop/cart-1', 'data/redis-1', { service: 'data/redis', dst: { ip: '10.0.2.1', namespace: 'data', pod: 'redis-1', port: 6379 } }),
  row(3, 'shop/frontend-2', 'payments/payments-1', { verdict: 'DROPPED', dropReason: 'POLICY_DENIED', flags: 'SYN', direction: 'INGRESS' }),
];
const snap = (seq: number, rows: FlowRow[], maxRows = 10_000): Snapshot => ({ seq, ...wireRows(rows), filter: { pod: 'shop/cart-1' }, maxRows });

before(async () => {
  if (skip) return;
  buildExtension();
  mkdirSync(OUT, { recursive: true });
  ({ server, url } = await serveShell({ filter: { pod: 'shop/cart-1' }, maxRows: 10_000 }));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  server?.close();
});

beforeEach(async () => {
  if (skip) return;
  await page?.close();
  page = await browser.newPage({ viewport: { width: 1200, height: 500 } });
  await page.addInitScript(INIT_SCRIPT);
  await page.goto(url);
  host = new FakeFlowsHost(page, snap(1, ROWS));
  await waitFor(async () => (await host.drain(), host.ready), 'ready handshake');
});

/** The shared poller, with this file's argument order. */
const waitFor = (check: () => Promise<boolean>, what: string, ms = 5000): Promise<boolean> => pollUntil(what, check, ms, 25);

const shownRows = () => page.locator('.flow-row:not([hidden])');
const cellTexts = (col: string) => page.locator(`.flow-row:not([hidden]) [data-col="${col}"]`).allTextContents();
const badge = () => page.locator('#count').textContent();

async function expectRowCount(n: number): Promise<void> {
  await waitFor(async () => (await shownRows().count()) === n, `${n} rows`);
}

test('the webview says ready first, then renders the snapshot the host sends', { skip }, async () => {
  assert.deepEqual(host.received.map((m) => m.name), ['ready']);
  assert.equal(await page.locator('#empty').isVisible(), true);
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, ROWS) });
  await expectRowCount(3);
  assert.deepEqual(await cellTexts('src'), ['shop/frontend-1', 'shop/cart-1', 'shop/frontend-2']);
  assert.deepEqual(await cellTexts('dst'), ['shop/cart-1', 'data/redis-1', 'payments/payments-1']);
  assert.deepEqual(await cellTexts('service'), ['shop/cart', 'data/redis', '']);
  assert.deepEqual(await cellTexts('verdict'), ['FORWARDED', 'FORWARDED', 'DROPPED']);
  assert.deepEqual(await cellTexts('port'), ['8080', '6379', '8080']);
  assert.equal(await badge(), '3');
  assert.equal(await page.locator('#scope').textContent(), 'pod shop/cart-1');
  assert.equal(await page.locator('#empty').isVisible(), false);
  await page.screenshot({ path: join(OUT, 'rows.png') });
  assert.deepEqual(await page.evaluate('window.__violations'), [], 'no CSP violations');
  assert.equal(await page.evaluate(() => customElements.get('vscode-textfield') !== undefined), true);
});

test('batches append in sequence; a gap makes the webview ask for a snapshot by id', { skip }, async () => {
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, ROWS.slice(0, 1)) });
  await expectRowCount(1);
  await host.notify({ kind: 'notification', name: 'batch', payload: batchOf(2, [ROWS[1] as FlowRow]) });
  await expectRowCount(2);
  host.snapshot = snap(7, ROWS);
  await host.notify({ kind: 'notification', name: 'batch', payload: batchOf(5, [row(9, 'x/y', 'z/w')]) });
  await waitFor(async () => (await host.drain()).some((m) => m.kind === 'request' && m.name === 'snapshot'), 'snapshot request');
  await expectRowCount(3);
  assert.deepEqual(await cellTexts('src'), ['shop/frontend-1', 'shop/cart-1', 'shop/frontend-2'], 'the gapped batch was not applied');
  const req = host.received.find((m) => m.kind === 'request');
  assert.ok(req && req.kind === 'request' && req.id > 0);
  await host.notify({ kind: 'notification', name: 'batch', payload: batchOf(8, [row(10, 'shop/a', 'shop/b')]) });
  await expectRowCount(4);
});

test('a failed snapshot request leaves the table as it was', { skip }, async () => {
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, ROWS) });
  await expectRowCount(3);
  host.snapshotScript = 'fail';
  await host.notify({ kind: 'notification', name: 'batch', payload: batchOf(3, [row(4, 'a/b', 'c/d')]) });
  await waitFor(async () => (await host.drain()).some((m) => m.kind === 'request'), 'snapshot request');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await shownRows().count(), 3);
  await host.notify({ kind: 'notification', name: 'batch', payload: batchOf(2, [row(5, 'a/b', 'c/d')]) });
  await expectRowCount(4);
});

test('words in the filter bar search and the badge shows shown / held', { skip }, async () => {
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, ROWS) });
  await expectRowCount(3);
  await page.locator('#filter input').fill('payments');
  await expectRowCount(1);
  assert.deepEqual(await cellTexts('dst'), ['payments/payments-1']);
  assert.equal(await badge(), '1 / 3');
  await host.notify({ kind: 'notification', name: 'batch', payload: batchOf(2, [row(4, 'payments/payments-2', 'data/redis-1'), row(5, 'shop/a', 'shop/b')]) });
  await expectRowCount(2);
  assert.equal(await badge(), '2 / 5');
  await page.locator('#filter input').fill('nothing-matches');
  await expectRowCount(0);
  assert.equal(await page.locator('#empty').textContent(), 'No flows match the filter.');
  await page.locator('#filter input').fill('');
  await expectRowCount(5);
});

test('invalid messages are ignored', { skip }, async () => {
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, ROWS) });
  await expectRowCount(3);
  await host.postRaw({ kind: 'notification', name: 'batch', payload: { seq: 2, rows: [{ id: 4, time: 'x' }] } });
  await host.postRaw({ kind: 'notification', name: 'explode', payload: {} });
  await host.postRaw({ kind: 'response', id: 999, ok: true, payload: {} });
  await host.postRaw('<img src=x onerror=alert(1)>');
  await host.postRaw({ kind: 'notification', name: 'batch', payload: batchOf(2, [row(4, 'evil/<img src=x onerror=alert(1)>', 'a/b')]) });
  await expectRowCount(4);
  await host.notify({ kind: 'notification', name: 'batch', payload: { seq: 3, first: 5, lines: ['{"flow": 1}', 'not json', '{"flow": {"verdict": "FORWARDED"}}'] } });
  await waitFor(async () => ((await page.locator('#status').textContent()) ?? '').includes('3 invalid dropped'), 'invalid lines counted in the status');
  assert.equal(await shownRows().count(), 4);
  assert.equal((await cellTexts('src'))[3], 'evil/<img src=x onerror=alert(1)>', 'text, never HTML');
  assert.equal(await page.locator('img').count(), 0);
});

test('the table is virtualized and keeps at most maxRows', { skip }, async () => {
  const many = Array.from({ length: 10_000 }, (_, i) => row(i + 1, `ns/src-${i + 1}`, 'ns/dst'));
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, many) });
  await waitFor(async () => (await badge()) === '10000', 'badge 10000');
  assert.ok((await page.locator('.flow-row').count()) < 100, 'only the visible rows are in the DOM');
  await waitFor(async () => (await cellTexts('src')).includes('ns/src-10000'), 'follows the newest row');
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(2, many.slice(0, 50), 60) });
  await waitFor(async () => (await badge()) === '50', 'badge 50');
  await host.notify({ kind: 'notification', name: 'batch', payload: batchOf(3, many.slice(50, 80)) });
  await waitFor(async () => (await badge()) === '60', 'trimmed to 60');
});

test('pause and clear are commands to the host', { skip }, async () => {
  await page.locator('#pause').click();
  await page.locator('#clear').click();
  await waitFor(async () => (await host.drain(), host.received.length >= 3), 'commands');
  assert.deepEqual(host.received.slice(1).map((m) => [m.name, m.payload]), [['pause', { paused: true }], ['clear', {}]]);
  await host.notify({ kind: 'notification', name: 'status', payload: { agents: 2, connected: 1, paused: true } });
  await waitFor(async () => (await page.locator('#pause').textContent()) === 'Resume', 'Resume label');
  assert.equal(await page.locator('#status').textContent(), '1/2 agents');
});

test('the filter bar takes hubble flags; chips toggle flags; errors are shown', { skip }, async () => {
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, ROWS) });
  await expectRowCount(3);
  await page.locator('#filter input').fill('--verdict DROPPED');
  await expectRowCount(1);
  assert.deepEqual(await cellTexts('src'), ['shop/frontend-2']);
  assert.equal(await page.locator('.chip[data-value="DROPPED"]').getAttribute('aria-pressed'), 'true');
  await page.locator('.chip[data-value="DROPPED"]').click();
  await expectRowCount(3);
  assert.equal(await page.locator('#filter input').inputValue(), '');
  await page.locator('#filter input').fill('--to-namespace data --port 6379');
  await expectRowCount(1);
  assert.deepEqual(await cellTexts('dst'), ['data/redis-1']);
  await page.locator('#filter input').fill('--verdict MAYBE');
  await waitFor(async () => ((await page.locator('#filter-error').textContent()) ?? '').includes('verdict'), 'filter error');
  assert.equal(await shownRows().count(), 1, 'an invalid filter keeps the last good one');
  await page.locator('#filter input').fill('');
  await page.locator('#chip-namespace').selectOption('payments');
  await expectRowCount(1);
  assert.equal(await page.locator('#filter input').inputValue(), '--namespace payments');
  await host.notify({ kind: 'notification', name: 'setFilter', payload: { text: '--from-pod shop/cart' } });
  // The previous filter also showed one row: wait for the row to be the new filter's.
  await waitFor(async () => JSON.stringify(await cellTexts('src')) === JSON.stringify(['shop/cart-1']), 'the --from-pod filter applied');
  assert.equal(await page.locator('#filter input').inputValue(), '--from-pod shop/cart');
  await page.screenshot({ path: join(OUT, 'filter.png') });
});

test('the details pane: fields, labels that filter, the explanation and a policy link', { skip }, async () => {
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, ROWS) });
  await expectRowCount(3);
  await page.locator('.flow-row:not([hidden])', { hasText: 'shop/frontend-2' }).click();
  const details = page.locator('.details');
  await details.waitFor();
  await waitFor(async () => (await host.drain()).some((m) => m.kind === 'request' && m.name === 'explain'), 'explain request');
  await details.locator('.explain-line', { hasText: 'payments/payments-from-frontend selects' }).waitFor();
  assert.ok((await details.locator('.field-key').allTextContents()).includes('l4.TCP.destination_port'));
  await page.screenshot({ path: join(OUT, 'details.png') });
  await details.locator('.policy-link').first().click();
  await waitFor(async () => (await host.drain(), host.received.some((m) => m.name === 'openPolicy')), 'openPolicy command');
  assert.deepEqual(host.received.find((m) => m.name === 'openPolicy')?.payload, { namespace: 'payments', name: 'payments-from-frontend' });
  await details.locator('.label-chip', { hasText: 'app=payments' }).click();
  assert.equal(await page.locator('#filter input').inputValue(), '--to-label app=payments');
  await expectRowCount(1);
  await page.locator('.viewport').press('Escape');
  await details.waitFor({ state: 'hidden' });
});

test('keyboard: arrows select rows, Enter opens the details; export is a command with the filter', { skip }, async () => {
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, ROWS) });
  await expectRowCount(3);
  await page.locator('.viewport').focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.locator('.flow-row.selected', { hasText: 'shop/cart-1' }).first().waitFor();
  await page.locator('.details h3', { hasText: 'shop/cart-1' }).waitFor();
  await page.locator('#filter input').fill('--verdict FORWARDED');
  await page.locator('#export-csv').click();
  await waitFor(async () => (await host.drain(), host.received.some((m) => m.name === 'export')), 'export command');
  assert.deepEqual(host.received.find((m) => m.name === 'export')?.payload, { format: 'csv', filter: '--verdict FORWARDED' });
  assert.deepEqual(await page.evaluate('window.__violations'), [], 'no CSP violations');
});

test('a recording opens offline: the host sends its flows as a snapshot and says so in the status', { skip }, async () => {
  await host.notify({ kind: 'notification', name: 'reset', payload: { ...snap(1, ROWS), filter: { recording: 'shop.flows.jsonl' } } });
  await host.notify({ kind: 'notification', name: 'status', payload: { agents: 0, connected: 0, paused: false, recording: 'recording shop.flows.jsonl: 3 flows (offline)' } });
  await expectRowCount(3);
  assert.equal(await page.locator('#status').textContent(), 'recording shop.flows.jsonl: 3 flows (offline)');
  assert.equal(await page.locator('#status').evaluate((e) => e.classList.contains('error')), false, 'a recording is not an error');
  assert.equal(await page.locator('#pause').isVisible(), false, 'nothing to pause in a recording');
  await page.locator('#filter input').fill('--verdict DROPPED');
  await expectRowCount(1);
  await page.locator('.flow-row:not([hidden])').first().click();
  await page.locator('.details .label-chip', { hasText: 'app=payments' }).waitFor();
});

test('the page ingests a burst in slices and counts every row: 20,000 rows in one batch all reach the table', { skip }, async () => {
  await host.notify({ kind: 'notification', name: 'reset', payload: snap(1, ROWS.slice(0, 1), 50_000) });
  const many = Array.from({ length: 20_000 }, (_, i) => row(i + 2, `ns/src-${i + 2}`, 'ns/dst'));
  await host.notify({ kind: 'notification', name: 'batch', payload: batchOf(2, many) });
  await waitFor(async () => (await badge()) === '20001', 'all rows held', 15_000);
  const stats = (await page.evaluate('window.__flowsStats()')) as { held: number; pending: number; skipped: number; invalid: number };
  assert.deepEqual(stats, { ...stats, held: 20_001, pending: 0, skipped: 0, invalid: 0 });
  await waitFor(async () => (await cellTexts('src')).includes('ns/src-20001'), 'follows the newest row');
});

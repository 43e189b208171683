// The Trace pod webview bundle in Chromium, in the real panel shell and CSP, against a fake host
// speaking the trace contract: ready handshake, the timeline grouped by connection (connect with
// latency, DNS, HTTP, drop with the reason and the policy), stale and invalid views ignored, the
// Flows button as a command.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CHROMIUM, RESULTS } from './harness';
import { type PanelPage, openPanelPage } from './fake-flows-host';
import { parseFromWebview } from '../../src/panels/ipc';
import type { Flow } from '../../src/flows/flow';
import { traceGuards } from '../../src/panels/trace/protocol';
import { TraceTimeline } from '../../src/panels/trace/timeline';

const skip = existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM}`;
const OUT = join(RESULTS, 'webview-trace');
let panel: PanelPage | undefined;
let page: Page;

const ME = { namespace: 'shop', pod_name: 'frontend-1' };
const CART = { namespace: 'shop', pod_name: 'cart-1' };
function flow(sec: number, over: Partial<Flow>): Flow {
  return {
    time: `2026-01-01T10:00:${String(sec).padStart(2, '0')}.123456789Z`, verdict: 'FORWARDED', Type: 'SOCK', node_name: 'n1', traffic_direction: 'EGRESS',
    IP: { source: '10.244.0.5', destination: '10.244.0.9', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 40000, destination_port: 8080 } },
    source: ME, destination: CART, destination_service: { namespace: 'shop', name: 'cart' }, ...over,
  };
}

function timeline(): TraceTimeline {
  const t = new TraceTimeline({ namespace: 'shop', name: 'frontend-1' });
  t.add([
    flow(1, { Type: 'L7', IP: { source: '10.244.0.5', destination: '10.96.0.10', ipVersion: 'IPv4' }, l4: { UDP: { source_port: 51000, destination_port: 53 } }, destination: { namespace: 'kube-system', pod_name: 'coredns-1' },
      destination_service: { namespace: 'kube-system', name: 'kube-dns' }, l7: { type: 'REQUEST', dns: { query: 'cart.shop.svc.cluster.local.', qtypes: ['A'] } } }),
    flow(2, { extensions: { tcp_event: 'connect', connect_latency_ns: 420_000 } }),
    flow(3, { Type: 'L7', l7: { type: 'REQUEST', http: { method: 'GET', url: 'http://cart/items' } } }),
    flow(4, { verdict: 'DROPPED', Type: 'L3_L4', drop_reason_desc: 'POLICY_DENIED', l4: { TCP: { source_port: 40200, destination_port: 6379 } }, destination: { namespace: 'data', pod_name: 'redis-0' },
      destination_service: undefined, egress_denied_by: [{ namespace: 'shop', name: 'default-deny' }] }),
  ]);
  return t;
}

before(async () => {
  if (skip) return;
  panel = await openPanelPage('trace', { width: 1000, height: 600 }, OUT);
  page = panel.page;
});

after(async () => panel?.close());

const sent = async () => ((await page.evaluate('window.__sent')) as unknown[]).map((m) => parseFromWebview(traceGuards, m));
const post = (m: unknown) => page.evaluate((x) => window.postMessage(x, '*'), m as object);

test('trace webview: ready first, the timeline by connection, stale and invalid views ignored, Flows button, CSP', { skip }, async () => {
  const first = page.locator('#app .meta', { hasText: 'waiting for the extension' });
  await first.waitFor();
  const messages = await sent();
  assert.equal(messages.length, 1);
  assert.ok(messages[0]?.ok && messages[0].value.name === 'ready', 'ready is the first message');

  await post({ kind: 'notification', name: 'view', payload: timeline().view(1, '1/1 agents') });
  await page.locator('h2', { hasText: 'Trace — pod shop/frontend-1' }).waitFor();
  const labels = await page.locator('.conn-label').allTextContents();
  assert.deepEqual(labels, ['→ data/redis-0:6379', '→ shop/cart:8080 (pod shop/cart-1)', 'DNS → kube-system/kube-dns:53 (pod kube-system/coredns-1)']);
  const connect = page.locator('.event[data-kind="connect"]');
  assert.equal(await connect.locator('.text').textContent(), 'connected to shop/cart:8080 (pod shop/cart-1)');
  assert.equal(await connect.locator('.latency').textContent(), '0.42 ms');
  assert.equal(await connect.locator('.time').textContent(), '10:00:02.123');
  assert.equal(await page.locator('.event[data-kind="http"] .text').textContent(), 'HTTP GET http://cart/items');
  assert.equal(await page.locator('.event[data-kind="dns"] .text').textContent(), 'DNS query cart.shop.svc.cluster.local. A');
  const drop = page.locator('.event[data-kind="drop"]');
  assert.equal(await drop.locator('.text').textContent(), 'dropped: POLICY_DENIED');
  assert.deepEqual(await drop.locator('.explain').allTextContents(), ['egress denied by shop/default-deny']);
  assert.equal(await page.locator('.conn.has-problems').count(), 1);
  await page.screenshot({ path: join(OUT, 'trace.png') });

  await post({ kind: 'notification', name: 'view', payload: new TraceTimeline({ namespace: 'shop', name: 'x' }).view(1, 'stale') });
  await post({ kind: 'notification', name: 'view', payload: { seq: 5, pod: 'shop/x', connections: [{ id: 1 }], events: 0, status: '' } });
  await page.waitForTimeout(100);
  assert.equal(await page.locator('.conn').count(), 3, 'a stale and an invalid view are ignored');
  await post({ kind: 'notification', name: 'view', payload: new TraceTimeline({ namespace: 'shop', name: 'frontend-1' }).view(2, '0/1 agents', 'agent on n1 unreachable') });
  await page.locator('.error', { hasText: 'agent on n1 unreachable' }).waitFor();
  assert.equal(await page.locator('.conn').count(), 0);

  await page.locator('#show-flows').click();
  const last = (await sent()).pop();
  assert.ok(last?.ok && last.value.kind === 'command' && last.value.name === 'showFlows', 'the Flows button is a command to the host');
  assert.deepEqual(await page.evaluate('window.__violations'), [], 'no CSP violations');
});

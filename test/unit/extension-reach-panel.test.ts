// The reach panel's contract: real reports pass the guards, malformed or hostile messages do not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFromHost, parseFromWebview } from '../../src/panels/ipc';
import { isReachView, reachGuards } from '../../src/panels/reach/protocol';
import type { ReachReport } from '../../src/extension/policies/reach';

const report: ReachReport = {
  from: 'shop/frontend-1', to: 'redis.data', port: 6379, protocol: 'TCP', verdict: 'shop/frontend-1 cannot reach redis.data:6379/TCP: Ingress policy — denied',
  steps: [{ name: 'DNS', status: 'ok', detail: 'redis.data → 10.96.0.15' }, { name: 'Ingress policy', status: 'fail', detail: 'denied: data/redis-allow-cart' }],
};

test('a view with a real report is accepted; each malformed field is rejected', () => {
  const view = { seq: 1, report, at: '2026-01-01T00:00:00Z' };
  assert.equal(isReachView(view), true);
  const bad: unknown[] = [
    { ...view, seq: -1 }, { ...view, at: 1 }, { ...view, error: 5 },
    { ...view, report: { ...report, port: 70000 } }, { ...view, report: { ...report, protocol: 'ICMP' } },
    { ...view, report: { ...report, steps: [{ name: 'DNS', status: 'maybe', detail: '' }] } },
    { ...view, report: { ...report, steps: Array.from({ length: 33 }, () => report.steps[0]) } },
  ];
  for (const b of bad) assert.equal(isReachView(b), false, JSON.stringify(b).slice(0, 120));
  const p = parseFromHost(reachGuards, { kind: 'notification', name: 'view', payload: view });
  assert.equal(p.ok, true);
});

test('commands from the webview: only the three known ones, with empty payloads', () => {
  for (const name of ['ready', 'copyMarkdown', 'rerun']) assert.equal(parseFromWebview(reachGuards, { kind: 'command', name, payload: {} }).ok, true, name);
  assert.equal(parseFromWebview(reachGuards, { kind: 'command', name: 'copyMarkdown', payload: { text: 'x' } }).ok, false);
  assert.equal(parseFromWebview(reachGuards, { kind: 'command', name: 'constructor', payload: {} }).ok, false);
  assert.equal(parseFromWebview(reachGuards, { kind: 'request', id: 1, name: 'rerun', payload: {} }).ok, false);
});

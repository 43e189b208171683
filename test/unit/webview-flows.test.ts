// The Flows webview's pure parts: labels, time, the pod filter and the row store's sequence logic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowRow, Snapshot } from '../../src/panels/flows/protocol';
import { directionLabel, endpointLabel, endpointTitle, firstAtLeast, formatTime, protoLabel, rowMatches, scopeLabel } from '../../webview/flows/format';
import { FlowStore } from '../../webview/flows/store';
import { compileQuery, hasFlag, toggleFlag } from '../../webview/flows/query';
import { flatten } from '../../webview/flows/details';
import type { Flow } from '../../src/flows/flow';

function row(id: number, src: string, dst: string, service?: string): FlowRow {
  const ep = (s: string, n: number) => {
    const [namespace, pod] = s.split('/');
    return pod ? { ip: `10.0.0.${n}`, namespace, pod } : { ip: s };
  };
  const s = ep(src, 1);
  const d = ep(dst, 2);
  const flow: Flow = {
    time: '2026-01-01T00:00:00.000Z', verdict: 'FORWARDED', IP: { source: s.ip, destination: d.ip, ipVersion: 'IPv4' }, l4: { TCP: { source_port: 40000, destination_port: 8080 } },
    source: s.pod ? { namespace: s.namespace, pod_name: s.pod } : {}, destination: d.pod ? { namespace: d.namespace, pod_name: d.pod } : {}, Type: 'L3_L4', node_name: 'n', traffic_direction: 'EGRESS',
  };
  return { id, time: '2026-01-01T00:00:00.000Z', src: s, dst: d, proto: 'TCP', flags: '', verdict: 'FORWARDED', direction: 'EGRESS', node: 'n', l7: '', policy: '', flow, ...(service ? { service } : {}) };
}

const snap = (seq: number, rows: FlowRow[], maxRows = 100): Snapshot => ({ seq, rows, filter: {}, maxRows });

test('labels', () => {
  assert.equal(endpointLabel({ ip: '10.0.0.1', namespace: 'shop', pod: 'cart' }), 'shop/cart');
  assert.equal(endpointLabel({ ip: '10.0.0.1' }), '10.0.0.1');
  assert.equal(endpointTitle({ ip: '10.0.0.1', port: 80, namespace: 'shop', pod: 'cart' }), 'shop/cart (10.0.0.1:80)');
  assert.equal(endpointTitle({ ip: '1.1.1.1' }), '1.1.1.1');
  assert.equal(protoLabel({ ...row(1, 'a/b', 'c/d'), flags: 'SYN' }), 'TCP SYN');
  assert.equal(directionLabel('INGRESS'), 'ingress');
  assert.equal(directionLabel('TRAFFIC_DIRECTION_UNKNOWN'), '');
  assert.equal(scopeLabel({ pod: 'shop/cart' }), 'pod shop/cart');
  assert.equal(scopeLabel({}), 'all pods');
  assert.match(formatTime('2026-01-01T12:34:56.789Z'), /^\d\d:\d\d:56\.789$/);
  assert.equal(formatTime('not a time'), 'not a time');
});

test('the pod filter: every term, either end, IPs and service, case-insensitive', () => {
  const r = row(1, 'shop/frontend-1', 'payments/payments-2', 'payments/payments');
  assert.equal(rowMatches(r, ''), true);
  assert.equal(rowMatches(r, 'FRONTEND'), true);
  assert.equal(rowMatches(r, 'payments-2'), true);
  assert.equal(rowMatches(r, 'shop/frontend payments'), true);
  assert.equal(rowMatches(r, 'shop/cart'), false);
  assert.equal(rowMatches(r, 'frontend redis'), false);
  assert.equal(rowMatches(r, '10.0.0.2'), true);
});

test('firstAtLeast is a binary search over ids', () => {
  const rows = [2, 4, 6, 8].map((id) => row(id, 'a/b', 'c/d'));
  assert.deepEqual([1, 2, 3, 8, 9].map((id) => firstAtLeast(rows, id)), [0, 0, 1, 3, 4]);
});

test('the store applies batches in sequence and reports gaps and stale batches', () => {
  const s = new FlowStore(100);
  s.reset(snap(5, [row(1, 'a/b', 'c/d')]));
  assert.equal(s.applyBatch({ seq: 6, rows: [row(2, 'a/b', 'c/d')] }), 'ok');
  assert.equal(s.applyBatch({ seq: 6, rows: [row(3, 'a/b', 'c/d')] }), 'stale');
  assert.equal(s.applyBatch({ seq: 9, rows: [row(4, 'a/b', 'c/d')] }), 'gap');
  assert.deepEqual(s.rows.map((r) => r.id), [1, 2]);
  assert.equal(s.lastSeq, 6);
});

test('the store filters incrementally and trims to maxRows', () => {
  const s = new FlowStore(4);
  s.reset(snap(1, [row(1, 'shop/a', 'x/y'), row(2, 'data/b', 'x/y')], 4));
  const q = compileQuery('shop');
  assert.ok(q.ok && q.mode === 'search');
  s.setMatch(q.ok ? q.match : undefined);
  assert.deepEqual(s.rows.map((r) => r.id), [1]);
  s.applyBatch({ seq: 2, rows: [row(3, 'shop/c', 'x/y'), row(4, 'data/d', 'x/y'), row(5, 'shop/e', 'x/y')] });
  assert.deepEqual(s.rows.map((r) => r.id), [3, 5], 'row 1 was trimmed from both lists');
  assert.equal(s.total, 4);
  s.setMatch(undefined);
  assert.deepEqual(s.rows.map((r) => r.id), [2, 3, 4, 5]);
  s.reset(snap(10, Array.from({ length: 10 }, (_, i) => row(i + 1, 'a/b', 'c/d')), 3));
  assert.deepEqual(s.rows.map((r) => r.id), [8, 9, 10]);
});

test('the filter bar: hubble flags through the shared parser, words as a quick search, errors named', () => {
  const dropped = row(3, 'shop/frontend-2', 'payments/p-1');
  const rows = [row(1, 'shop/frontend-1', 'data/redis-1'), row(2, 'shop/cart-1', 'data/redis-1'), { ...dropped, verdict: 'DROPPED', flow: { ...dropped.flow, verdict: 'DROPPED' as const } }];
  const run = (text: string) => {
    const q = compileQuery(text);
    assert.ok(q.ok, text);
    return rows.filter(q.ok ? q.match : () => false).map((r) => r.id);
  };
  assert.deepEqual(run(''), [1, 2, 3]);
  assert.deepEqual(run('--verdict DROPPED'), [3]);
  assert.deepEqual(run('--from-pod shop/frontend'), [1, 3]);
  assert.deepEqual(run('--pod shop/frontend --not --verdict DROPPED'), [1]);
  assert.deepEqual(run('--to-namespace data'), [1, 2]);
  assert.deepEqual(run('cart'), [2], 'words search');
  const bad = compileQuery('--verdict MAYBE');
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.error, /verdict/i);
  assert.equal(compileQuery('--nosuchflag x').ok, false);
});

test('chips toggle one flag and value in the text', () => {
  assert.equal(toggleFlag('', 'verdict', 'DROPPED'), '--verdict DROPPED');
  assert.equal(toggleFlag('--verdict DROPPED --port 53', 'verdict', 'DROPPED'), '--port 53');
  assert.equal(toggleFlag('--not --verdict DROPPED', 'verdict', 'DROPPED'), '--not --verdict DROPPED --verdict DROPPED', 'a negated flag is not the chip');
  assert.equal(toggleFlag('--namespace shop', 'from-label', 'app=my app'), '--namespace shop --from-label "app=my app"');
  assert.equal(hasFlag('--verdict=DROPPED', 'verdict', 'DROPPED'), true);
  assert.equal(hasFlag('--not --verdict DROPPED', 'verdict', 'DROPPED'), false);
});

test('details: every field of the flow, flattened in order', () => {
  assert.deepEqual(flatten({ a: 1, b: { c: [true, { d: 'x' }] }, e: [] }), [['a', '1'], ['b.c[0]', 'true'], ['b.c[1].d', 'x'], ['e', '[]']]);
});

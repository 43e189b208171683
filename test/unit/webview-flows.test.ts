// The Flows webview's pure parts: labels, time, the pod filter and the row store's sequence logic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Batch, type FlowRow, type Snapshot, encodeRow } from '../../src/panels/flows/protocol';
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
    ...(service ? { destination_service: { namespace: service.split('/')[0] as string, name: service.split('/')[1] as string } } : {}),
  };
  return { id, time: '2026-01-01T00:00:00.000Z', src: s, dst: d, proto: 'TCP', flags: '', verdict: 'FORWARDED', direction: 'EGRESS', node: 'n', l7: '', policy: '', flow, ...(service ? { service } : {}) };
}

/** Rows as the host sends them (consecutive ids from the first row's). */
const wire = (rows: FlowRow[]) => ({ first: rows[0]?.id ?? 0, lines: rows.map(encodeRow) });
const snap = (seq: number, rows: FlowRow[], maxRows = 100): Snapshot => ({ seq, ...wire(rows), filter: {}, maxRows });
const batch = (seq: number, rows: FlowRow[]): Batch => ({ seq, ...wire(rows) });
const ids = (s: FlowStore) => s.rows.toArray().map((r) => r.id);

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
  assert.equal(s.applyBatch(batch(6, [row(2, 'a/b', 'c/d')])), 'ok');
  assert.equal(s.applyBatch(batch(6, [row(3, 'a/b', 'c/d')])), 'stale');
  assert.equal(s.applyBatch(batch(9, [row(4, 'a/b', 'c/d')])), 'gap');
  assert.deepEqual([s.pending, s.total], [2, 0], 'queued, not yet rows');
  assert.equal(s.ingest(), 2);
  assert.deepEqual(ids(s), [1, 2]);
  assert.equal(s.lastSeq, 6);
  assert.equal(s.byId(2)?.src.pod, 'b');
});

test('the store ingests in slices until a deadline, counts invalid lines and maps lines to rows', () => {
  const s = new FlowStore(1000);
  s.reset(snap(1, Array.from({ length: 200 }, (_, i) => row(i + 1, 'shop/a', 'data/b', 'data/b')), 1000));
  assert.ok(s.ingest(0) < 200, 'a passed deadline stops after the first slice');
  assert.ok(s.pending > 0);
  s.ingest();
  assert.deepEqual([s.pending, s.total, s.ingested], [0, 200, 200]);
  assert.deepEqual([s.rows.at(0)?.src.namespace, s.rows.at(0)?.dst.pod, s.rows.at(0)?.service], ['shop', 'b', 'data/b']);
  assert.deepEqual([...s.namespaces].sort(), ['data', 'shop']);
  s.applyBatch({ seq: 2, first: 201, lines: ['not json', '{"flow": {}}', encodeRow(row(203, 'x/y', 'z/w'))] });
  s.ingest();
  assert.deepEqual([s.invalid, s.total, s.rows.at(s.rows.length - 1)?.id], [2, 201, 203], 'invalid lines are dropped and counted');
});

test('the store filters incrementally and trims to maxRows; more than maxRows queued are skipped and counted', () => {
  const s = new FlowStore(4);
  s.reset(snap(1, [row(1, 'shop/a', 'x/y'), row(2, 'data/b', 'x/y')], 4));
  s.ingest();
  const q = compileQuery('shop');
  assert.ok(q.ok && q.mode === 'search');
  s.setMatch(q.ok ? q.match : undefined);
  assert.deepEqual(ids(s), [1]);
  s.applyBatch(batch(2, [row(3, 'shop/c', 'x/y'), row(4, 'data/d', 'x/y'), row(5, 'shop/e', 'x/y')]));
  s.ingest();
  assert.deepEqual(ids(s), [3, 5], 'row 1 was trimmed from both lists');
  assert.equal(s.total, 4);
  s.setMatch(undefined);
  assert.deepEqual(ids(s), [2, 3, 4, 5]);
  s.reset(snap(10, Array.from({ length: 10 }, (_, i) => row(i + 1, 'a/b', 'c/d')), 3));
  s.ingest();
  assert.deepEqual(ids(s), [8, 9, 10]);
  assert.equal(s.skipped, 7, 'lines older than the newest maxRows were skipped, and counted');
});

test('the row view trims the oldest rows without copying and finds rows by id', () => {
  const s = new FlowStore(2000);
  s.reset(snap(1, Array.from({ length: 1500 }, (_, i) => row(i + 1, 'a/b', 'c/d')), 2000));
  s.ingest();
  s.applyBatch(batch(2, Array.from({ length: 1500 }, (_, i) => row(1501 + i, 'a/b', 'c/d'))));
  s.ingest();
  assert.deepEqual([s.total, s.rows.length, s.rows.at(0)?.id, s.rows.at(1999)?.id], [2000, 2000, 1001, 3000]);
  assert.equal(s.rows.indexOfId(1001), 0);
  assert.equal(s.rows.indexOfId(1000), -1, 'trimmed');
  assert.equal(s.byId(2500)?.id, 2500);
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

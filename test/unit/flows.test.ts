import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowRing } from '../../src/flows/store';
import { enrichFlow, workloadsOf } from '../../src/flows/enrich';
import { parseFilterText } from '../../src/flows/filter-args';
import { compileFilterSet } from '../../src/flows/filter-compile';
import { isoFromNs } from '../../src/flows/time';
import { labelStrings, type Flow } from '../../src/flows/flow';
import { pod, service } from '../helpers/builders';

function flow(src: string, dst: string, extra: Partial<Flow> = {}): Flow {
  return {
    time: '2026-01-01T00:00:00.000000000Z', verdict: 'FORWARDED', IP: { source: src, destination: dst, ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 40000, destination_port: 8080 } }, source: {}, destination: {}, Type: 'L3_L4', node_name: 'n', traffic_direction: 'EGRESS', ...extra,
  };
}

test('ring keeps the newest flows in time order and counts evictions', () => {
  const r = new FlowRing(3);
  for (let i = 0; i < 5; i++) r.push(flow(`10.0.0.${i}`, '10.0.1.1'));
  assert.equal(r.size, 3);
  assert.equal(r.evicted, 2);
  assert.deepEqual(r.last(10).map((f) => f.IP.source), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
  assert.deepEqual(r.last(2).map((f) => f.IP.source), ['10.0.0.3', '10.0.0.4']);
  assert.deepEqual(r.last(10, (f) => f.IP.source !== '10.0.0.3').map((f) => f.IP.source), ['10.0.0.2', '10.0.0.4']);
  assert.throws(() => new FlowRing(0), /positive integer/);
});

test('enrichment names both pods, the workload and the service behind a VIP', () => {
  const a = pod('shop', 'frontend-abc12-xyz', '10.244.0.5', { labels: { app: 'frontend', 'pod-template-hash': 'abc12' }, owner: { kind: 'ReplicaSet', name: 'frontend-abc12' } });
  const b = pod('shop', 'cart-0', '10.244.0.6', { labels: { app: 'cart' } });
  const svc = service('shop', 'cart', '10.96.0.20');
  const index = { podByIP: (ip: string) => [a, b].find((p) => p.status.podIP === ip), serviceByClusterIP: (ip: string) => (ip === '10.96.0.20' ? svc : undefined) };
  const f = enrichFlow(flow('10.244.0.5', '10.244.0.6', { extensions: { original_destination: { ip: '10.96.0.20', port: 80 } } }), index);
  assert.equal(f.source.pod_name, 'frontend-abc12-xyz');
  assert.deepEqual(f.source.workloads, [{ name: 'frontend', kind: 'Deployment' }]);
  assert.ok(f.source.labels?.includes('k8s:app=frontend'));
  assert.ok(f.source.labels?.includes('k8s:io.kubernetes.pod.namespace=shop'));
  assert.equal(f.destination.pod_name, 'cart-0');
  assert.deepEqual(f.destination_service, { name: 'cart', namespace: 'shop' });
  const unknown = enrichFlow(flow('192.0.2.9', '10.244.0.6'), index);
  assert.equal(unknown.source.pod_name, undefined);
  assert.equal(unknown.destination_service, undefined);
});

test('workloads fall back to the direct owner', () => {
  assert.deepEqual(workloadsOf(pod('a', 'x', '1.1.1.1', { owner: { kind: 'DaemonSet', name: 'ds' } })), [{ name: 'ds', kind: 'DaemonSet' }]);
  assert.deepEqual(workloadsOf(pod('a', 'x', '1.1.1.1')), []);
});

test('namespace and pod filters match either end', () => {
  const f = flow('1', '2', { source: { namespace: 'shop', pod_name: 'frontend-1' }, destination: { namespace: 'data', pod_name: 'redis-0' } });
  const matches = (text: string) => {
    const set = parseFilterText(text);
    assert.ok(set.ok, text);
    const p = compileFilterSet(set.value);
    assert.ok(p.ok, text);
    return p.value(f);
  };
  assert.ok(matches('--namespace data'));
  assert.ok(!matches('--namespace payments'));
  assert.ok(matches('--pod shop/frontend'));
  assert.ok(matches('--pod data/redis-0'));
  assert.ok(!matches('--pod shop/redis-0'));
});

test('times print as RFC 3339 with nanoseconds', () => {
  assert.equal(isoFromNs(1_700_000_000_123_456_789n), '2023-11-14T22:13:20.123456789Z');
  assert.deepEqual(labelStrings({ b: '2', a: '1' }, 'ns'), ['k8s:a=1', 'k8s:b=2', 'k8s:io.kubernetes.pod.namespace=ns']);
});

test('enrichment shares one frozen destination_service per Service between flows (a node keeps tens of thousands)', () => {
  const svc = service('shop', 'cart', '10.96.0.20');
  const index = { podByIP: () => undefined, serviceByClusterIP: (ip: string) => (ip === '10.96.0.20' ? svc : undefined) };
  const a = enrichFlow(flow('10.244.0.5', '10.96.0.20'), index);
  const b = enrichFlow(flow('10.244.0.6', '10.244.0.9', { extensions: { original_destination: { ip: '10.96.0.20', port: 80 } } }), index);
  assert.deepEqual(a.destination_service, { name: 'cart', namespace: 'shop' });
  assert.equal(a.destination_service, b.destination_service, 'the same object');
  assert.ok(Object.isFrozen(a.destination_service));
  const renamed = { ...svc, metadata: { ...svc.metadata, namespace: undefined } };
  assert.deepEqual(enrichFlow(flow('10.244.0.5', '10.96.0.20'), { podByIP: () => undefined, serviceByClusterIP: () => renamed }).destination_service, { name: 'cart', namespace: 'default' });
});

// The service map's graph from flows: workloads and services grouped by namespace, client-side
// observations only, drops counted (and seen at either end), clicks carry Flows panel filters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow } from '../../src/flows/flow';
import { buildGraph } from '../../src/panels/map/graph';
import { isGraph, mapGuards } from '../../src/panels/map/protocol';
import { parseFilterText } from '../../src/flows/filter-args';
import { service } from '../helpers/builders';

function flow(over: Partial<Flow>): Flow {
  return {
    time: 't', verdict: 'FORWARDED', IP: { source: '10.244.0.3', destination: '10.244.0.7', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 1, destination_port: 8080 } },
    source: { namespace: 'shop', pod_name: 'frontend-abc-1', workloads: [{ name: 'frontend', kind: 'Deployment' }] },
    destination: { namespace: 'payments', pod_name: 'payments-x-1', workloads: [{ name: 'payments', kind: 'Deployment' }] },
    destination_service: { namespace: 'payments', name: 'payments' }, Type: 'SOCK', node_name: 'n', traffic_direction: 'EGRESS', extensions: { tcp_event: 'connect' }, ...over,
  };
}

test('nodes grouped by namespace, edges to services with rates and drops', () => {
  const flows = [
    flow({}), flow({}), flow({ traffic_direction: 'INGRESS', extensions: { tcp_event: 'accept' } }),
    flow({ destination_service: { namespace: 'shop', name: 'ghost' }, destination: {}, IP: { source: '10.244.0.3', destination: '10.96.0.17', ipVersion: 'IPv4' }, extensions: { tcp_event: 'connect_failed' } }),
    flow({ destination_service: undefined, verdict: 'DROPPED', traffic_direction: 'INGRESS', destination: { namespace: 'data', pod_name: 'redis-1' } }),
    flow({ destination_service: undefined, source: {}, IP: { source: '192.168.1.5', destination: '10.244.0.7', ipVersion: 'IPv4' } }),
  ];
  const g = buildGraph(flows, [service('data', 'redis', '10.96.0.20')], 300, 4);
  assert.equal(isGraph(g), true);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  assert.deepEqual([...byId.keys()].sort(), ['ip:192.168.1.5', 'ns:data', 'ns:payments', 'ns:shop', 'svc:data/redis', 'svc:payments/payments', 'svc:shop/ghost', 'wl:data/redis-1', 'wl:payments/payments', 'wl:shop/frontend'].sort());
  assert.equal(byId.get('svc:data/redis')?.parent, 'ns:data');
  assert.equal(byId.get('ip:192.168.1.5')?.parent, undefined);
  const edges = new Map(g.edges.map((e) => [e.id, e]));
  assert.deepEqual(edges.get('wl:shop/frontend->svc:payments/payments'), { id: 'wl:shop/frontend->svc:payments/payments', source: 'wl:shop/frontend', target: 'svc:payments/payments', flows: 2, rate: 0.01, drops: 0, filter: '--from-pod shop/frontend --to-service payments/payments' });
  assert.equal(edges.get('wl:shop/frontend->svc:shop/ghost')?.drops, 1, 'a failed connect is a drop');
  assert.equal(edges.get('wl:shop/frontend->wl:data/redis-1')?.drops, 1, 'a drop seen at the destination counts');
  for (const x of [...g.nodes.map((n) => n.filter), ...g.edges.map((e) => e.filter)]) assert.equal(parseFilterText(x).ok, true, `filter parses: ${x}`);
  assert.equal(mapGuards.commands.openFlows({ filter: 'x'.repeat(5000) }), false);
});

// The Service → backend view: frontends, each backend's share of observed connections, drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow } from '../../src/flows/flow';
import { buildBackendsView, frontendsOf } from '../../src/panels/backends/model';
import { isBackendsView } from '../../src/panels/backends/protocol';
import { pod, service } from '../helpers/builders';

const svc = { ...service('shop', 'cart', '10.96.0.12', { app: 'cart' }), spec: { type: 'NodePort', clusterIP: '10.96.0.12', clusterIPs: ['10.96.0.12'], sessionAffinity: 'ClientIP', selector: { app: 'cart' }, ports: [{ name: 'http', port: 8080, targetPort: 'http', nodePort: 30080, protocol: 'TCP' }], externalIPs: ['192.0.2.1'] } };

function connect(dst: string, over: Partial<Flow> = {}): Flow {
  return { time: 't', verdict: 'FORWARDED', IP: { source: '10.244.0.3', destination: dst, ipVersion: 'IPv4' }, l4: { TCP: { source_port: 1, destination_port: 8080 } }, source: {}, destination: {},
    destination_service: { namespace: 'shop', name: 'cart' }, Type: 'SOCK', node_name: 'n', traffic_direction: 'EGRESS', extensions: { tcp_event: 'connect' }, ...over };
}

test('frontends: ClusterIP, NodePort and external IPs per port', () => {
  assert.deepEqual(frontendsOf(svc).map((f) => `${f.kind} ${f.address}:${f.port}/${f.protocol} → ${f.targetPort}`), [
    'ClusterIP 10.96.0.12:8080/TCP → http', 'NodePort <node IPs>:30080/TCP → http', 'ExternalIP 192.0.2.1:8080/TCP → http',
  ]);
});

test('shares of observed connections per backend, and drift', () => {
  const backends = [
    { ip: '10.244.0.4', ready: true, nodeName: 'node-1', pod: pod('shop', 'cart-a', '10.244.0.4') },
    { ip: '10.244.0.5', ready: true, pod: pod('shop', 'cart-b', '10.244.0.5') },
    { ip: '10.244.0.6', ready: false, pod: pod('shop', 'cart-c', '10.244.0.6') },
  ];
  const flows = [
    connect('10.244.0.4'), connect('10.244.0.4'), connect('10.244.0.4'), connect('10.244.0.5'),
    connect('10.244.0.4', { traffic_direction: 'INGRESS', extensions: { tcp_event: 'accept' } }),
    connect('10.244.0.4', { extensions: { tcp_event: 'close' } }),
    connect('10.244.0.9'), connect('10.244.0.6'), connect('10.96.0.12'),
    connect('10.244.0.4', { destination_service: { namespace: 'shop', name: 'other' } }),
    // not connections: a reply, an HTTP request inside a connection, a tc flow's end (its start counts)
    connect('10.244.0.3', { is_reply: true, Type: 'L7', extensions: {} }),
    connect('10.244.0.5', { Type: 'L7', extensions: {} }),
    connect('10.244.0.5', { Type: 'L3_L4', extensions: { flow_event: 'end' } }),
  ];
  const v = buildBackendsView(svc, backends, flows, undefined, 300, 1);
  assert.equal(isBackendsView(v), true);
  assert.equal(v.total, 6);
  assert.deepEqual(v.backends.map((b) => [b.pod ?? b.ip, b.connections, Math.round(b.share * 100), b.declared, b.observed]), [
    ['shop/cart-a', 3, 50, true, true], ['shop/cart-b', 1, 17, true, true], ['shop/cart-c', 1, 17, true, true], ['10.244.0.9', 1, 17, false, true],
  ]);
  assert.equal(v.sessionAffinity, 'ClientIP');
  assert.equal(v.untranslated, 1, 'a connect to the ClusterIP itself has no known backend');
  assert.deepEqual(v.drift, ['10.244.0.9 received 1 connection(s) but is not in the EndpointSlices', 'shop/cart-c is not ready but received connections']);
  assert.match(v.programmedNote ?? '', /not reported/);
  const p = buildBackendsView(svc, backends, [], new Set(['10.244.0.4', '10.244.0.7']), 300, 2);
  assert.deepEqual(p.drift, ['shop/cart-b is declared ready but not programmed on the node', '10.244.0.7 is programmed on the node but not declared']);
  assert.equal(p.programmedNote, undefined);
});

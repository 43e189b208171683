// The Trace pod timeline: flows of one pod → events grouped by connection from the pod's side,
// with connect latency, DNS, HTTP, resets, retransmits, drops with reasons and policies; bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow } from '../../src/flows/flow';
import { TraceTimeline } from '../../src/panels/trace/timeline';
import { isTraceView } from '../../src/panels/trace/protocol';

const POD = { namespace: 'shop', name: 'frontend-1' };
const ME = { namespace: 'shop', pod_name: 'frontend-1' };
const CART = { namespace: 'shop', pod_name: 'cart-1' };
const DNS = { namespace: 'kube-system', pod_name: 'coredns-1' };

function flow(sec: number, over: Partial<Flow>): Flow {
  return {
    time: `2026-01-01T00:00:${String(sec).padStart(2, '0')}.000000000Z`, verdict: 'FORWARDED', Type: 'SOCK', node_name: 'n1', traffic_direction: 'EGRESS',
    IP: { source: '10.244.0.5', destination: '10.244.0.9', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 40000, destination_port: 8080 } },
    source: ME, destination: CART, ...over,
  };
}

const reply = (f: Flow): Partial<Flow> => ({ IP: { source: f.IP.destination, destination: f.IP.source, ipVersion: 'IPv4' }, source: f.destination, destination: f.source, is_reply: true,
  l4: { TCP: { source_port: f.l4.TCP?.destination_port ?? 0, destination_port: f.l4.TCP?.source_port ?? 0 } } });

test('an outbound connection: connect with latency, HTTP request and answer, close, retransmits, in time order', () => {
  const t = new TraceTimeline(POD);
  const req = flow(2, { Type: 'L7', l7: { type: 'REQUEST', http: { method: 'GET', url: 'http://cart/items' } } });
  t.add([
    flow(1, { extensions: { tcp_event: 'connect', connect_latency_ns: 1_250_000, original_destination: { ip: '10.96.0.12', port: 80 } }, destination_service: { namespace: 'shop', name: 'cart' } }),
    flow(3, { ...reply(req), Type: 'L7', l7: { type: 'RESPONSE', latency_ns: '3500000', http: { code: 503, method: 'GET', url: 'http://cart/items' } } }),
    req,
    flow(1, { extensions: { tcp_event: 'accept' } }),
    flow(4, { extensions: { tcp_event: 'close', duration_ns: 3_000_000_000, retransmits: 2 } }),
    flow(5, { IP: { source: '10.244.0.7', destination: '10.244.0.8', ipVersion: 'IPv4' }, source: CART, destination: DNS }), // not this pod
  ]);
  const v = t.view(1, '1/1 agents');
  assert.ok(isTraceView(v), 'the view passes the contract guard');
  assert.equal(v.connections.length, 1);
  const c = v.connections[0]!;
  assert.equal(c.label, '→ shop/cart:80 (pod shop/cart-1)');
  assert.equal(c.outbound, true);
  assert.deepEqual(c.events.map((e) => [e.kind, e.text, e.latencyMs]), [
    ['connect', 'connected to shop/cart:80 (pod shop/cart-1)', 1.25],
    ['accept', 'shop/cart-1:8080 accepted', undefined],
    ['http', 'HTTP GET http://cart/items', undefined],
    ['http', 'HTTP 503 GET http://cart/items', 3.5],
    ['close', 'closed after 3000 ms', undefined],
    ['retransmit', '2 retransmits', undefined],
  ]);
  assert.equal(c.problems, 2, 'the 503 and the retransmits');
});

test('DNS lookups, drops with the reason and the policy, resets; inbound connections keyed by the peer', () => {
  const t = new TraceTimeline(POD);
  const q = flow(1, { Type: 'L7', IP: { source: '10.244.0.5', destination: '10.96.0.10', ipVersion: 'IPv4' }, l4: { UDP: { source_port: 51000, destination_port: 53 } }, destination: DNS,
    destination_service: { namespace: 'kube-system', name: 'kube-dns' }, l7: { type: 'REQUEST', dns: { query: 'cart.shop.svc.cluster.local.', qtypes: ['A'] } } });
  const a = flow(1, { Type: 'L7', IP: { source: '10.96.0.10', destination: '10.244.0.5', ipVersion: 'IPv4' }, l4: { UDP: { source_port: 53, destination_port: 51000 } }, source: DNS, destination: ME,
    source_service: { namespace: 'kube-system', name: 'kube-dns' }, l7: { type: 'RESPONSE', latency_ns: '800000', dns: { query: 'nope.', rcode: 3, ips: [] } } });
  const drop = flow(2, { verdict: 'DROPPED', Type: 'L3_L4', drop_reason_desc: 'POLICY_DENIED', l4: { TCP: { source_port: 40100, destination_port: 6379 } },
    egress_denied_by: [{ namespace: 'shop', name: 'default-deny' }], extensions: { drop_reason: { value: 6, name: 'NETFILTER_DROP', location: 'nf_hook_slow' } } });
  const inbound = flow(3, { IP: { source: '10.244.0.7', destination: '10.244.0.5', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 45000, destination_port: 8080 } }, source: CART, destination: ME, extensions: { tcp_event: 'reset_received' } });
  t.add([q, a, drop, inbound]);
  const v = t.view(2, 'ok');
  assert.deepEqual(v.connections.map((c) => c.label), ['← shop/cart-1:45000 on :8080', '→ shop/cart-1:6379', 'DNS → kube-system/kube-dns:53 (pod kube-system/coredns-1)']);
  const dns = v.connections[2]!;
  assert.deepEqual(dns.events.map((e) => [e.text, e.severity, e.latencyMs]), [['DNS query cart.shop.svc.cluster.local. A', 'info', undefined], ['DNS answer NXDOMAIN nope.', 'error', 0.8]]);
  const d = v.connections[1]!.events[0]!;
  assert.equal(d.text, 'dropped: POLICY_DENIED');
  assert.deepEqual(d.explain, ['egress denied by shop/default-deny', 'kernel: NETFILTER_DROP at nf_hook_slow']);
  assert.deepEqual(v.connections[0]!.events.map((e) => [e.kind, e.text]), [['reset', 'reset received from shop/cart-1:45000']]);
  assert.equal(v.events, 4);
});

test('plain counters add nothing; the timeline keeps the most recent connections and events', () => {
  const t = new TraceTimeline(POD, { connections: 2, eventsPerConnection: 3 });
  assert.equal(t.add([flow(1, { Type: 'L3_L4', extensions: { flow_event: 'update' } })]), false);
  for (let i = 0; i < 5; i++) t.add([flow(i, { l4: { TCP: { source_port: 41000 + i, destination_port: 80 } }, extensions: { tcp_event: 'connect' } })]);
  for (let i = 0; i < 5; i++) t.add([flow(10 + i, { l4: { TCP: { source_port: 41004, destination_port: 80 } }, extensions: { tcp_event: 'close' } })]);
  const v = t.view(3, 'ok');
  assert.equal(v.connections.length, 2);
  assert.equal(v.connections[0]!.events.length, 3);
  assert.equal(v.connections[0]!.last, '2026-01-01T00:00:14.000000000Z');
  assert.equal(v.connections[1]!.first, '2026-01-01T00:00:03.000000000Z');
});

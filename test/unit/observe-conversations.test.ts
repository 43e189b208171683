// The conversation view of `flowlens observe -o compact`: one connection seen by two nodes'
// agents names both observation points; a single node's output is unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conversations, compactLine } from '../../src/cli/observe';
import type { FlowResponse } from '../../src/flows/flow';

function row(node: string, dir: 'EGRESS' | 'INGRESS', src: string, sport: number, dst: string, dport: number): FlowResponse {
  const flow = {
    time: '2026-01-02T03:04:05.678Z', verdict: 'FORWARDED', Type: 'L3_L4', node_name: node, traffic_direction: dir, Summary: 'TCP flow end',
    IP: { source: src, destination: dst, ipVersion: 'IPv4' }, l4: { TCP: { source_port: sport, destination_port: dport } }, source: {}, destination: {},
  };
  return { flow, node_name: node, time: flow.time } as unknown as FlowResponse;
}

test('both ends of a cross-node connection name each other, in either direction', () => {
  const c = new Conversations();
  const egress = row('node-1', 'EGRESS', '10.244.1.2', 40000, '10.244.2.2', 9090);
  const ingress = row('node-2', 'INGRESS', '10.244.1.2', 40000, '10.244.2.2', 9090);
  const reply = row('node-2', 'EGRESS', '10.244.2.2', 9090, '10.244.1.2', 40000);
  c.learn([egress, ingress, reply]);
  assert.match(compactLine(egress, { conversations: c }), / from-endpoint@node-1 FORWARDED \(TCP flow end\) \[conversation: also from-endpoint@node-2, to-endpoint@node-2\]$/);
  assert.match(compactLine(ingress, { conversations: c }), / to-endpoint@node-2 FORWARDED \(TCP flow end\) \[conversation: also from-endpoint@node-1\]$/);
});

test('another connection (other port) is another conversation; one node prints as before', () => {
  const c = new Conversations();
  const a = row('node-1', 'EGRESS', '10.244.1.2', 40000, '10.244.2.2', 9090);
  c.learn([a]);
  assert.equal(c.multiNode, false);
  assert.equal(compactLine(a, { conversations: c }), compactLine(a));
  c.learn([row('node-2', 'INGRESS', '10.244.1.2', 40001, '10.244.2.2', 9090)]);
  assert.equal(c.multiNode, true);
  assert.deepEqual(c.elsewhere(a), []);
  assert.match(compactLine(a, { conversations: c }), / from-endpoint@node-1 FORWARDED \(TCP flow end\)$/);
});

test('bounded: the oldest conversation is forgotten first', () => {
  const c = new Conversations(2);
  const first = row('node-1', 'EGRESS', '10.0.0.1', 1, '10.0.0.2', 80);
  c.learn([first, row('node-1', 'EGRESS', '10.0.0.1', 2, '10.0.0.2', 80), row('node-1', 'EGRESS', '10.0.0.1', 3, '10.0.0.2', 80)]);
  c.learn([row('node-2', 'INGRESS', '10.0.0.1', 1, '10.0.0.2', 80)]);
  assert.deepEqual(c.elsewhere(first), ['to-endpoint@node-2'], 'relearned after eviction');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyWatchEvent, type WatchEvent } from '../../src/cluster/informer';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { parseConntrack } from '../../src/agent/conntrack';
import { pod } from '../helpers/builders';

const p1 = pod('a', 'p1', '10.0.0.1');
const p1b = { ...p1, metadata: { ...p1.metadata, resourceVersion: '9' } };

const cases: { name: string; start: KubeObject[]; ev: WatchEvent; result: string; keys: string[] }[] = [
  { name: 'add', start: [], ev: { type: 'ADDED', object: p1 }, result: 'changed', keys: ['a/p1'] },
  { name: 'modify', start: [p1], ev: { type: 'MODIFIED', object: p1b }, result: 'changed', keys: ['a/p1'] },
  { name: 'delete', start: [p1], ev: { type: 'DELETED', object: p1 }, result: 'changed', keys: [] },
  { name: 'delete unknown', start: [], ev: { type: 'DELETED', object: p1 }, result: 'unchanged', keys: [] },
  { name: 'bookmark', start: [p1], ev: { type: 'BOOKMARK', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: '', resourceVersion: '12' } } }, result: 'unchanged', keys: ['a/p1'] },
  { name: '410 in stream', start: [p1], ev: { type: 'ERROR', object: { apiVersion: 'v1', kind: 'Status', metadata: { name: '' }, code: 410 } as unknown as KubeObject }, result: 'gone', keys: ['a/p1'] },
  { name: 'other error', start: [], ev: { type: 'ERROR', object: { apiVersion: 'v1', kind: 'Status', metadata: { name: '' }, code: 500 } as unknown as KubeObject }, result: 'error', keys: [] },
];

for (const c of cases) {
  test(`watch event: ${c.name}`, () => {
    const items = new Map(c.start.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o] as const));
    assert.equal(applyWatchEvent(items, c.ev), c.result);
    assert.deepEqual([...items.keys()], c.keys);
  });
}

test('conntrack: DNAT entries map the original tuple to the backend; others are ignored', () => {
  const text = [
    'ipv4     2 tcp      6 117 TIME_WAIT src=10.244.0.5 dst=10.96.0.20 sport=40000 dport=80 src=10.244.0.7 dst=10.244.0.5 sport=8080 dport=40000 [ASSURED] mark=0 zone=0 use=2',
    'ipv4     2 udp      17 29 src=10.244.0.5 dst=10.96.0.10 sport=5353 dport=53 src=10.244.0.1 dst=10.244.0.5 sport=53 dport=5353 mark=0 zone=0 use=2',
    'ipv4     2 tcp      6 60 ESTABLISHED src=10.244.0.5 dst=10.244.0.9 sport=41000 dport=80 src=10.244.0.9 dst=10.244.0.5 sport=80 dport=41000 [ASSURED] mark=0 use=1',
    'garbage line',
    '',
  ].join('\n');
  const m = parseConntrack(text);
  assert.deepEqual(m.get('tcp 10.244.0.5:40000 10.96.0.20:80'), { ip: '10.244.0.7', port: 8080 });
  assert.deepEqual(m.get('udp 10.244.0.5:5353 10.96.0.10:53'), { ip: '10.244.0.1', port: 53 });
  assert.deepEqual(m.get('reply tcp 10.244.0.5:40000 10.244.0.7:8080'), { ip: '10.96.0.20', port: 80 }, 'the backend side maps back to the VIP');
  assert.equal(m.size, 4);
});

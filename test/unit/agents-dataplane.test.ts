import { test } from 'node:test';
import assert from 'node:assert/strict';
import { programmedBackends } from '../../src/agents/dataplane';
import type { NodeStatusMessage } from '../../src/agents/protocol';

function node(name: string, dataplane?: unknown): NodeStatusMessage {
  return { type: 'node_status', node: name, ready: true, loader_restarts: 0, flows_stored: 0, store_capacity: 1, lost: {}, clients: 0, uptime_seconds: 1, ...(dataplane === undefined ? {} : { dataplane }) } as NodeStatusMessage;
}

test('programmed backends: union over reporting nodes, for the Service frontends only', () => {
  const dp = { mode: 'iptables', frontends: [
    { ip: '10.96.0.13', port: 8080, protocol: 'TCP', backends: [{ ip: '10.244.0.5', port: 8080, weight: 0.5 }, { ip: '10.244.0.6', port: 8080, weight: 0.5 }] },
    { ip: '10.96.0.20', port: 80, protocol: 'TCP', backends: [{ ip: '10.244.0.9', port: 80, weight: 1 }] },
  ] };
  const other = { mode: 'iptables', frontends: [{ ip: '10.96.0.13', port: 8080, protocol: 'TCP', backends: [{ ip: '10.244.1.7', port: 8080, weight: 1 }] }] };
  assert.deepEqual([...(programmedBackends([node('a', dp), node('b', other)], ['10.96.0.13']) ?? [])].sort(), ['10.244.0.5', '10.244.0.6', '10.244.1.7']);
  assert.deepEqual([...(programmedBackends([node('a', dp)], ['10.96.0.99']) ?? ['x'])], [], 'reported, but nothing programmed for it');
});

test('programmed backends: unknown when no node reports a dataplane; malformed entries ignored', () => {
  assert.equal(programmedBackends([node('a')], ['10.96.0.13']), undefined);
  assert.equal(programmedBackends([node('a', { mode: 'none', frontends: [] })], ['10.96.0.13']), undefined);
  assert.equal(programmedBackends(undefined, ['10.96.0.13']), undefined);
  const junk = { mode: 'iptables', frontends: [null, 7, { ip: 5 }, { ip: '10.96.0.13', backends: [null, { ip: 3 }, { ip: '10.244.0.5' }] }] };
  assert.deepEqual([...(programmedBackends([node('a', junk), node('b', 'garbage')], ['10.96.0.13']) ?? [])], ['10.244.0.5']);
});

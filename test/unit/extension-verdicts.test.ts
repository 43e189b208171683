// Flow verdicts for CodeLens and What-if: a reply (is_reply, e.g. an HTTP response from the server)
// is judged as the connection its request opened, never as traffic towards the client's ephemeral port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow } from '../../src/flows/flow';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { parsePolicy } from '../../src/policy/parse';
import { queryOf, whatIf } from '../../src/extension/policies/verdicts';
import { pod } from '../helpers/builders';

const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } });
const objs = {
  namespaces: [ns('shop')],
  pods: [pod('shop', 'frontend-1', '10.244.0.3', { labels: { app: 'frontend' } }), pod('shop', 'catalog-1', '10.244.0.4', { labels: { app: 'catalog' } })],
  policies: [],
};
const request: Flow = { time: 't', verdict: 'FORWARDED', IP: { source: '10.244.0.3', destination: '10.244.0.4', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 45810, destination_port: 8080 } }, source: {}, destination: {}, Type: 'L7', node_name: 'n', traffic_direction: 'EGRESS', is_reply: false };
const reply: Flow = { ...request, IP: { source: '10.244.0.4', destination: '10.244.0.3', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 8080, destination_port: 45810 } }, is_reply: true, traffic_direction: 'INGRESS' };

test('a reply is the query of its request', () => {
  assert.deepEqual(queryOf(reply), queryOf(request));
  assert.deepEqual(queryOf(request), { from: { ip: '10.244.0.3' }, to: { ip: '10.244.0.4' }, port: 8080, protocol: 'TCP' });
});

test('What-if: a policy that lets catalog in on 8080 and out nowhere changes nothing for the connection or its reply', () => {
  const draft = parsePolicy({ where: 'draft' }, {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'catalog', namespace: 'shop' },
    spec: { podSelector: { matchLabels: { app: 'catalog' } }, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'frontend' } } }], ports: [{ port: 8080, protocol: 'TCP' }] }], egress: [] },
  });
  assert.deepEqual(whatIf(objs, [draft], [request, reply]), [], 'the reply is not an egress from catalog to port 45810');
  // Closing 8080 does change the connection, once (the reply is the same connection).
  const closed = parsePolicy({ where: 'draft' }, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'catalog', namespace: 'shop' }, spec: { podSelector: { matchLabels: { app: 'catalog' } }, policyTypes: ['Ingress'], ingress: [] } });
  const changes = whatIf(objs, [closed], [reply, request]);
  assert.equal(changes.length, 1);
  assert.equal(changes[0]?.after, false);
});

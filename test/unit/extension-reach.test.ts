// "Why can't A reach B?": the first failing step is named — DNS, service port, endpoints,
// ingress policy (from the real policy engine) and what the kernel saw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/cluster/model';
import type { Flow } from '../../src/flows/flow';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { PolicyEngine } from '../../src/policy/engine';
import { buildCluster } from '../../src/extension/policies/verdicts';
import { diagnoseReach, reachMarkdown } from '../../src/extension/policies/reach';
import { pod, service } from '../helpers/builders';

const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } });
const pods = [
  pod('shop', 'frontend-1', '10.244.0.3', { labels: { app: 'frontend' } }),
  pod('shop', 'cart-1', '10.244.0.4', { labels: { app: 'cart' } }),
  pod('data', 'redis-1', '10.244.0.5', { labels: { app: 'redis' }, ports: [{ name: 'redis', containerPort: 6379 }] }),
];
const redis = { ...service('data', 'redis', '10.96.0.20', { app: 'redis' }), spec: { clusterIP: '10.96.0.20', selector: { app: 'redis' }, ports: [{ port: 6379, protocol: 'TCP', targetPort: 'redis' }] } };
const ghost = { ...service('shop', 'ghost', '10.96.0.17', { app: 'nothing' }), spec: { clusterIP: '10.96.0.17', selector: { app: 'nothing' }, ports: [{ port: 80, protocol: 'TCP' }] } };
const services = [redis, ghost];
const policy: KubeObject = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'redis-allow-cart', namespace: 'data' },
  spec: { podSelector: { matchLabels: { app: 'redis' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } }, podSelector: { matchLabels: { app: 'cart' } } }], ports: [{ port: 6379, protocol: 'TCP' }] }] },
};
const engine = new PolicyEngine(buildCluster({ namespaces: [ns('shop'), ns('data')], pods, policies: [policy] }));
const backendsOf = (s: KubeObject): Backend[] => (s === redis ? [{ ip: '10.244.0.5', ready: true, pod: pods[2] }] : []);

function run(src: KubeObject, target: string, port: number, flows: Flow[] = []) {
  return diagnoseReach({ source: src, target, port, protocol: 'TCP', pods: (n) => pods.filter((p) => !n || p.metadata.namespace === n), services: (n) => services.filter((s) => !n || s.metadata.namespace === n), backendsOf, engine, flows });
}

const statuses = (r: ReturnType<typeof run>) => r.steps.map((s) => `${s.name}:${s.status}`);

test('denied by the ingress policy that isolates the destination', () => {
  const r = run(pods[0] as KubeObject, 'redis.data.svc.cluster.local', 6379);
  assert.deepEqual(statuses(r), ['DNS:ok', 'Service port:ok', 'Endpoints:ok', 'Translation:skip', 'Egress policy:ok', 'Ingress policy:fail', 'Kernel:skip']);
  assert.match(r.verdict, /Ingress policy — denied: data\/redis-allow-cart selects the destination/);
  assert.match(reachMarkdown(r), /\| ❌ \| Ingress policy \|/);
});

test('allowed for the cart; the kernel evidence is reported', () => {
  const flows: Flow[] = [{ time: 't', verdict: 'FORWARDED', IP: { source: '10.244.0.4', destination: '10.244.0.5', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 1, destination_port: 6379 } }, source: {}, destination: { pod_name: 'redis-1' }, Type: 'SOCK', node_name: 'n', traffic_direction: 'EGRESS', destination_service: { namespace: 'data', name: 'redis' }, extensions: { original_destination: { ip: '10.96.0.20', port: 6379 } } }];
  const r = run(pods[1] as KubeObject, 'data/redis', 6379, flows);
  assert.deepEqual(statuses(r), ['Target:ok', 'Service port:ok', 'Endpoints:ok', 'Translation:ok', 'Egress policy:ok', 'Ingress policy:ok', 'Kernel:ok']);
  assert.match(r.steps[5]?.detail ?? '', /allowed by data\/redis-allow-cart rule 1/);
  assert.match(r.verdict, /^Nothing blocks/);
});

test('DNS, service port and endpoints fail first', () => {
  assert.deepEqual(statuses(run(pods[0] as KubeObject, 'nope', 80)), ['DNS:fail']);
  assert.deepEqual(statuses(run(pods[0] as KubeObject, 'redis.data', 80)), ['DNS:ok', 'Service port:fail']);
  const g = run(pods[0] as KubeObject, 'ghost', 80);
  assert.deepEqual(statuses(g), ['DNS:ok', 'Service port:ok', 'Endpoints:fail']);
  assert.match(g.verdict, /no endpoints \(selector app=nothing\)/);
  assert.deepEqual(statuses(run(pods[0] as KubeObject, 'shop/missing', 80)), ['Target:fail']);
});

test('a connection still addressed to the service IP (dropped or refused before NAT) is not shown as translated', () => {
  const base: Flow = { time: 't', verdict: 'DROPPED', IP: { source: '10.244.0.3', destination: '10.96.0.20', ipVersion: 'IPv4' }, l4: { TCP: { source_port: 1, destination_port: 6379 } }, source: {}, destination: {}, Type: 'L3_L4', node_name: 'n', traffic_direction: 'EGRESS', destination_service: { namespace: 'data', name: 'redis' } };
  const r = run(pods[0] as KubeObject, 'redis.data', 6379, [base]);
  const t = r.steps.find((s) => s.name === 'Translation');
  assert.equal(t?.status, 'skip');
  assert.equal(t?.detail, '1 recent connection(s) to the service address, none seen translated to a backend');
  const translated = run(pods[0] as KubeObject, 'redis.data', 6379, [base, { ...base, verdict: 'FORWARDED', IP: { ...base.IP, destination: '10.244.0.5' }, destination: { pod_name: 'redis-1' }, extensions: { original_destination: { ip: '10.96.0.20', port: 6379 } } }]);
  assert.equal(translated.steps.find((s) => s.name === 'Translation')?.detail, 'recent connections via 10.96.0.20 reached redis-1');
});

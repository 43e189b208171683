import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { buildEndpointSlice, resolveTargetPort, servicePortRules } from '../../src/sandbox/endpoints';
import { Ipam } from '../../src/sandbox/net/ipam';
import { ManifestError, parseManifests } from '../../src/sandbox/manifests';
import { podPorts } from '../../src/sandbox/podrunner';
import { DEMO_SCENARIO } from '../../src/sandbox/scenarios/demo';
import { desiredReplicaSet, matchSelector, podFromTemplate, podTemplateHash } from '../../src/sandbox/workloads';

function pod(name: string, labels: Record<string, string>, ip: string | undefined, ready: boolean, ports = [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', uid: `uid-${name}`, labels },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x', ports }] },
    status: { podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}
const svc: KubeObject = {
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'cart', namespace: 'shop', uid: 'svc-uid' },
  spec: { clusterIP: '10.96.0.12', selector: { app: 'cart' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }, { name: 'raw', port: 81, targetPort: 9999, protocol: 'TCP' }] },
};

test('EndpointSlice: selected pods with IPs, readiness, targetRef, ports resolved by name and number', () => {
  const pods = [pod('a', { app: 'cart' }, '10.244.0.2', true), pod('b', { app: 'cart' }, '10.244.0.3', false), pod('c', { app: 'cart' }, undefined, true), pod('d', { app: 'other' }, '10.244.0.4', true)];
  const slice = buildEndpointSlice(svc, pods);
  assert.equal(slice.metadata.labels?.['kubernetes.io/service-name'], 'cart');
  assert.equal(slice.addressType, 'IPv4');
  assert.deepEqual(slice.ports, [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'raw', protocol: 'TCP', port: 9999 }]);
  const eps = slice.endpoints as { addresses: string[]; conditions: { ready: boolean }; targetRef: { name: string }; nodeName: string }[];
  assert.deepEqual(eps.map((e) => [e.addresses[0], e.conditions.ready, e.targetRef.name, e.nodeName]), [['10.244.0.2', true, 'a', 'n1'], ['10.244.0.3', false, 'b', 'n1']]);
  const rules = servicePortRules([svc], [slice]);
  assert.deepEqual(rules.map((r) => [r.portName, r.port, r.endpoints]), [['http', 80, [{ ip: '10.244.0.2', port: 8080 }]], ['raw', 81, [{ ip: '10.244.0.2', port: 9999 }]]]);
});

test('named target port missing on the pod resolves to nothing', () => {
  assert.equal(resolveTargetPort({ port: 80, targetPort: 'grpc' }, pod('a', {}, '1.1.1.1', true)), undefined);
  assert.equal(resolveTargetPort({ port: 80, targetPort: 'http', protocol: 'UDP' }, pod('a', {}, '1.1.1.1', true)), undefined);
  assert.equal(resolveTargetPort({ port: 80 }, pod('a', {}, '1.1.1.1', true)), 80);
});

test('Deployment -> ReplicaSet name, template hash label, owner reference; pods get random suffixes', () => {
  const deploy: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'cart', namespace: 'shop', uid: 'd-uid' }, spec: { replicas: 3, selector: { matchLabels: { app: 'cart' } }, template: { metadata: { labels: { app: 'cart' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } };
  const rs = desiredReplicaSet(deploy);
  const hash = podTemplateHash(deploy.spec.template);
  assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
  assert.equal(rs.metadata.name, `cart-${hash}`);
  assert.equal(rs.spec.replicas, 3);
  assert.deepEqual(rs.spec.selector.matchLabels, { app: 'cart', 'pod-template-hash': hash });
  assert.equal(rs.metadata.ownerReferences?.[0]?.uid, 'd-uid');
  const changed = structuredClone(deploy);
  changed.spec.template.spec.containers[0].image = 'y';
  assert.notEqual(podTemplateHash(changed.spec.template), hash);
  const p1 = podFromTemplate({ ...rs, metadata: { ...rs.metadata, uid: 'rs-uid' } });
  const p2 = podFromTemplate({ ...rs, metadata: { ...rs.metadata, uid: 'rs-uid' } }, 'node-a');
  assert.match(p1.metadata.name, new RegExp(`^cart-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
  assert.notEqual(p1.metadata.name, p2.metadata.name);
  assert.equal(p2.spec.nodeName, 'node-a');
  assert.equal(p1.metadata.labels?.['pod-template-hash'], hash);
});

test('label selectors with expressions', () => {
  assert.ok(matchSelector({ matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'In', values: ['2', '3'] }] }, { a: '1', b: '3' }));
  assert.ok(!matchSelector({ matchExpressions: [{ key: 'b', operator: 'NotIn', values: ['2'] }] }, { b: '2' }));
  assert.ok(matchSelector({ matchExpressions: [{ key: 'b', operator: 'DoesNotExist' }] }, {}));
  assert.ok(!matchSelector({}, { a: '1' }), 'an empty selector selects nothing here');
});

test('container ports: http by name or 80/8080, UDP separately, invalid ignored', () => {
  const p = pod('a', {}, '1.1.1.1', true, [{ name: 'http-alt', containerPort: 9000, protocol: 'TCP' }, { name: 'x', containerPort: 8080, protocol: 'TCP' }, { name: 'db', containerPort: 5432, protocol: 'TCP' }, { name: 'u', containerPort: 53, protocol: 'UDP' }, { name: 'bad', containerPort: 0, protocol: 'TCP' }]);
  assert.deepEqual(podPorts(p), { tcp: [{ port: 9000, http: true }, { port: 8080, http: true }, { port: 5432, http: false }], udp: [53] });
});

test('Ipam hands out distinct addresses, reuses released ones, never network/gateway/broadcast', () => {
  const ipam = new Ipam('10.244.0.0/29', 2);
  const got = ['a', 'b', 'c', 'd', 'e'].map((k) => ipam.allocate(k));
  assert.deepEqual(got, ['10.244.0.2', '10.244.0.3', '10.244.0.4', '10.244.0.5', '10.244.0.6']);
  assert.equal(ipam.allocate('a'), '10.244.0.2');
  assert.throws(() => ipam.allocate('f'), /exhausted/);
  ipam.release('c');
  assert.equal(ipam.allocate('f'), '10.244.0.4');
  assert.throws(() => ipam.reserve('g', '10.244.1.1'), /outside/);
});

test('demo scenario parses: 3 namespaces, 6 services, 2 policies', () => {
  const objs = parseManifests(DEMO_SCENARIO, 'demo');
  const count = (r: string): number => objs.filter((o) => o.resource === r).length;
  assert.deepEqual([count('namespaces'), count('deployments'), count('services'), count('networkpolicies')], [3, 6, 6, 2]);
});

test('manifest errors name the file, document and field', () => {
  const cases: [string, RegExp][] = [
    ['apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 70000}]}]}', /f\.yaml: document 1 \(Pod default\/p\): spec\.containers\[0\]\.ports\[0\]\.containerPort/],
    ['---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: c}}, spec: {containers: [{name: c, image: i}]}}}', /document 2 \(Deployment default\/d\): spec\.template\.metadata\.labels/],
    ['apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}', /cluster-scoped/],
    ['apiVersion: v9\nkind: Pod\nmetadata: {name: a}', /not served by the sandbox/],
    ['kind: Pod', /apiVersion: Required value/],
    ['apiVersion: v1\nkind: Pod\nmetadata: {}', /metadata\.name: Required value/],
    ['foo: [1, 2', /document 1 \(line \d+\)/],
  ];
  for (const [text, re] of cases) assert.throws(() => parseManifests(text, 'f.yaml'), (e: unknown) => e instanceof ManifestError && re.test(e.message), text);
});

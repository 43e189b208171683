// The Services tree: the index (backends, selector matches), warnings, nodes, presentation and
// live badges. Pure: no vscode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import type { FlowResponse } from '../../src/flows/flow';
import { ServicesIndex, serviceWarnings } from '../../src/extension/services/index';
import { type ServicesNode, type TreeSource, POD_CONTEXT, SERVICE_CONTEXT, childrenOf, isPodNode, isServiceNode, nodeId, present, rootNodes, serviceDescription } from '../../src/extension/services/nodes';
import { LiveStats, badgeText, isDrop } from '../../src/extension/live/stats';
import { pod } from '../helpers/builders';

const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const svc = (namespace: string, name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace, name, resourceVersion: '1' }, spec });
const slice = (namespace: string, service: string, eps: { ip: string; ready: boolean; pod?: string; node?: string }[]): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace, name: `${service}-x`, labels: { 'kubernetes.io/service-name': service } },
  endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready }, ...(e.node ? { nodeName: e.node } : {}), ...(e.pod ? { targetRef: { kind: 'Pod', name: e.pod, namespace } } : {}) })),
});
const HTTP = [{ name: 'http', containerPort: 8080 }];

function lists() {
  return {
    namespaces: () => [ns('shop'), ns('data')],
    services: () => [
      svc('shop', 'frontend', { type: 'NodePort', clusterIP: '10.96.0.11', selector: { app: 'frontend' }, ports: [{ port: 8080, nodePort: 30080, targetPort: 'http' }] }),
      svc('shop', 'cart', { type: 'ClusterIP', clusterIP: '10.96.0.12', selector: { app: 'cart' }, ports: [{ port: 8080, protocol: 'TCP', targetPort: 'http' }] }),
      svc('shop', 'external', { clusterIP: 'None', ports: [] }),
      svc('shop', 'ghost', { clusterIP: '10.96.0.13', selector: { app: 'nothing' }, ports: [{ port: 80, targetPort: 8080 }] }),
      svc('shop', 'wrongport', { clusterIP: '10.96.0.14', selector: { app: 'cart' }, ports: [{ port: 80, targetPort: 'grpc' }, { port: 81, targetPort: 9999 }] }),
    ],
    pods: () => [
      pod('shop', 'cart-abc', '10.244.0.4', { labels: { app: 'cart' }, ports: HTTP }),
      pod('shop', 'frontend-1', '10.244.0.5', { labels: { app: 'frontend', tier: 'web' }, ports: HTTP }),
      pod('data', 'cart-elsewhere', '10.244.0.6', { labels: { app: 'cart' }, ports: HTTP }),
    ],
    endpointslices: () => [
      slice('shop', 'cart', [{ ip: '10.244.0.9', ready: false }, { ip: '10.244.0.4', ready: true, pod: 'cart-abc', node: 'node-1' }]),
      slice('shop', 'frontend', [{ ip: '10.244.0.5', ready: false, pod: 'frontend-1' }]),
    ],
  };
}

function source(over: Partial<TreeSource> = {}, stats = new LiveStats()): TreeSource {
  const idx = new ServicesIndex(lists());
  return { contexts: () => ['other', 'sandbox'], currentContext: () => 'sandbox', connection: () => 'connected', index: () => idx, backendsLoading: () => false, stats: (k) => stats.stats(k, 1000), allNamespaces: false, filter: '', ...over };
}

const names = (nodes: ServicesNode[]) => nodes.map((n) => ('name' in n ? n.name : n.kind === 'pod' ? n.pod?.name ?? n.ip : n.text));

test('roots are the kubeconfig contexts; only the current one has children', () => {
  const src = source();
  const roots = rootNodes(src);
  assert.deepEqual(roots, [{ kind: 'context', name: 'other', state: 'other' }, { kind: 'context', name: 'sandbox', state: 'connected' }]);
  assert.deepEqual(childrenOf(src, roots[0] as ServicesNode), []);
  assert.deepEqual(names(childrenOf(src, roots[1] as ServicesNode)), ['data', 'shop']);
  const other = present(src, roots[0] as ServicesNode);
  assert.deepEqual(other.command, { command: 'flowlens.switchContext', arguments: ['other'] });
  assert.equal(present(src, roots[1] as ServicesNode).collapsible, 'expanded');
  assert.deepEqual(names(childrenOf(source({ index: () => undefined }), roots[1] as ServicesNode)), ['not connected']);
});

test('the context in use while connecting and after a failure: no children, then a new row once connected', () => {
  for (const state of ['connecting', 'disconnected'] as const) {
    const src = source({ connection: () => state, index: () => undefined });
    const row = rootNodes(src)[1] as ServicesNode;
    assert.deepEqual(row, { kind: 'context', name: 'sandbox', state });
    assert.deepEqual(childrenOf(src, row), []);
    const p = present(src, row);
    assert.equal(p.collapsible, 'none');
    assert.equal(p.command?.command, state === 'disconnected' ? 'flowlens.reconnect' : undefined);
    // VS Code keeps expansion by id: the connected row must not reuse the id of a row without children
    assert.notEqual(p.id, present(source(), rootNodes(source())[1] as ServicesNode).id);
  }
  assert.equal(present(source(), rootNodes(source())[1] as ServicesNode).description, 'connected');
});

test('services under a namespace; all-namespaces view and the filter', () => {
  const src = source();
  assert.deepEqual(names(childrenOf(src, { kind: 'namespace', name: 'shop' })), ['cart', 'external', 'frontend', 'ghost', 'wrongport']);
  assert.deepEqual(names(childrenOf(src, { kind: 'namespace', name: 'data' })), ['no services']);
  const ctx: ServicesNode = { kind: 'context', name: 'sandbox', state: 'connected' };
  const all = source({ allNamespaces: true });
  assert.deepEqual(names(childrenOf(all, ctx)), ['cart', 'external', 'frontend', 'ghost', 'wrongport']);
  assert.match(present(all, { kind: 'service', namespace: 'shop', name: 'cart' }).description ?? '', /^shop · ClusterIP/);
  assert.deepEqual(names(childrenOf(source({ allNamespaces: true, filter: 'shop/g' }), ctx)), ['ghost']);
  assert.deepEqual(names(childrenOf(source({ filter: 'ghost' }), ctx)), ['shop'], 'namespaces without a match are hidden');
  assert.deepEqual(names(childrenOf(source({ allNamespaces: true, filter: 'zzz' }), ctx)), ['no services match the filter']);
});

test('backends come from EndpointSlices, joined to pods by targetRef or IP', () => {
  const src = source();
  const pods = childrenOf(src, { kind: 'service', namespace: 'shop', name: 'cart' });
  assert.deepEqual(pods, [
    { kind: 'pod', namespace: 'shop', service: 'cart', ip: '10.244.0.4', ready: true, nodeName: 'node-1', pod: { namespace: 'shop', name: 'cart-abc' } },
    { kind: 'pod', namespace: 'shop', service: 'cart', ip: '10.244.0.9', ready: false },
  ]);
  assert.deepEqual(names(childrenOf(src, { kind: 'service', namespace: 'shop', name: 'external' })), ['no endpoints']);
  assert.deepEqual(childrenOf(src, { kind: 'service', namespace: 'shop', name: 'gone' }), []);
  assert.deepEqual(childrenOf(src, pods[0] as ServicesNode), []);
});

test('until pods and EndpointSlices are listed a service shows "loading…", not warnings', () => {
  const src = source({ backendsLoading: () => true });
  assert.deepEqual(childrenOf(src, { kind: 'service', namespace: 'shop', name: 'ghost' }), [{ kind: 'info', parent: 'svc/shop/ghost', text: 'loading…' }]);
  assert.equal(present(src, { kind: 'service', namespace: 'shop', name: 'ghost' }).icon.id, 'server-process', 'no warning icon while loading');
  assert.deepEqual(names(childrenOf(src, { kind: 'namespace', name: 'shop' })), ['cart', 'external', 'frontend', 'ghost', 'wrongport'], 'services show at once');
});

test('warnings: selector matches nothing, no ready endpoints, targetPort not exposed', () => {
  const src = source();
  const warn = (name: string) => childrenOf(src, { kind: 'service', namespace: 'shop', name }).filter((n) => n.kind === 'warning').map((n) => (n.kind === 'warning' ? n.text : ''));
  assert.deepEqual(warn('ghost'), ['selector app=nothing matches no pods']);
  assert.deepEqual(warn('frontend'), ['no ready endpoints']);
  assert.deepEqual(warn('cart'), []);
  assert.deepEqual(warn('wrongport'), ['no endpoints', 'targetPort grpc (port 80) is not exposed by the selected pods', 'targetPort 9999 (port 81) is not exposed by the selected pods']);
  const ghost = present(src, { kind: 'service', namespace: 'shop', name: 'ghost' });
  assert.equal(ghost.icon.id, 'warning');
  assert.match(ghost.tooltip ?? '', /⚠ selector app=nothing matches no pods/);
  assert.equal(present(src, { kind: 'service', namespace: 'shop', name: 'cart' }).icon.id, 'server-process');
  // Pods that declare no ports cannot be checked against a numeric targetPort; ExternalName has no backends.
  assert.deepEqual(serviceWarnings(svc('a', 'b', { selector: { x: '1' }, ports: [{ port: 80, targetPort: 81 }] }), [pod('a', 'p', '1.1.1.1', { labels: { x: '1' } })], [{ ip: '1.1.1.1', ready: true }]), []);
  assert.deepEqual(serviceWarnings(svc('a', 'b', { type: 'ExternalName' }), [], []), []);
  const partly = serviceWarnings(svc('a', 'b', { selector: { x: '1' }, ports: [{ port: 80, targetPort: 'http' }] }),
    [pod('a', 'p', '1.1.1.1', { labels: { x: '1' }, ports: HTTP }), pod('a', 'q', '1.1.1.2', { labels: { x: '1' } })], [{ ip: '1.1.1.1', ready: true }]);
  assert.deepEqual(partly.map((w) => w.message), ['targetPort http (port 80) is not exposed by 1 of 2 selected pods']);
});

test('the label index selects pods in the service namespace only', () => {
  const idx = new ServicesIndex(lists());
  const cart = idx.service('shop', 'cart') as KubeObject;
  assert.deepEqual(idx.selectedPods(cart).map((p) => p.metadata.name), ['cart-abc']);
  assert.deepEqual(idx.selectedPods(svc('shop', 'x', { selector: { app: 'frontend', tier: 'web' } })).map((p) => p.metadata.name), ['frontend-1']);
  assert.deepEqual(idx.selectedPods(svc('shop', 'x', { selector: { app: 'frontend', tier: 'db' } })), []);
});

test('descriptions: type, ClusterIP, ports and live badges', () => {
  const stats = new LiveStats({ rateWindowMs: 10_000 });
  const flow = (verdict: string, event?: string): FlowResponse => ({ node_name: 'n', time: 't', flow: {
    time: 't', verdict: verdict as 'FORWARDED', IP: { source: '1', destination: '2', ipVersion: 'IPv4' }, l4: {}, Type: 'SOCK', node_name: 'n', traffic_direction: 'EGRESS',
    source: { namespace: 'shop', pod_name: 'frontend-1' }, destination: { namespace: 'shop', pod_name: 'cart-abc' }, destination_service: { namespace: 'shop', name: 'cart' },
    ...(event ? { extensions: { tcp_event: event as 'connect' } } : {}) } });
  stats.ingest([flow('FORWARDED'), flow('DROPPED'), flow('FORWARDED', 'connect_failed')], 500);
  const src = source({}, stats);
  assert.equal(present(src, { kind: 'service', namespace: 'shop', name: 'cart' }).description, 'ClusterIP 10.96.0.12 · 8080/TCP · 0.3/s · 2 drops');
  assert.equal(present(src, { kind: 'service', namespace: 'shop', name: 'frontend' }).description, 'NodePort 10.96.0.11 · 8080:30080/TCP');
  const [ready] = childrenOf(src, { kind: 'service', namespace: 'shop', name: 'cart' });
  assert.equal(present(src, ready as ServicesNode).description, 'ready · node-1 · 10.244.0.4 · 0.3/s · 2 drops');
  assert.equal(serviceDescription(svc('a', 'h', { clusterIP: 'None' })), 'ClusterIP headless');
  assert.equal(isDrop(flow('FORWARDED').flow), false);
  assert.equal(badgeText({ rate: 12.4, flows: 200, drops: 1 }), '12/s · 1 drop');
});

test('live stats: rate window, retention window and capacity', () => {
  const s = new LiveStats({ windowMs: 1000, rateWindowMs: 100, capacity: 3 });
  const f = (n: string): FlowResponse => ({ node_name: 'n', time: 't', flow: { time: 't', verdict: 'FORWARDED', IP: { source: '1', destination: '2', ipVersion: 'IPv4' }, l4: {}, Type: 'SOCK', node_name: 'n', traffic_direction: 'EGRESS', source: { namespace: 'a', pod_name: n }, destination: {} } });
  s.ingest([f('p1')], 0);
  s.ingest([f('p2')], 950);
  assert.deepEqual(s.stats('pod:a/p1', 1000), { rate: 0, flows: 1, drops: 0 });
  assert.deepEqual(s.stats('pod:a/p2', 1000), { rate: 10, flows: 1, drops: 0 });
  assert.equal(s.recent(1500).length, 1, 'p1 left the 1 s window');
  s.ingest([f('a'), f('b'), f('c')], 1600);
  assert.deepEqual(s.recent(1600).map((x) => x.source.pod_name), ['a', 'b', 'c'], 'capacity keeps the newest');
  s.addLost(4);
  assert.equal(s.totals(1600).lost, 4);
});

test('node ids are stable and distinct; type guards', () => {
  const ids = [
    nodeId({ kind: 'context', name: 'k', state: 'connected' }),
    nodeId({ kind: 'context', name: 'k', state: 'connecting' }),
    nodeId({ kind: 'namespace', name: 'shop' }),
    nodeId({ kind: 'service', namespace: 'shop', name: 'cart' }),
    nodeId({ kind: 'pod', namespace: 'shop', service: 'cart', ip: '10.0.0.1', ready: true }),
    nodeId({ kind: 'info', parent: 'ns/shop', text: 'x' }),
  ];
  assert.deepEqual(ids, ['ctx/k/connected', 'ctx/k', 'ns/shop', 'svc/shop/cart', 'pod/shop/cart/10.0.0.1', 'ns/shop/info']);
  const src = source();
  const [ready, orphan] = childrenOf(src, { kind: 'service', namespace: 'shop', name: 'cart' });
  assert.equal(present(src, ready as ServicesNode).contextValue, POD_CONTEXT);
  assert.notEqual(present(src, orphan as ServicesNode).contextValue, POD_CONTEXT);
  assert.equal(present(src, { kind: 'service', namespace: 'shop', name: 'cart' }).contextValue, SERVICE_CONTEXT);
  assert.equal(isPodNode(ready), true);
  assert.equal(isPodNode(orphan), false);
  assert.equal(isPodNode({ kind: 'pod', pod: { namespace: 1, name: 'x' } }), false);
  assert.equal(isServiceNode({ kind: 'service', namespace: 'a', name: 'b' }), true);
  assert.equal(isServiceNode(undefined), false);
});

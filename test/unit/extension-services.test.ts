// The Services tree's nodes: children, ids, presentation (no vscode: pure functions over a source).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/cluster/model';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { type ServicesNode, type ServicesSource, POD_CONTEXT, childrenOf, isPodNode, nodeId, present, rootNodes, serviceDescription } from '../../src/extension/services/nodes';

const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const svc = (namespace: string, name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec });
const pod = (namespace: string, name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace, name } });

function source(): ServicesSource {
  const services = [
    svc('shop', 'cart', { type: 'ClusterIP', clusterIP: '10.96.0.12', selector: { app: 'cart' }, ports: [{ port: 8080, protocol: 'TCP' }] }),
    svc('shop', 'frontend', { type: 'NodePort', clusterIP: '10.96.0.11', selector: { app: 'frontend' }, ports: [{ port: 8080, nodePort: 30080 }] }),
    svc('shop', 'external', { clusterIP: 'None', ports: [] }),
  ];
  const backends: Record<string, Backend[]> = {
    'shop/cart': [
      { ip: '10.244.0.4', ready: true, nodeName: 'node-1', pod: pod('shop', 'cart-abc') },
      { ip: '10.244.0.9', ready: false },
    ],
  };
  return {
    namespaces: () => [ns('data'), ns('shop')],
    services: (n) => services.filter((s) => n === undefined || s.metadata.namespace === n),
    backendsOf: (s) => backends[`${s.metadata.namespace}/${s.metadata.name}`] ?? [],
  };
}

test('roots are the namespaces; an empty namespace says so', () => {
  const src = source();
  const roots = rootNodes(src);
  assert.deepEqual(roots, [{ kind: 'namespace', name: 'data' }, { kind: 'namespace', name: 'shop' }]);
  assert.deepEqual(childrenOf(src, roots[0] as ServicesNode), [{ kind: 'info', parent: 'ns/data', text: 'no services' }]);
});

test('services under a namespace, backends under a service, info when there are none', () => {
  const src = source();
  const svcs = childrenOf(src, { kind: 'namespace', name: 'shop' });
  assert.deepEqual(svcs.map((n) => n.kind === 'service' && n.name), ['cart', 'frontend', 'external']);
  const pods = childrenOf(src, { kind: 'service', namespace: 'shop', name: 'cart' });
  assert.deepEqual(pods, [
    { kind: 'pod', namespace: 'shop', service: 'cart', ip: '10.244.0.4', ready: true, nodeName: 'node-1', pod: { namespace: 'shop', name: 'cart-abc' } },
    { kind: 'pod', namespace: 'shop', service: 'cart', ip: '10.244.0.9', ready: false },
  ]);
  assert.deepEqual(childrenOf(src, { kind: 'service', namespace: 'shop', name: 'frontend' }).map((n) => n.kind === 'info' && n.text), ['no backends']);
  assert.deepEqual(childrenOf(src, { kind: 'service', namespace: 'shop', name: 'external' }).map((n) => n.kind === 'info' && n.text), ['no selector']);
  assert.deepEqual(childrenOf(src, { kind: 'service', namespace: 'shop', name: 'gone' }), []);
  assert.deepEqual(childrenOf(src, pods[0] as ServicesNode), []);
});

test('ids are stable and distinct per kind', () => {
  const ids = [
    nodeId({ kind: 'namespace', name: 'shop' }),
    nodeId({ kind: 'service', namespace: 'shop', name: 'cart' }),
    nodeId({ kind: 'pod', namespace: 'shop', service: 'cart', ip: '10.0.0.1', ready: true }),
    nodeId({ kind: 'info', parent: 'ns/shop', text: 'x' }),
  ];
  assert.deepEqual(ids, ['ns/shop', 'svc/shop/cart', 'pod/shop/cart/10.0.0.1', 'ns/shop/info']);
});

test('service descriptions show type, ClusterIP and ports', () => {
  const src = source();
  const [cart, frontend, external] = src.services('shop');
  assert.equal(serviceDescription(cart), 'ClusterIP 10.96.0.12 · 8080/TCP');
  assert.equal(serviceDescription(frontend), 'NodePort 10.96.0.11 · 8080:30080/TCP');
  assert.equal(serviceDescription(external), 'ClusterIP headless');
  assert.equal(present(src, { kind: 'service', namespace: 'shop', name: 'cart' }).description, 'ClusterIP 10.96.0.12 · 8080/TCP');
});

test('pods: ready state and node in the description; only pods with a Pod are traceable', () => {
  const src = source();
  const [ready, orphan] = childrenOf(src, { kind: 'service', namespace: 'shop', name: 'cart' });
  const p = present(src, ready as ServicesNode);
  assert.equal(p.label, 'cart-abc');
  assert.equal(p.description, 'ready · node-1 · 10.244.0.4');
  assert.equal(p.contextValue, POD_CONTEXT);
  assert.equal(p.collapsible, false);
  const o = present(src, orphan as ServicesNode);
  assert.equal(o.label, '10.244.0.9');
  assert.equal(o.description, 'not ready · 10.244.0.9');
  assert.notEqual(o.contextValue, POD_CONTEXT);
  assert.equal(isPodNode(ready), true);
  assert.equal(isPodNode(orphan), false);
  assert.equal(isPodNode({ kind: 'pod', pod: { namespace: 1, name: 'x' } }), false);
  assert.equal(isPodNode(undefined), false);
});

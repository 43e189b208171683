// MemoryStore.listPage: pages in key order from the sorted key index (kept up to date on create
// and delete), namespace ranges, continue-after keys, filters and remaining counts; only the
// page's objects are cloned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/sandbox/apiserver/store';
import type { KubeObject } from '../../src/sandbox/apiserver/types';

function seeded(): MemoryStore {
  const store = new MemoryStore({ seed: false });
  for (const ns of ['a', 'a-b', 'b']) store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  for (const [ns, name, app] of [['b', 'x', 'web'], ['a', 'z', 'db'], ['a-b', 'm', 'web'], ['a', 'y', 'web'], ['a', 'y-1', 'web']]) {
    store.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name as string, namespace: ns, labels: { app: app as string } } });
  }
  return store;
}

const keys = (items: KubeObject[]) => items.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`);

test('lists in byte order of "namespace/name"; a namespace is its own key range', () => {
  const store = seeded();
  assert.deepEqual(keys(store.list('configmaps')), ['a-b/m', 'a/y', 'a/y-1', 'a/z', 'b/x']);
  assert.deepEqual(keys(store.list('configmaps', 'a')), ['a/y', 'a/y-1', 'a/z'], 'a-b is not in a');
  assert.deepEqual(keys(store.list('configmaps', 'nowhere')), []);
  assert.deepEqual(store.list('namespaces').map((n) => n.metadata.name), ['a', 'a-b', 'b']);
});

test('pages: limit, continue after the last key, remaining count, filter', () => {
  const store = seeded();
  const p1 = store.listPage('configmaps', undefined, { limit: 2 });
  assert.deepEqual(keys(p1.items), ['a-b/m', 'a/y']);
  assert.equal(p1.remaining, 3);
  assert.equal(p1.lastKey, 'a/y');
  const p2 = store.listPage('configmaps', undefined, { limit: 2, after: p1.lastKey });
  assert.deepEqual(keys(p2.items), ['a/y-1', 'a/z']);
  const p3 = store.listPage('configmaps', undefined, { limit: 2, after: p2.lastKey });
  assert.deepEqual([keys(p3.items), p3.remaining], [['b/x'], 0]);
  const web = (o: KubeObject) => o.metadata.labels?.app === 'web';
  const f1 = store.listPage('configmaps', 'a', { limit: 1, filter: web });
  assert.deepEqual([keys(f1.items), f1.remaining], [['a/y'], 1]);
  const f2 = store.listPage('configmaps', 'a', { limit: 1, filter: web, after: f1.lastKey });
  assert.deepEqual([keys(f2.items), f2.remaining], [['a/y-1'], 0]);
  assert.deepEqual(keys(store.listPage('configmaps', undefined, { after: 'a/zz' }).items), ['b/x'], 'a key that is gone still positions the page');
});

test('the index follows creates and deletes after the first list; updates keep the order', () => {
  const store = seeded();
  store.list('configmaps');
  store.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a0', namespace: 'a' } });
  store.delete('configmaps', 'a', 'y');
  const cm = store.get('configmaps', 'b', 'x') as KubeObject;
  store.update('configmaps', { ...cm, data: { k: 'v' } });
  assert.deepEqual(keys(store.list('configmaps')), ['a-b/m', 'a/a0', 'a/y-1', 'a/z', 'b/x']);
  store.delete('namespaces', undefined, 'a');
  assert.deepEqual(keys(store.list('configmaps')), ['a-b/m', 'b/x']);
});

test('pages are clones: changing one does not change the store', () => {
  const store = seeded();
  const [first] = store.listPage('configmaps', 'b', { limit: 1 }).items;
  (first as KubeObject).metadata.labels = { app: 'changed' };
  assert.equal(store.get('configmaps', 'b', 'x')?.metadata.labels?.app, 'web');
});

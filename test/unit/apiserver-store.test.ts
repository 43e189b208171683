import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/sandbox/apiserver/store';
import type { WatchEvent } from '../../src/sandbox/apiserver/store';
import { ApiError } from '../../src/sandbox/apiserver/types';
import type { KubeObject } from '../../src/sandbox/apiserver/types';

function pod(name: string, ns = 'default', labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec: { containers: [{ name: 'c', image: 'i' }] } };
}

test('seeds the default namespaces, not flowlens-system', () => {
  const s = new MemoryStore();
  assert.deepEqual(s.list('namespaces').map((n) => n.metadata.name), ['default', 'kube-node-lease', 'kube-public', 'kube-system']);
  assert.equal(s.get('namespaces', undefined, 'flowlens-system'), undefined);
});

test('create assigns uid, increasing resourceVersion, creationTimestamp, generation', () => {
  const s = new MemoryStore();
  const a = s.create('pods', pod('a'));
  const b = s.create('pods', pod('b'));
  assert.match(a.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
  assert.notEqual(a.metadata.uid, b.metadata.uid);
  assert.ok(Number(b.metadata.resourceVersion) > Number(a.metadata.resourceVersion));
  assert.equal(typeof a.metadata.resourceVersion, 'string');
  assert.match(a.metadata.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(a.metadata.generation, 1);
  assert.equal(s.resourceVersion(), b.metadata.resourceVersion);
});

test('generateName, AlreadyExists, missing namespace', () => {
  const s = new MemoryStore();
  const g = s.create('pods', { ...pod(''), metadata: { name: '', generateName: 'web-', namespace: 'default' } });
  assert.match(g.metadata.name, /^web-[a-z0-9]{5}$/);
  assert.throws(() => s.create('pods', pod(g.metadata.name)), (e: ApiError) => e.code === 409 && e.reason === 'AlreadyExists');
  assert.throws(() => s.create('pods', pod('x', 'nope')), (e: ApiError) => e.code === 404 && /namespaces "nope" not found/.test(e.message));
});

test('update: conflict on a stale resourceVersion, generation bumps on spec change only', () => {
  const s = new MemoryStore();
  const a = s.create('pods', pod('a'));
  const b = s.update('pods', { ...a, metadata: { ...a.metadata, labels: { x: '1' } } });
  assert.equal(b.metadata.generation, 1);
  assert.equal(b.metadata.uid, a.metadata.uid);
  assert.throws(() => s.update('pods', a), (e: ApiError) => e.code === 409 && e.reason === 'Conflict');
  const c = s.update('pods', { ...b, spec: { containers: [{ name: 'c', image: 'j' }] } });
  assert.equal(c.metadata.generation, 2);
  assert.throws(() => s.update('pods', pod('zzz')), (e: ApiError) => e.code === 404);
});

test('services get a ClusterIP and defaults', () => {
  const s = new MemoryStore();
  const svc = s.create('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default' }, spec: { ports: [{ port: 80 }], type: 'NodePort' } });
  assert.match(svc.spec.clusterIP, /^10\.96\.\d+\.\d+$/);
  assert.equal(svc.spec.ports[0].protocol, 'TCP');
  assert.equal(svc.spec.ports[0].targetPort, 80);
  assert.ok(svc.spec.ports[0].nodePort >= 30000);
  const svc2 = s.create('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's2', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
  assert.notEqual(svc2.spec.clusterIP, svc.spec.clusterIP);
});

test('deleting a namespace deletes its objects, with DELETED events', () => {
  const s = new MemoryStore();
  s.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  s.create('pods', pod('a', 'shop'));
  s.create('pods', pod('b', 'default'));
  const events: string[] = [];
  s.subscribe((e) => events.push(`${e.type} ${e.resource} ${e.object.metadata.name}`));
  const gone = s.delete('namespaces', undefined, 'shop');
  assert.equal(gone?.metadata.name, 'shop');
  assert.deepEqual(events, ['DELETED pods a', 'DELETED namespaces shop']);
  assert.deepEqual(s.list('pods').map((p) => p.metadata.name), ['b']);
  assert.equal(s.delete('pods', 'default', 'nope'), undefined);
});

test('watchFrom replays history after a resourceVersion, then goes live', () => {
  const s = new MemoryStore();
  const a = s.create('pods', pod('a'));
  s.create('pods', pod('b'));
  s.delete('pods', 'default', 'a');
  const seen: WatchEvent[] = [];
  const stop = s.watchFrom('pods', a.metadata.resourceVersion, (e) => seen.push(e));
  s.create('pods', pod('c'));
  s.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
  stop();
  s.create('pods', pod('d'));
  assert.deepEqual(seen.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED b', 'DELETED a', 'ADDED c']);
  const deleted = seen[1]!;
  assert.ok(Number(deleted.object.metadata.resourceVersion) > Number(a.metadata.resourceVersion), 'DELETED carries a new resourceVersion');
});

test('watchFrom with no resourceVersion or "0" synthesizes ADDED for current objects', () => {
  const s = new MemoryStore();
  s.create('pods', pod('a'));
  s.create('pods', pod('b'));
  for (const rv of [undefined, '0']) {
    const seen: string[] = [];
    s.watchFrom('pods', rv, (e) => seen.push(`${e.type} ${e.object.metadata.name}`))();
    assert.deepEqual(seen, ['ADDED a', 'ADDED b']);
  }
});

test('watchFrom older than the history window raises 410 Expired; bad rv is 400', () => {
  const s = new MemoryStore({ historySize: 3, seed: false });
  const first = s.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n0' } });
  for (let i = 1; i <= 5; i++) s.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `n${i}` } });
  assert.throws(() => s.watchFrom('namespaces', first.metadata.resourceVersion, () => undefined),
    (e: ApiError) => e instanceof ApiError && e.code === 410 && e.reason === 'Expired' && /too old resource version/.test(e.message));
  const seen: string[] = [];
  s.watchFrom('namespaces', String(Number(s.resourceVersion()) - 3), (e) => seen.push(e.object.metadata.name))();
  assert.deepEqual(seen, ['n3', 'n4', 'n5']);
  assert.throws(() => s.watchFrom('namespaces', 'abc', () => undefined), (e: ApiError) => e.code === 400);
});

test('MODIFIED events carry the old object', () => {
  const s = new MemoryStore();
  const a = s.create('pods', pod('a', 'default', { app: 'x' }));
  const seen: WatchEvent[] = [];
  s.watchFrom('pods', s.resourceVersion(), (e) => seen.push(e));
  s.update('pods', { ...a, metadata: { ...a.metadata, labels: { app: 'y' } } });
  assert.equal(seen[0]?.type, 'MODIFIED');
  assert.equal(seen[0]?.oldObject?.metadata.labels?.app, 'x');
  assert.equal(seen[0]?.object.metadata.labels?.app, 'y');
});

test('returned objects are copies', () => {
  const s = new MemoryStore();
  const a = s.create('pods', pod('a'));
  a.metadata.labels = { mutated: 'yes' };
  assert.deepEqual(s.get('pods', 'default', 'a')?.metadata.labels, {});
});

// The emulator over raw HTTP/WebSocket: status codes and Status objects, selectors, paging,
// patches, the status subresource, watches (410, bookmarks, selector transitions, no leaks),
// tables, bearer tokens, and the WebSocket channel port-forward protocol.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { WebSocket } from 'ws';
import { MemoryStore } from '../../src/sandbox/apiserver/store';
import { startApiServer } from '../../src/sandbox/apiserver/server';
import type { ApiServer } from '../../src/sandbox/apiserver/server';
import type { KubeObject } from '../../src/sandbox/apiserver/types';

const TOKEN = 'sekret';
let store: MemoryStore;
let server: ApiServer;
let echo: net.Server;

function pod(name: string, labels: Record<string, string> = {}, ns = 'default'): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'i' }] } };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(server.url + path, {
    method, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

interface WatchStream { events: { type: string; object: KubeObject }[]; close(): void; ended: Promise<void>; waitFor(n: number): Promise<void> }

function watch(path: string, headers: Record<string, string> = {}): Promise<WatchStream> {
  return new Promise((resolve, reject) => {
    const events: WatchStream['events'] = [];
    const req = http.get(server.url + path, { headers: { Authorization: `Bearer ${TOKEN}`, ...headers } }, (res) => {
      let buf = '';
      let notify = (): void => undefined;
      const ended = new Promise<void>((r) => res.on('close', r));
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) { events.push(JSON.parse(buf.slice(0, i))); buf = buf.slice(i + 1); }
        notify();
      });
      const waitFor = (n: number): Promise<void> => new Promise((r, j) => {
        const t = setTimeout(() => j(new Error(`timed out waiting for ${n} events, have ${JSON.stringify(events.map((e) => e.type))}`)), 3000);
        notify = () => { if (events.length >= n) { clearTimeout(t); r(); } };
        notify();
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      resolve({ events, close: () => req.destroy(), ended, waitFor });
    });
    req.on('error', reject);
  });
}

before(async () => {
  store = new MemoryStore({ historySize: 50 });
  echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
  await new Promise((r) => echo.once('listening', r));
  const echoPort = (echo.address() as net.AddressInfo).port;
  server = await startApiServer({
    store, token: TOKEN, bookmarkIntervalMs: 50,
    dialPod: async (_pod, port) => {
      const s = net.connect(port === 80 ? echoPort : 1, '127.0.0.1');
      await new Promise((res, rej) => { s.once('connect', res); s.once('error', rej); });
      return s;
    },
  });
});

after(async () => {
  await server.close();
  echo.close();
});

test('bearer token required (401 Status), health endpoints open', async () => {
  const res = await fetch(`${server.url}/api/v1/pods`);
  assert.equal(res.status, 401);
  const body = await res.json() as { kind: string; reason: string };
  assert.equal(body.kind, 'Status');
  assert.equal(body.reason, 'Unauthorized');
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  assert.equal((await call('GET', '/api/v1/pods', undefined, { Authorization: 'Bearer wrong' })).status, 401);
});

test('discovery', async () => {
  const core = await call('GET', '/api/v1');
  const pods = core.json.resources.find((r: { name: string }) => r.name === 'pods');
  assert.deepEqual([pods.namespaced, pods.kind, pods.shortNames, pods.categories], [true, 'Pod', ['po'], ['all']]);
  assert.ok(core.json.resources.some((r: { name: string }) => r.name === 'pods/status'));
  const groups = await call('GET', '/apis');
  assert.deepEqual(groups.json.groups.map((g: { name: string }) => g.name).sort(),
    ['apps', 'discovery.k8s.io', 'networking.k8s.io', 'rbac.authorization.k8s.io']);
  const apps = await call('GET', '/apis/apps/v1');
  assert.deepEqual(apps.json.resources.filter((r: { name: string }) => !r.name.includes('/')).map((r: { name: string }) => r.name), ['deployments', 'replicasets', 'daemonsets']);
  assert.equal((await call('GET', '/apis/nope/v1')).status, 404);
});

test('create, errors as Status objects, validation naming the field', async () => {
  const created = await call('POST', '/api/v1/namespaces/default/pods', pod('web', { app: 'web' }));
  assert.equal(created.status, 201);
  assert.equal(created.json.metadata.name, 'web');
  const dup = await call('POST', '/api/v1/namespaces/default/pods', pod('web'));
  assert.deepEqual([dup.status, dup.json.kind, dup.json.reason], [409, 'Status', 'AlreadyExists']);
  const wrongKind = await call('POST', '/api/v1/namespaces/default/pods', { ...pod('x'), kind: 'Service' });
  assert.deepEqual([wrongKind.status, wrongKind.json.reason], [400, 'BadRequest']);
  assert.match(wrongKind.json.message, /kind/);
  const wrongVersion = await call('POST', '/api/v1/namespaces/default/pods', { ...pod('x'), apiVersion: 'apps/v1' });
  assert.match(wrongVersion.json.message, /API version in the data \(apps\/v1\) does not match the expected API version \(v1\)/);
  const noName = await call('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: {}, spec: { containers: [{ name: 'c', image: 'i' }] } });
  assert.deepEqual([noName.status, noName.json.reason, noName.json.details.causes[0].field], [422, 'Invalid', 'metadata.name']);
  const badName = await call('POST', '/api/v1/namespaces/default/pods', pod('Bad_Name'));
  assert.equal(badName.status, 422);
  const noContainers = await call('POST', '/api/v1/namespaces/default/pods', { ...pod('x'), spec: {} });
  assert.equal(noContainers.json.details.causes[0].field, 'spec.containers');
  const otherNs = await call('POST', '/api/v1/namespaces/kube-system/pods', pod('x'));
  assert.match(otherNs.json.message, /namespace of the provided object does not match/);
  const junk = await call('POST', '/api/v1/namespaces/default/pods', '{not json');
  assert.equal(junk.status, 400);
  const huge = await call('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { x: 'a'.repeat(5 * 1024 * 1024) } });
  assert.equal(huge.status, 413);
  const yaml = await call('POST', '/api/v1/namespaces/default/configmaps', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n', { 'Content-Type': 'application/yaml' });
  assert.equal(yaml.status, 201);
  const missing = await call('GET', '/api/v1/namespaces/default/pods/nope');
  assert.deepEqual([missing.status, missing.json.reason, missing.json.message], [404, 'NotFound', 'pods "nope" not found']);
  const generated = await call('POST', '/api/v1/namespaces/default/pods', { ...pod(''), metadata: { generateName: 'gen-' } });
  assert.match(generated.json.metadata.name, /^gen-/);
});

test('lists: selectors, all namespaces, paging', async () => {
  for (const n of ['p1', 'p2', 'p3']) store.create('pods', pod(n, { app: 'paged', n }));
  store.create('pods', pod('other', { app: 'paged' }, 'kube-system'));
  const sel = await call('GET', '/api/v1/pods?labelSelector=' + encodeURIComponent('app=paged,n in (p1,p3)'));
  assert.equal(sel.json.kind, 'PodList');
  assert.deepEqual(sel.json.items.map((p: KubeObject) => p.metadata.name), ['p1', 'p3']);
  assert.match(sel.json.metadata.resourceVersion, /^\d+$/);
  const all = await call('GET', '/api/v1/pods?labelSelector=app%3Dpaged');
  assert.deepEqual(all.json.items.map((p: KubeObject) => p.metadata.namespace).sort(), ['default', 'default', 'default', 'kube-system']);
  const field = await call('GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dp2');
  assert.deepEqual(field.json.items.map((p: KubeObject) => p.metadata.name), ['p2']);
  const names: string[] = [];
  let cont = '';
  for (let i = 0; i < 10; i++) {
    const page = await call('GET', `/api/v1/pods?labelSelector=app%3Dpaged&limit=1${cont ? '&continue=' + cont : ''}`);
    names.push(...page.json.items.map((p: KubeObject) => p.metadata.name));
    cont = page.json.metadata.continue ?? '';
    if (!cont) break;
  }
  assert.deepEqual(names, ['p1', 'p2', 'p3', 'other']);
  assert.equal((await call('GET', '/api/v1/pods?labelSelector=a%20b')).status, 400);
  assert.equal((await call('GET', '/api/v1/pods?continue=garbage')).status, 400);
});

test('replace with conflict, patches, status subresource, delete', async () => {
  const p = store.create('pods', pod('edit'));
  const stale = { ...p, metadata: { ...p.metadata, resourceVersion: '1' } };
  const conflict = await call('PUT', '/api/v1/namespaces/default/pods/edit', stale);
  assert.deepEqual([conflict.status, conflict.json.reason], [409, 'Conflict']);
  const put = await call('PUT', '/api/v1/namespaces/default/pods/edit', { ...p, metadata: { ...p.metadata, labels: { v: '1' } }, status: { phase: 'Failed' } });
  assert.equal(put.status, 200);
  assert.equal(put.json.status.phase, 'Pending', 'main resource ignores status');
  const merge = await call('PATCH', '/api/v1/namespaces/default/pods/edit', { metadata: { labels: { v: null, w: '2' } } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.deepEqual(merge.json.metadata.labels, { w: '2' });
  const smp = await call('PATCH', '/api/v1/namespaces/default/pods/edit', { metadata: { labels: { s: '3' } } }, { 'Content-Type': 'application/strategic-merge-patch+json' });
  assert.deepEqual(smp.json.metadata.labels, { w: '2', s: '3' });
  const jp = await call('PATCH', '/api/v1/namespaces/default/pods/edit', [{ op: 'replace', path: '/metadata/labels/w', value: 'x' }], { 'Content-Type': 'application/json-patch+json' });
  assert.equal(jp.json.metadata.labels.w, 'x');
  const status = await call('PATCH', '/api/v1/namespaces/default/pods/edit/status', { status: { phase: 'Running', podIP: '10.1.1.1' }, spec: { nodeName: 'zz' } }, { 'Content-Type': 'application/merge-patch+json' });
  assert.deepEqual([status.json.status.phase, status.json.spec.nodeName], ['Running', 'n1']);
  const getStatus = await call('GET', '/api/v1/namespaces/default/pods/edit/status');
  assert.equal(getStatus.json.status.podIP, '10.1.1.1');
  const badPatch = await call('PATCH', '/api/v1/namespaces/default/pods/edit', {}, { 'Content-Type': 'text/plain' });
  assert.equal(badPatch.status, 415);
  const apply = await call('PATCH', '/api/v1/namespaces/default/configmaps/ssa?fieldManager=test', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: b\n', { 'Content-Type': 'application/apply-patch+yaml' });
  assert.equal(apply.status, 201);
  const del = await call('DELETE', '/api/v1/namespaces/default/pods/edit');
  assert.deepEqual([del.status, del.json.kind, del.json.metadata.name], [200, 'Pod', 'edit']);
  assert.equal((await call('DELETE', '/api/v1/namespaces/default/pods/edit')).status, 404);
  store.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c1', namespace: 'default', labels: { gone: 'yes' } } });
  const coll = await call('DELETE', '/api/v1/namespaces/default/configmaps?labelSelector=gone%3Dyes');
  assert.deepEqual(coll.json.items.map((c: KubeObject) => c.metadata.name), ['c1']);
});

test('tables', async () => {
  store.create('pods', { ...pod('tbl'), status: { phase: 'Running', podIP: '10.9.9.9' } });
  const t = await call('GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dtbl', undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
  assert.equal(t.json.kind, 'Table');
  assert.deepEqual(t.json.columnDefinitions.map((c: { name: string }) => c.name), ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates']);
  assert.deepEqual(t.json.rows[0].cells.slice(0, 3), ['tbl', '0/1', 'Running']);
  assert.equal(t.json.rows[0].object.kind, 'PartialObjectMetadata');
  const full = await call('GET', '/api/v1/namespaces/default/pods?includeObject=Object&fieldSelector=metadata.name%3Dtbl', undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
  assert.equal(full.json.rows[0].object.kind, 'Pod');
});

test('watch: history replay, live events, selector transitions, DELETED', async () => {
  const from = store.resourceVersion();
  store.create('pods', pod('w1', { watch: 'me' }));
  const w = await watch(`/api/v1/namespaces/default/pods?watch=1&resourceVersion=${from}&labelSelector=watch%3Dme`);
  await w.waitFor(1);
  const w2 = store.create('pods', pod('w2', { watch: 'me' }));
  store.update('pods', { ...w2, metadata: { ...w2.metadata, labels: { watch: 'no' } } });
  store.create('pods', pod('w3', { watch: 'no' }));
  store.delete('pods', 'default', 'w1');
  await w.waitFor(4);
  assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED w1', 'ADDED w2', 'DELETED w2', 'DELETED w1']);
  w.close();
  await w.ended;
});

test('watch from a too-old resourceVersion gets an ERROR event with a 410 Expired Status', async () => {
  const old = store.resourceVersion();
  for (let i = 0; i < 60; i++) store.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `churn-${i}`, namespace: 'default' } });
  const w = await watch(`/api/v1/configmaps?watch=true&resourceVersion=${old}`);
  await w.ended;
  assert.equal(w.events.length, 1);
  assert.equal(w.events[0]!.type, 'ERROR');
  const status = w.events[0]!.object as unknown as { kind: string; code: number; reason: string };
  assert.deepEqual([status.kind, status.code, status.reason], ['Status', 410, 'Expired']);
});

test('watch bookmarks, timeoutSeconds, legacy path, and no leaked listeners', async () => {
  const before = store.listenerCount();
  const w = await watch(`/api/v1/watch/namespaces/default/pods?allowWatchBookmarks=true&resourceVersion=${store.resourceVersion()}`);
  await w.waitFor(2);
  assert.ok(w.events.every((e) => e.type === 'BOOKMARK'));
  assert.equal(w.events[0]!.object.kind, 'Pod');
  assert.deepEqual(Object.keys(w.events[0]!.object.metadata), ['resourceVersion']);
  assert.equal(w.events[0]!.object.metadata.resourceVersion, store.resourceVersion());
  assert.equal(store.listenerCount(), before + 1);
  w.close();
  await w.ended;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(store.listenerCount(), before, 'closing the client releases the watch');
  const t0 = Date.now();
  const timed = await watch('/api/v1/pods?watch=1&timeoutSeconds=1');
  await timed.ended;
  assert.ok(Date.now() - t0 >= 900);
  assert.ok(timed.events.length > 0 && timed.events.every((e) => e.type === 'ADDED'), 'no resourceVersion: synthetic ADDED first');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(store.listenerCount(), before);
});

test('table watch (kubectl get -w)', async () => {
  const w = await watch('/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dtw', { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
  store.create('pods', pod('tw'));
  await w.waitFor(1);
  const table = w.events[0]!.object as unknown as { kind: string; rows: { cells: unknown[] }[] };
  assert.equal(table.kind, 'Table');
  assert.equal(table.rows.length, 1);
  assert.equal(table.rows[0]!.cells[0], 'tw');
  w.close();
});

interface Channel { ws: WebSocket; frames: Buffer[]; next(n: number): Promise<void> }

function wsPortForward(podName: string, port: number): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/namespaces/default/pods/${podName}/portforward?ports=${port}`,
      ['v4.channel.k8s.io'], { headers: { Authorization: `Bearer ${TOKEN}` } });
    const frames: Buffer[] = [];
    let wake = (): void => undefined;
    ws.on('message', (d: Buffer) => { frames.push(d); wake(); });
    const next = (n: number): Promise<void> => new Promise((r, j) => {
      const t = setTimeout(() => j(new Error(`only ${frames.length} frames`)), 3000);
      wake = () => { if (frames.length >= n) { clearTimeout(t); r(); } };
      wake();
    });
    ws.once('open', () => resolve({ ws, frames, next }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

test('port-forward over the WebSocket channel protocol', async () => {
  store.create('pods', { ...pod('pf'), status: { phase: 'Running' } });
  const { ws, frames, next } = await wsPortForward('pf', 80);
  assert.equal(ws.protocol, 'v4.channel.k8s.io');
  ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping')]));
  await next(3);
  assert.deepEqual(frames[0], Buffer.from([0, 80, 0]), 'data channel opens with the port, little-endian');
  assert.deepEqual(frames[1], Buffer.from([1, 80, 0]), 'error channel too');
  assert.deepEqual(frames[2], Buffer.concat([Buffer.from([0]), Buffer.from('ping')]));
  ws.close();
  await assert.rejects(wsPortForward('nope', 80), /HTTP 404/);
  const refused = await wsPortForward('pf', 81);
  await refused.next(3);
  const err = refused.frames.find((d) => d[0] === 1 && d.length > 3);
  assert.match(err?.subarray(1).toString() ?? '', /error forwarding port 81 to pod default\/pf/);
  refused.ws.close();
});

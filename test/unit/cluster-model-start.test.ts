// ClusterModel.start(first): resolves once the named parts are listed while the others go on
// listing; `synced(part)` and onDidChange tell when they arrive. A small HTTP server on
// 127.0.0.1 answers lists at once, except the pod list, which it holds until the test lets it go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClusterAccess } from '../../src/cluster/kubeconfig';
import { ClusterModel } from '../../src/cluster/model';

interface Fake { access: ClusterAccess; releasePods: () => void; close: () => Promise<void> }

async function fakeApi(): Promise<Fake> {
  let release: () => void = () => undefined;
  const podsHeld = new Promise<void>((r) => (release = r));
  const watches = new Set<ServerResponse>();
  const list = (res: ServerResponse, items: unknown[]) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ items, metadata: { resourceVersion: '1' } }));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      watches.add(res);
      return;
    }
    if (url.pathname === '/api/v1/namespaces') return list(res, [{ metadata: { name: 'shop', resourceVersion: '1' } }]);
    if (url.pathname === '/api/v1/pods') return void podsHeld.then(() => list(res, [{ metadata: { name: 'web-1', namespace: 'shop', resourceVersion: '1' }, spec: {}, status: { podIP: '10.244.0.5' } }]));
    return list(res, []);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const access: ClusterAccess = { context: 'fake', server: `http://127.0.0.1:${port}`, namespace: 'default', authorize: async () => undefined };
  const close = () => new Promise<void>((r) => {
    release();
    for (const w of watches) w.destroy();
    server.closeAllConnections();
    server.close(() => r());
  });
  return { access, releasePods: () => release(), close };
}

test('start(first) resolves with the first parts listed; the pods arrive later and are announced', async () => {
  const api = await fakeApi();
  const model = new ClusterModel(api.access);
  try {
    await model.start(['namespaces', 'services']);
    assert.equal(model.synced('namespaces'), true);
    assert.equal(model.synced('services'), true);
    assert.equal(model.synced('pods'), false, 'the pod list is still held');
    assert.deepEqual(model.namespaces().map((n) => n.metadata.name), ['shop']);
    const changed = new Promise<void>((r) => model.onDidChange(() => { if (model.synced('pods')) r(); }));
    api.releasePods();
    await changed;
    assert.equal(model.podByIP('10.244.0.5')?.metadata.name, 'web-1');
  } finally {
    model.stop();
    await api.close();
  }
});

test('start() with no argument waits for every part, pods included', async () => {
  const api = await fakeApi();
  const model = new ClusterModel(api.access);
  try {
    let done = false;
    const started = model.start().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(done, false, 'still waiting for the pods');
    api.releasePods();
    await started;
    assert.equal(model.synced('pods'), true);
  } finally {
    model.stop();
    await api.close();
  }
});

// The client path without root: informers and the cluster model against the API emulator over
// real HTTP, port-forward over its WebSocket subresource, and the agent hub reading a real
// AgentServer through it, enriching flows with the model.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentHub } from '../../src/agents/hub';
import { openPortForward } from '../../src/agents/portforward';
import { AgentServer } from '../../src/agent/server';
import { loadClusterAccess, type ClusterAccess } from '../../src/cluster/kubeconfig';
import { ClusterModel } from '../../src/cluster/model';
import { Informer } from '../../src/cluster/informer';
import type { Flow, FlowResponse } from '../../src/flows/flow';
import { FlowRing } from '../../src/flows/store';
import { writeKubeconfig } from '../../src/sandbox/apiserver/kubeconfig';
import { startApiServer, type ApiServer } from '../../src/sandbox/apiserver/server';
import { MemoryStore } from '../../src/sandbox/apiserver/store';
import { pod, service } from '../helpers/builders';
import { waitFor } from '../helpers/cli';
import { dialLocal } from '../helpers/net';

let api: ApiServer;
let store: MemoryStore;
let echo: Server;
let agent: AgentServer;
let access: ClusterAccess;
let dir: string;
const ring = new FlowRing(100);

function flow(i: number): Flow {
  return {
    time: `2026-01-01T00:00:${String(i).padStart(2, '0')}.000000000Z`, verdict: 'FORWARDED',
    IP: { source: '10.244.0.5', destination: '10.244.0.6', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 40000 + i, destination_port: 8080 } }, source: {}, destination: {}, Type: 'L3_L4', node_name: 'node-1',
    traffic_direction: 'EGRESS', extensions: { original_destination: { ip: '10.96.0.20', port: 80 } },
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flowlens-client-'));
  echo = createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
  await new Promise((r) => echo.once('listening', r));
  agent = new AgentServer({ host: '127.0.0.1', port: 0, node: 'node-1', store: ring, ready: () => true });
  const agentAddr = await agent.listen();
  store = new MemoryStore();
  api = await startApiServer({
    store, port: 0,
    dialPod: (p) => dialLocal(p.metadata.name.startsWith('flowlens-agent') ? agentAddr.port : (echo.address() as { port: number }).port),
  });
  writeKubeconfig(join(dir, 'kubeconfig'), api.url);
  const acc = loadClusterAccess({ kubeconfig: join(dir, 'kubeconfig') });
  assert.ok(acc.ok, acc.ok ? '' : acc.error);
  access = acc.value;
  store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
});

after(async () => {
  await agent.close();
  await api.close();
  echo.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the model follows creates, updates and deletes through list and watch', async () => {
  const model = new ClusterModel(access);
  await model.start();
  try {
    assert.ok(model.namespaces().some((n) => n.metadata.name === 'shop'));
    store.create('pods', pod('shop', 'cart-1', '10.244.0.6', { labels: { app: 'cart' } }));
    store.create('services', service('shop', 'cart', '10.96.0.20', { app: 'cart' }));
    store.create('endpointslices', {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'cart-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'cart' } },
      addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.6'], conditions: { ready: true }, nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'cart-1', namespace: 'shop' } }], ports: [{ port: 8080, protocol: 'TCP' }],
    });
    await waitFor('pod in the model', () => model.podByIP('10.244.0.6'));
    await waitFor('service in the model', () => model.serviceByClusterIP('10.96.0.20'));
    const svc = await waitFor('backend', () => { const s = model.services('shop')[0]; return s && model.backendsOf(s).length === 1 ? s : undefined; });
    assert.equal(model.backendsOf(svc)[0]?.pod?.metadata.name, 'cart-1');
    store.delete('pods', 'shop', 'cart-1');
    await waitFor('pod deleted', () => (model.podByIP('10.244.0.6') === undefined ? true : undefined));
  } finally {
    model.stop();
  }
});

test('port-forward carries bytes both ways and reports a missing pod clearly', async () => {
  store.create('pods', pod('shop', 'echo-1', '10.244.0.9'));
  const s = await openPortForward(access, 'shop', 'echo-1', 7000);
  const got = new Promise<string>((resolve) => {
    let buf = '';
    s.on('data', (c: Buffer) => { buf += c.toString(); if (buf.length >= 11) resolve(buf); });
  });
  s.write('hello ');
  s.write('world');
  assert.equal(await got, 'hello world');
  s.destroy();
  await assert.rejects(openPortForward(access, 'shop', 'nope', 7000), /HTTP 404.*nope/);
});

test('the hub reads the agent through port-forward and enriches with the model', async () => {
  for (let i = 0; i < 5; i++) ring.push(flow(i));
  store.create('pods', pod('shop', 'frontend-1', '10.244.0.5', { labels: { app: 'frontend' } }));
  store.create('pods', pod('shop', 'cart-2', '10.244.0.6', { labels: { app: 'cart' } }));
  store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'flowlens-system' } });
  store.create('pods', pod('flowlens-system', 'flowlens-agent-x', '192.0.2.2', { hostNetwork: true, labels: { 'app.kubernetes.io/name': 'flowlens-agent' }, ports: [{ name: 'flows', containerPort: 4260 }] }));
  const model = new ClusterModel(access);
  await model.start();
  try {
    const got: FlowResponse[] = [];
    const sub = new AgentHub(access, model).subscribe({ last: 3 }, (f) => got.push(...f));
    await sub.done;
    assert.deepEqual(got.map((r) => r.flow.l4.TCP?.source_port), [40002, 40003, 40004]);
    for (const r of got) {
      assert.equal(r.node_name, 'node-1');
      assert.equal(r.flow.source.pod_name, 'frontend-1');
      assert.equal(r.flow.destination.pod_name, 'cart-2');
      assert.deepEqual(r.flow.destination_service, { name: 'cart', namespace: 'shop' });
    }
    const live: FlowResponse[] = [];
    const follow = new AgentHub(access, model).subscribe({ follow: true }, (f) => live.push(...f));
    // Publish until the follow subscription is in place; then every published flow must arrive.
    let n = 30;
    await waitFor('followed flow', () => {
      const f = flow(n++);
      ring.push(f);
      agent.publish(f);
      return live.length > 0 ? true : undefined;
    }, 5000, 100);
    const first = live[0]?.flow.l4.TCP?.source_port ?? 0;
    for (let i = 0; i < 3; i++) agent.publish(flow(n++));
    const expected = Array.from({ length: 40000 + n - first }, (_, i) => first + i);
    await waitFor('every later flow', () => (live.length >= expected.length ? true : undefined), 5000);
    assert.deepEqual(live.map((r) => r.flow.l4.TCP?.source_port), expected, 'nothing lost or duplicated after the subscription started');
    assert.equal(live[0]?.flow.destination_service?.name, 'cart');
    follow.close();
  } finally {
    model.stop();
  }
});

test('an informer whose resourceVersion expired relists instead of failing', async () => {
  const small = new MemoryStore({ historySize: 5 });
  const server = await startApiServer({ store: small, port: 0, dialPod: async () => { throw new Error('no pods here'); }, bookmarkIntervalMs: 600_000 });
  const kc = join(dir, 'kubeconfig-410');
  writeKubeconfig(kc, server.url);
  const acc = loadClusterAccess({ kubeconfig: kc });
  assert.ok(acc.ok);
  const inf = new Informer(acc.value, { path: '/api/v1/pods', watchTimeoutSeconds: 1, backoff: { initialMs: 50, maxMs: 200 } });
  try {
    await inf.start();
    small.create('pods', pod('default', 'before', '10.0.0.1'));
    await waitFor('first pod', () => inf.get('default/before'));
    // While the informer re-watches every second, push its resourceVersion out of the window.
    for (let i = 0; i < 20; i++) small.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: 'default' } });
    assert.equal(inf.relists, 1);
    await waitFor('a relist after 410 Gone', () => (inf.relists >= 2 ? true : undefined), 5000);
    small.delete('pods', 'default', 'before');
    small.create('pods', pod('default', 'after', '10.0.0.2'));
    await waitFor('relisted state', () => (inf.get('default/after') && !inf.get('default/before') ? true : undefined), 8000);
    assert.equal(inf.error(), undefined);
    assert.deepEqual(inf.list().map((p) => p.metadata.name), ['after']);
  } finally {
    inf.stop();
    await server.close();
  }
});

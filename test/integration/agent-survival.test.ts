// Survival of the agent's serving side on real sockets: a stalled client loses flows (counted
// exactly) while a fast one loses none; 100 concurrent clients each get exactly their filter's
// flows; an agent restart is followed by the hub (CLI and extension) within 5 s without repeats;
// the optional token is required on the upgrade.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { AgentHub } from '../../src/agents/hub';
import { AgentConnection } from '../../src/agents/client';
import type { ServerMessage } from '../../src/agents/protocol';
import { AgentServer } from '../../src/agent/server';
import { loadClusterAccess, type ClusterAccess } from '../../src/cluster/kubeconfig';
import { ClusterModel } from '../../src/cluster/model';
import { parseFilterText } from '../../src/flows/filter-args';
import type { Flow, FlowResponse } from '../../src/flows/flow';
import { FlowRing } from '../../src/flows/store';
import { writeKubeconfig } from '../../src/sandbox/apiserver/kubeconfig';
import { startApiServer, type ApiServer } from '../../src/sandbox/apiserver/server';
import { MemoryStore } from '../../src/sandbox/apiserver/store';
import { pod } from '../helpers/builders';
import { waitFor } from '../helpers/cli';
import { dialLocal } from '../helpers/net';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
function flow(ns = 'shop', pad = 0): Flow {
  const i = seq++;
  const t = new Date(Date.UTC(2026, 0, 1) + i).toISOString().replace('Z', '000000Z');
  return {
    time: t, verdict: 'FORWARDED', IP: { source: '10.244.0.5', destination: '10.244.0.6', ipVersion: 'IPv4' }, l4: { TCP: { source_port: i % 65536, destination_port: 8080 } },
    source: { namespace: ns, pod_name: 'a' }, destination: { namespace: ns, pod_name: 'b' }, Type: 'L3_L4', node_name: 'node-1', traffic_direction: 'EGRESS', uuid: String(i),
    ...(pad ? { extensions: { pad: 'x'.repeat(pad) } } : {}),
  };
}

interface Recorder { ws: WebSocket; flows: number; lost: number; messages: ServerMessage[] }
async function client(port: number, sub: object, opts: { record?: boolean } = {}): Promise<Recorder> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  const r: Recorder = { ws, flows: 0, lost: 0, messages: [] };
  ws.on('message', (d: Buffer) => {
    const m = JSON.parse(d.toString()) as ServerMessage;
    if (m.type === 'flows') r.flows += m.flows.length;
    if (m.type === 'lost_events' && m.source === 'agent_client_queue') r.lost += m.count;
    if (opts.record) r.messages.push(m);
    if (m.type === 'hello') ws.send(JSON.stringify({ type: 'subscribe', follow: true, ...sub }));
  });
  await waitFor('caught_up', () => (r.messages.some((m) => m.type === 'caught_up') || !opts.record ? true : undefined), 5000, 10);
  return r;
}

test('a stalled client loses flows, counted exactly; a fast client loses none', async () => {
  const srv = new AgentServer({ host: '127.0.0.1', port: 0, node: 'n', store: new FlowRing(10), ready: () => true });
  const { port } = await srv.listen();
  try {
    const fast = await client(port, {}, { record: true });
    const slow = await client(port, {}, { record: true });
    await sleep(100);
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const total = 20_000;
    for (let i = 0; i < total; i += 500) {
      for (let j = 0; j < 500; j++) srv.publish(flow('shop', 2000));
      await sleep(5);
    }
    await waitFor('fast client has everything', () => (fast.flows === total ? true : undefined), 20_000);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitFor('slow client accounted for every flow', () => (slow.flows + slow.lost === total ? true : undefined), 20_000);
    assert.ok(slow.lost > 0, 'the stalled client lost flows');
    assert.equal(fast.lost, 0);
    assert.equal(fast.flows, total);
    fast.ws.close();
    slow.ws.close();
  } finally {
    await srv.close();
  }
});

test('100 concurrent clients each receive exactly the flows their filter selects', async () => {
  const srv = new AgentServer({ host: '127.0.0.1', port: 0, node: 'n', store: new FlowRing(10), ready: () => true });
  const { port } = await srv.listen();
  try {
    const nss = ['shop', 'data', 'web', 'ops'];
    const clients = await Promise.all(Array.from({ length: 100 }, (_, i) => {
      const f = parseFilterText(i % 5 === 4 ? '' : `--namespace ${nss[i % 4]}`);
      assert.ok(f.ok);
      return client(port, i % 5 === 4 ? {} : { filters: f.value }, { record: true });
    }));
    await waitFor('100 subscribed', () => (srv.clientCount === 100 ? true : undefined));
    for (let i = 0; i < 2000; i++) srv.publish(flow(nss[i % 4]));
    await waitFor('every client has its flows', () => (clients.every((c, i) => c.flows === (i % 5 === 4 ? 2000 : 500)) ? true : undefined), 15_000);
    assert.ok(clients.every((c) => c.lost === 0));
    for (const c of clients) c.ws.close();
  } finally {
    await srv.close();
  }
});

test('the agent token is required on the upgrade when set', async () => {
  const srv = new AgentServer({ host: '127.0.0.1', port: 0, node: 'n', store: new FlowRing(10), ready: () => true, token: 's3cret' });
  const { port } = await srv.listen();
  try {
    const handlers = { onMessage: () => undefined, onClose: () => undefined };
    await assert.rejects(AgentConnection.connect(`ws://127.0.0.1:${port}/`, undefined, handlers), /requires a token \(HTTP 401\)/);
    await assert.rejects(AgentConnection.connect(`ws://127.0.0.1:${port}/`, undefined, handlers, { token: 'wrong' }), /HTTP 401/);
    const ok = await AgentConnection.connect(`ws://127.0.0.1:${port}/`, undefined, handlers, { token: 's3cret' });
    assert.equal(ok.hello.node, 'n');
    ok.close();
  } finally {
    await srv.close();
  }
});

let api: ApiServer;
let dir: string;
let access: ClusterAccess;
let agentPort = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flowlens-survival-'));
  const store = new MemoryStore();
  api = await startApiServer({
    store, port: 0,
    dialPod: () => dialLocal(agentPort),
  });
  writeKubeconfig(join(dir, 'kubeconfig'), api.url);
  const acc = loadClusterAccess({ kubeconfig: join(dir, 'kubeconfig') });
  assert.ok(acc.ok);
  access = acc.value;
  store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'flowlens-system' } });
  store.create('pods', pod('flowlens-system', 'flowlens-agent-a', '192.0.2.2', { hostNetwork: true, labels: { 'app.kubernetes.io/name': 'flowlens-agent' }, ports: [{ name: 'flows', containerPort: 4260 }] }));
});

after(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

test('agent restart: the hub reconnects within 5 s and resumes without repeats or gaps', async () => {
  const ring = new FlowRing(1000);
  let srv = new AgentServer({ host: '127.0.0.1', port: 0, node: 'node-1', store: ring, ready: () => true });
  agentPort = (await srv.listen()).port;
  const model = new ClusterModel(access);
  await model.start();
  const got: FlowResponse[] = [];
  const sub = new AgentHub(access, model).subscribe({ follow: true }, (f) => got.push(...f));
  try {
    const push = (s: AgentServer) => { const f = flow(); ring.push(f); s.publish(f); return f; };
    await waitFor('first live flow', () => { push(srv); return got.length > 0 ? true : undefined; }, 10_000, 100);
    await srv.close();
    // Stored while nobody was connected (a dropped port-forward): the resume replays them.
    const during = [push(srv), push(srv)];
    await sleep(300);
    srv = new AgentServer({ host: '127.0.0.1', port: agentPort, node: 'node-1', store: ring, ready: () => true });
    await srv.listen();
    const back = Date.now();
    const before = got.length;
    const f = push(srv);
    await waitFor('flows after the restart', () => (got.some((r) => r.flow.uuid === f.uuid) ? true : undefined), 5000, 20);
    assert.ok(Date.now() - back < 5000, `reconnected in ${Date.now() - back} ms`);
    for (let i = 0; i < 5; i++) push(srv);
    await waitFor('later flows', () => (got.length >= before + 6 ? true : undefined), 5000, 20);
    const uuids = got.map((r) => r.flow.uuid);
    for (const d of during) assert.ok(uuids.includes(d.uuid), `flow ${d.uuid} stored during the outage was delivered`);
    assert.equal(new Set(uuids).size, uuids.length, 'no flow delivered twice');
    assert.deepEqual(uuids, [...uuids].sort((a, b) => Number(a) - Number(b)), 'in order');
  } finally {
    sub.close();
    model.stop();
    await srv.close();
  }
});

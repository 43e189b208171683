// Survival of the agent on the real kernel with the real eBPF loader: SIGKILL of the loader is
// followed by a restart within 2 s with the gap reported; with the API server stopped, capturing
// continues; after it returns the pod metadata is caught up and new flows carry the new pod. The
// outage lasts FLOWLENS_SURVIVAL_OUTAGE_S seconds (default 5; the "a minute" is the same
// code path, only slower). The emulator's watch history is kept short so the resume gets an
// in-stream 410 Gone and must relist (FLOWLENS_TEST_410=0 turns that off).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Agent } from '../../src/agent/agent';
import { defaultLoaderPath } from '../../src/agent/loader';
import type { ServerMessage } from '../../src/agents/protocol';
import { loadClusterAccess } from '../../src/cluster/kubeconfig';
import type { Flow } from '../../src/flows/flow';
import { writeKubeconfig } from '../../src/sandbox/apiserver/kubeconfig';
import { startApiServer, type ApiServer } from '../../src/sandbox/apiserver/server';
import { MemoryStore } from '../../src/sandbox/apiserver/store';
import { pod } from '../helpers/builders';
import { isRoot, waitFor } from '../helpers/cli';

const HOST_IP = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
const skip = !isRoot() ? 'needs root: loads eBPF programs' : !existsSync(defaultLoaderPath()) ? 'needs the loader: make -C bpf' : !HOST_IP ? 'needs a non-loopback IPv4 address' : false;
const OUTAGE_MS = Number(process.env.FLOWLENS_SURVIVAL_OUTAGE_S ?? 5) * 1000;
const NODE = `survival-${process.pid}`;
const FORCE_410 = process.env.FLOWLENS_TEST_410 !== '0';

let dir = '';
let store: MemoryStore;
let api: ApiServer | undefined;
let apiPort = 0;
let agent: Agent | undefined;
let echo: Server;
let echoPort = 0;
let ws: WebSocket | undefined;
const messages: ServerMessage[] = [];

/** One TCP connection to the echo server on this host's own address; returns the client port. */
async function connectOnce(): Promise<number> {
  const s = createConnection(echoPort, HOST_IP as string);
  await new Promise((r, j) => { s.once('connect', r); s.once('error', j); });
  const port = s.localPort as number;
  s.end();
  await new Promise((r) => s.once('close', r));
  return port;
}

const flowsOf = () => messages.flatMap((m) => (m.type === 'flows' ? m.flows : []));
const connectFlow = (port: number) => (f: Flow) => f.extensions?.tcp_event === 'connect' && f.l4.TCP?.source_port === port && f.l4.TCP?.destination_port === echoPort;

function loaderPid(): number | undefined {
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
      if (m && m[1] === 'flowlens-loader' && Number(m[2]) === process.pid) return Number(d);
    } catch { /* gone */ }
  }
  return undefined;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'flowlens-survival-'));
  echo = createServer((s) => s.pipe(s)).listen(0, HOST_IP);
  await new Promise((r) => echo.once('listening', r));
  echoPort = (echo.address() as { port: number }).port;
  store = new MemoryStore(FORCE_410 ? { historySize: 5 } : {});
  store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  store.create('pods', pod('shop', 'web-old', HOST_IP as string, { node: NODE }));
  api = await startApiServer({ store, port: 0, dialPod: async () => { throw new Error('no pods here'); } });
  apiPort = Number(new URL(api.url).port);
  writeKubeconfig(join(dir, 'kubeconfig'), api.url);
  const acc = loadClusterAccess({ kubeconfig: join(dir, 'kubeconfig') });
  assert.ok(acc.ok);
  agent = new Agent({ node: NODE, access: acc.value, host: '127.0.0.1', port: 0, storeSize: 10_000, processMetrics: false, log: () => undefined });
  const addr = await agent.start();
  ws = new WebSocket(`ws://127.0.0.1:${addr.port}/`);
  ws.on('message', (d: Buffer) => {
    const m = JSON.parse(d.toString()) as ServerMessage;
    messages.push(m);
    if (m.type === 'hello') ws?.send(JSON.stringify({ type: 'subscribe', follow: true, filters: { allowlist: [{ destination_port: [String(echoPort)] }] } }));
  });
  await waitFor('loader attached', () => (messages.some((m) => m.type === 'node_status' && m.ready) ? true : undefined), 20_000);
});

after(async () => {
  ws?.terminate();
  await agent?.stop();
  await api?.close();
  echo?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('loader SIGKILL: restarted and attached again within 2 s, the gap reported as lost_events', { skip }, async () => {
  const before = await connectOnce();
  await waitFor('a flow before the crash', () => (flowsOf().some(connectFlow(before)) ? true : undefined), 10_000);
  const pid = loaderPid();
  assert.ok(pid, 'the agent runs flowlens-loader as its child');
  const n = messages.length;
  const killed = Date.now();
  process.kill(pid, 'SIGKILL');
  const back = await waitFor('ready again', () => messages.slice(n).find((m) => m.type === 'node_status' && m.ready), 5000, 10);
  const took = Date.now() - killed;
  assert.ok(took < 2000, `attached again after ${took} ms`);
  assert.equal(back.type === 'node_status' && back.loader_restarts, 1);
  const gap = messages.slice(n).find((m) => m.type === 'lost_events' && m.source === 'loader_restart');
  assert.ok(gap && gap.type === 'lost_events' && gap.count === 1 && typeof gap.gap_ms === 'number' && gap.gap_ms < 2000, JSON.stringify(gap));
  assert.notEqual(loaderPid(), pid);
  const after = await connectOnce();
  await waitFor('a flow after the restart', () => (flowsOf().some(connectFlow(after)) ? true : undefined), 10_000);
});

test(`API server down: capturing continues; back${FORCE_410 ? ' (410 Gone: relist)' : ''}: metadata caught up`, { skip }, async () => {
  const known = await connectOnce();
  const f0 = await waitFor('flow enriched with the old pod', () => flowsOf().find(connectFlow(known)), 10_000);
  assert.equal(f0.source.pod_name, 'web-old');
  await api?.close();
  api = undefined;
  // While it is down the pod is replaced (with FORCE_410: and more changes than the watch history keeps).
  store.delete('pods', 'shop', 'web-old');
  store.create('pods', pod('shop', 'web-new', HOST_IP as string, { node: NODE }));
  if (FORCE_410) for (let i = 0; i < 8; i++) store.create('pods', pod('shop', `churn-${i}`, `10.99.0.${i + 1}`, { node: NODE }));
  const during = await connectOnce();
  const f1 = await waitFor('flow captured during the outage', () => flowsOf().find(connectFlow(during)), 10_000);
  assert.equal(f1.source.pod_name, 'web-old', 'metadata from the cache while the API server is away');
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  api = await startApiServer({ store, port: apiPort, dialPod: async () => { throw new Error('no pods here'); } });
  const relisted = await waitFor('flows carry the relisted pod', async () => {
    const p = await connectOnce();
    return (await waitFor('flow', () => flowsOf().find(connectFlow(p)), 5000)).source.pod_name === 'web-new' ? true : undefined;
  }, 30_000, 500);
  assert.ok(relisted);
});

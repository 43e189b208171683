// A 3-node sandbox (`sandbox up --nodes 3`): every node a netns with its own bridge and pod CIDR,
// routed over the underlay, one agent per node sharing this kernel. A connection from a pod on
// node-1 to a pod (and to a Service) on node-2 is reported once by each end's agent, node-3
// reports nothing about it, and no agent reports a socket or drop of another node's netns.
// Then `down` leaves nothing. Needs root, the CLI bundle and the loader.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Flow, FlowResponse } from '../../src/flows/flow';
import type { SandboxState } from '../../src/sandbox/state';
import { CLI, ROOT, flowlens, isRoot, kubectl, waitFor } from '../helpers/cli';

const LOADER = join(ROOT, 'bpf', '.output', 'flowlens-loader');
const skip = !isRoot() ? 'needs root: network namespaces, iptables and eBPF'
  : !existsSync(CLI) || !existsSync(LOADER) ? `needs the CLI bundle and the loader (npm run setup): ${CLI}, ${LOADER}` : false;
const NS = 'nodestest';
const STATE_DIR = '/run/flowlens/sandbox-nodes-test';
const SD = ['--state-dir', STATE_DIR];
const pod = (name: string, node: string, port: string): string => `---
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${NS}, labels: { app: ${name} } }
spec: { nodeName: ${node}, containers: [ { name: c, image: flowlens/echo, ports: [ ${port} ] } ] }
`;
const MANIFEST = `apiVersion: v1
kind: Namespace
metadata: { name: ${NS} }
${pod('client', 'node-1', '{ containerPort: 7000 }')}${pod('server', 'node-2', '{ name: echo, containerPort: 9090 }')}${pod('bystander', 'node-3', '{ containerPort: 7000 }')}---
apiVersion: v1
kind: Service
metadata: { name: server, namespace: ${NS} }
spec: { selector: { app: server }, ports: [ { name: echo, port: 9090, targetPort: echo } ] }
`;
let dir = '';
let state: SandboxState;

function status(): SandboxState {
  const r = flowlens(['sandbox', 'status', '-o', 'json', ...SD]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as SandboxState;
}

function observe(): Flow[] {
  const r = flowlens(['observe', '--kubeconfig', join(STATE_DIR, 'kubeconfig'), '--last', '500', '-o', 'json'], { timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as FlowResponse).flow);
}

/** One TCP connection from the client pod; prints its local port once the echo came back. */
function connectFromClient(host: string, port: number): number {
  const netns = state.pods.find((p) => p.name === 'client')?.netns;
  assert.ok(netns, 'client has a netns');
  const script = `const s = require('node:net').connect(${port}, '${host}', () => s.write('hello'));
s.on('data', () => { console.log(s.localPort); s.end(); }); s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
  return Number(execFileSync('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 }).trim());
}

/** netns inode -> node name: each node's own netns and its pods'. */
function netnsOwners(s: SandboxState): Map<number, string> {
  const out = new Map<number, string>();
  for (const n of s.nodes ?? []) if (n.netns) out.set(statSync(`/run/netns/${n.netns}`).ino, n.name);
  for (const p of s.pods) if (p.netns && p.node) out.set(statSync(`/run/netns/${p.netns}`).ino, p.node);
  return out;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'fl-nodes-'));
  writeFileSync(join(dir, 'nodes.yaml'), MANIFEST);
  const up = flowlens(['sandbox', 'up', '--nodes', '3', '-f', join(dir, 'nodes.yaml'), '--port', '6558', ...SD], { timeoutMs: 180_000 });
  assert.equal(up.status, 0, `sandbox up --nodes 3 failed:\n${up.stdout}\n${up.stderr}`);
  state = await waitFor('pods and 3 agents ready', () => {
    const s = status();
    return s.pods.filter((p) => p.role === 'agent' && p.ready).length === 3 && s.pods.filter((p) => p.namespace === NS && p.ready).length === 3 ? s : undefined;
  }, 60_000, 500);
  await new Promise((r) => setTimeout(r, 2500)); // agents scan interfaces every second
});

after(() => {
  if (skip) return;
  const down = flowlens(['sandbox', 'down', ...SD], { timeoutMs: 120_000 });
  if (dir) rmSync(dir, { recursive: true, force: true });
  assert.equal(down.status, 0, `sandbox down failed: ${down.stderr}`);
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(netns, /flnode-|flpod-/, 'no node or pod netns left');
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(links, /: fl(br|v)/, 'no bridge, veth or underlay link left');
  const routes = spawnSync('ip', ['route', 'show'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(routes, /10\.244\.|10\.250\.0\./, 'no route to pod CIDRs or the underlay left');
});

test('3 nodes: Node objects, pod CIDRs, one agent per node, pods where they were placed', { skip }, () => {
  assert.deepEqual(state.nodes?.map((n) => [n.name, n.podCidr, n.netns]), [['node-1', '10.244.1.0/24', 'flnode-1'], ['node-2', '10.244.2.0/24', 'flnode-2'], ['node-3', '10.244.3.0/24', 'flnode-3']]);
  const nodes = kubectl(join(STATE_DIR, 'kubeconfig'), ['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.addresses[0].address} {end}']);
  assert.equal(nodes.stdout.trim(), 'node-1=10.250.0.2 node-2=10.250.0.3 node-3=10.250.0.4');
  assert.deepEqual(state.pods.filter((p) => p.role === 'agent').map((p) => p.node).sort(), ['node-1', 'node-2', 'node-3']);
  const at = (name: string): string | undefined => state.pods.find((p) => p.name === name)?.ip;
  assert.match(at('client') ?? '', /^10\.244\.1\./);
  assert.match(at('server') ?? '', /^10\.244\.2\./);
});

test('a cross-node connection is reported once by each end\'s agent, never by another node', { skip, timeout: 120_000 }, async () => {
  const server = state.pods.find((p) => p.name === 'server')!;
  const vip = state.services.find((s) => s.namespace === NS && s.name === 'server')!.clusterIP!;
  const direct = connectFromClient(server.ip!, 9090);
  const viaSvc = connectFromClient(vip, 9090);
  const client = state.pods.find((p) => p.name === 'client')!;
  const ends = (all: Flow[], port: number): Flow[] => all.filter((f) => f.extensions?.flow_event === 'end' && f.IP.source === client.ip && f.l4.TCP?.source_port === port);
  const all = await waitFor('end flows at both ends of both connections', () => {
    const flows = observe();
    return [direct, viaSvc].every((p) => ends(flows, p).length >= 2) ? flows : undefined;
  }, 30_000, 1000);
  for (const port of [direct, viaSvc]) {
    const seen = ends(all, port).map((f) => `${f.trace_observation_point}@${f.node_name}`).sort();
    assert.deepEqual(seen, ['FROM_ENDPOINT@node-1', 'TO_ENDPOINT@node-2'], `connection from port ${port}`);
    const socks = all.filter((f) => f.trace_observation_point === 'SOCK' && f.l4.TCP && [f.l4.TCP.source_port, f.l4.TCP.destination_port].includes(port));
    assert.ok(socks.some((f) => f.node_name === 'node-1'), 'node-1 reports the client socket');
    assert.ok(!socks.some((f) => f.node_name === 'node-3'), 'node-3 reports nothing about it');
  }
  const backend = ends(all, viaSvc).find((f) => f.node_name === 'node-2');
  assert.equal(backend?.IP.destination, server.ip, 'node-2 sees the backend the VIP was translated to');
});

test('compact output shows a cross-node connection as one conversation with both observation points', { skip, timeout: 60_000 }, () => {
  const server = state.pods.find((p) => p.name === 'server')!;
  const port = connectFromClient(server.ip!, 9090);
  const line = (text: string): string | undefined => text.split('\n').find((l) => l.includes(`${NS}/client:${port} -> ${NS}/server:9090 from-endpoint@node-1`) && l.includes('(TCP flow end)'));
  const found = waitFor('the compact line of the client end', () => {
    const r = flowlens(['observe', '--kubeconfig', join(STATE_DIR, 'kubeconfig'), '--last', '500', '-o', 'compact'], { timeoutMs: 60_000 });
    return line(r.stdout);
  }, 30_000, 1000);
  return found.then((l) => assert.match(l, /\[conversation: also to-endpoint@node-2\]/));
});

test('no agent reports a flow of another node\'s network namespace', { skip, timeout: 60_000 }, () => {
  const owners = netnsOwners(status());
  const flows = observe().filter((f) => typeof f.extensions?.netns === 'number' && f.extensions.netns !== 0);
  assert.ok(flows.length > 0, 'some flows carry the netns they were observed in');
  const wrong = flows.filter((f) => owners.get(f.extensions!.netns!) !== f.node_name);
  assert.deepEqual(wrong.map((f) => `${f.node_name} reported netns ${f.extensions?.netns} (${owners.get(f.extensions!.netns!) ?? 'not a sandbox node'}): ${f.Summary}`), []);
});

test('sandbox agent stop|start switches every node\'s agent, or one with --node', { skip, timeout: 120_000 }, () => {
  // Each agent's loader holds its tc programs (tcx links die with it): count them.
  const tcPrograms = () => (JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { name?: string }[]).filter((p) => p.name === 'tc_ingress').length;
  const before = tcPrograms();
  assert.ok(before >= 3, `3 agents' loaders have their tc programs loaded (${before})`);
  const one = flowlens(['sandbox', 'agent', 'stop', '--node', 'node-2', ...SD], { timeoutMs: 60_000 });
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, /^Agent of node-2 \(pid \d+\) datapath detached\n$/);
  assert.equal(tcPrograms(), before - 1, 'only node-2\'s datapath went away');
  const all = flowlens(['sandbox', 'agent', 'stop', ...SD], { timeoutMs: 60_000 });
  assert.equal(all.status, 0, all.stderr);
  assert.deepEqual(all.stdout.trim().split('\n').map((l) => /^Agent of (node-\d) \(pid \d+\) datapath detached$/.exec(l)?.[1]).sort(), ['node-1', 'node-2', 'node-3']);
  assert.equal(tcPrograms(), before - 3);
  const start = flowlens(['sandbox', 'agent', 'start', ...SD], { timeoutMs: 60_000 });
  assert.equal(start.status, 0, start.stderr);
  assert.equal(start.stdout.trim().split('\n').filter((l) => /datapath attached$/.test(l)).length, 3, start.stdout);
  assert.equal(tcPrograms(), before, 'every agent attached again, confirmed by its own /readyz');
  const bad = flowlens(['sandbox', 'agent', 'stop', '--node', 'node-9', ...SD]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /no agent on node "node-9" \(nodes: node-1, node-2, node-3\)/);
});

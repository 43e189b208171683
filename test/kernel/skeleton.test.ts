// The walking skeleton's acceptance, end to end on the real kernel: sandbox up with the demo
// scenario, the real kubectl against the emulator, probes through a ClusterIP by IP and by DNS
// name, and `flowlens observe` showing each connection with source pod, serving backend and
// Service, read from the agent through port-forward.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import type { FlowResponse } from '../../src/flows/flow';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { flowlens, isRoot, kubectl, kubectlSpawn, waitFor } from '../helpers/cli';

const skip = isRoot() ? false : 'needs root: creates network namespaces, iptables chains and loads eBPF programs';
let kc = '';

interface Scenario { client: KubeObject; svc: KubeObject; port: number; backends: KubeObject[] }

function list(kind: string): KubeObject[] {
  const r = kubectl(kc, ['get', kind, '-A', '-o', 'json']);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { items: KubeObject[] }).items;
}

let picked: Scenario | undefined;

/**
 * A Service with backends and a client pod in its namespace that policy lets through (the demo
 * scenario denies some paths on purpose): the first candidate a real probe connects on.
 */
function pickScenario(): Scenario {
  picked ??= candidates().find((c) => probe(`${c.client.metadata.namespace}/${c.client.metadata.name}`, c.svc.spec.clusterIP as string, c.port).connected);
  assert.ok(picked, 'no Service in the scenario is reachable from a client pod of its namespace');
  return picked;
}

function candidates(): Scenario[] {
  const out: Scenario[] = [];
  const pods = list('pods').filter((p) => !p.spec?.hostNetwork && p.status?.podIP);
  for (const svc of list('services')) {
    const sel = svc.spec?.selector as Record<string, string> | undefined;
    const port = (svc.spec?.ports ?? []).find((p: { protocol?: string }) => (p.protocol ?? 'TCP') === 'TCP');
    if (!sel || !port || svc.spec?.clusterIP === 'None' || svc.metadata.namespace === 'kube-system') continue;
    const backends = pods.filter((p) => p.metadata.namespace === svc.metadata.namespace && Object.entries(sel).every(([k, v]) => p.metadata.labels?.[k] === v));
    const client = pods.find((p) => p.metadata.namespace === svc.metadata.namespace && !backends.includes(p));
    if (backends.length >= 1 && client) out.push({ client, svc, port: port.port as number, backends });
  }
  return out;
}

function probe(from: string, to: string, port: number): { connected: boolean; local_port: number; ip: string } {
  const r = flowlens(['sandbox', 'probe', '--from', from, '--to', to, '--port', String(port), '--timeout', '2s', '-o', 'json']);
  assert.equal(r.status === 0 || r.status === 1, true, `probe exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { connected: boolean; local_port: number; ip: string };
}

before(async () => {
  if (skip) return;
  const up = flowlens(['sandbox', 'up'], { timeoutMs: 180_000 });
  assert.equal(up.status, 0, `sandbox up failed:\n${up.stdout}\n${up.stderr}`);
  kc = flowlens(['sandbox', 'kubeconfig']).stdout.trim();
  assert.ok(kc.length > 0, 'sandbox kubeconfig printed no path');
});

after(() => {
  if (skip) return;
  const down = flowlens(['sandbox', 'down'], { timeoutMs: 120_000 });
  assert.equal(down.status, 0, `sandbox down failed: ${down.stderr}`);
});

test('kubectl lists pods wide, services and endpointslices of the sandbox', { skip }, () => {
  const pods = kubectl(kc, ['get', 'pods', '-A', '-o', 'wide']);
  assert.equal(pods.status, 0, pods.stderr);
  assert.match(pods.stdout.split('\n')[0] ?? '', /NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
  const { client } = pickScenario();
  assert.match(pods.stdout, new RegExp(`${client.metadata.name}\\s+1/1\\s+Running\\s+0\\s+\\S+\\s+${client.status.podIP.replace(/\./g, '\\.')}`));
  const svc = kubectl(kc, ['get', 'svc,endpointslices', '-A']);
  assert.equal(svc.status, 0, svc.stderr);
  assert.match(svc.stdout, /service\/kube-dns\s+ClusterIP\s+10\.96\.0\.10/);
  assert.match(svc.stdout, /endpointslice\.discovery\.k8s\.io\//);
  assert.equal(pods.stderr + svc.stderr, '', 'kubectl printed warnings or errors');
});

test('kubectl get pods -w sees a pod created through the emulator', { skip }, async () => {
  const w = kubectlSpawn(kc, ['get', 'pods', '-n', 'default', '-w']);
  let out = '';
  w.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const name = `watch-probe-${process.pid}`;
    const create = kubectl(kc, ['run', name, '--image=flowlens/echo', '--port=7000', '--restart=Never', '-n', 'default']);
    assert.equal(create.status, 0, create.stderr);
    await waitFor(`${name} in kubectl get pods -w`, () => out.includes(name) || undefined, 15_000);
    await waitFor(`${name} Running`, () => new RegExp(`${name}\\s+1/1\\s+Running`).test(out) || undefined, 30_000);
    assert.equal(kubectl(kc, ['delete', 'pod', name, '-n', 'default']).status, 0);
  } finally {
    w.kill();
  }
});

test('kubectl port-forward reaches the agent pod', { skip }, async () => {
  const agents = list('pods').filter((p) => p.metadata.namespace === 'flowlens-system');
  assert.equal(agents.length, 1, 'one agent pod for the one sandbox node');
  const agent = agents[0] as KubeObject;
  const localPort = 20000 + (process.pid % 20000);
  const pf = kubectlSpawn(kc, ['port-forward', '-n', 'flowlens-system', `pod/${agent.metadata.name}`, `${localPort}:4260`]);
  let out = '';
  pf.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  pf.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await waitFor('port-forward ready', () => out.includes('Forwarding from') || undefined, 15_000);
    const res = await new Promise<string>((resolve, reject) => {
      const s = createConnection(localPort, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let body = '';
      s.on('data', (c) => (body += c.toString()));
      s.on('end', () => resolve(body));
      s.on('error', reject);
    });
    assert.match(res, /^HTTP\/1\.1 200/);
  } finally {
    pf.kill();
  }
});

test('probe reaches a backend through a ClusterIP by IP and by DNS name', { skip }, () => {
  const { client, svc, port, backends } = pickScenario();
  const from = `${client.metadata.namespace}/${client.metadata.name}`;
  const ips = new Set(backends.map((b) => b.status.podIP as string));
  const byIP = probe(from, svc.spec.clusterIP as string, port);
  assert.equal(byIP.connected, true, JSON.stringify(byIP));
  for (const name of [svc.metadata.name, `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`]) {
    const r = probe(from, name, port);
    assert.equal(r.connected, true, `${name}: ${JSON.stringify(r)}`);
    assert.equal(r.ip, svc.spec.clusterIP, `${name} resolved to the ClusterIP`);
  }
  assert.ok(ips.size >= 1);
});

test('20 probes to a Service show up in observe with source pod, serving backend and Service', { skip }, async () => {
  const { client, svc, port, backends } = pickScenario();
  const from = `${client.metadata.namespace}/${client.metadata.name}`;
  const to = `${svc.metadata.namespace}/${svc.metadata.name}`;
  const ports = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const r = probe(from, to, port);
    assert.equal(r.connected, true, JSON.stringify(r));
    ports.add(r.local_port);
  }
  assert.equal(ports.size, 20, 'one client port per probe');
  const byName = new Map(backends.map((b) => [b.status.podIP as string, b]));
  const connects = await waitFor('20 connect flows', () => {
    const r = flowlens(['observe', '--kubeconfig', kc, '--last', '5000', '-o', 'json']); // each probe also gives tc, HTTP and close flows
    assert.equal(r.status, 0, r.stderr);
    const flows = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as FlowResponse);
    const mine = (ev: string) => flows.filter((f) => f.flow.extensions?.tcp_event === ev && f.flow.IP.source === client.status.podIP && ports.has(f.flow.l4.TCP?.source_port ?? -1));
    return mine('connect').length === 20 && mine('accept').length === 20 ? { connects: mine('connect'), accepts: mine('accept') } : undefined;
  }, 10_000, 500).then((r) => {
    // The backend that actually served each connection: the server socket's own view.
    const served = new Map(r.accepts.map((a) => [a.flow.l4.TCP?.source_port, a.flow]));
    for (const c of r.connects) {
      const a = served.get(c.flow.l4.TCP?.source_port);
      assert.ok(a, 'an accept flow for each connect');
      assert.equal(c.flow.IP.destination, a.IP.destination, 'translated destination = the socket that accepted');
      assert.equal(c.flow.l4.TCP?.destination_port, a.l4.TCP?.destination_port);
      assert.equal(a.traffic_direction, 'INGRESS');
    }
    return r.connects;
  });
  assert.equal(new Set(connects.map((f) => f.flow.l4.TCP?.source_port)).size, 20);
  for (const { flow } of connects) {
    assert.equal(flow.source.pod_name, client.metadata.name);
    assert.equal(flow.source.namespace, client.metadata.namespace);
    const backend = byName.get(flow.IP.destination);
    assert.ok(backend, `destination ${flow.IP.destination} is one of the Service's backends`);
    assert.equal(flow.destination.pod_name, backend.metadata.name);
    assert.equal(flow.destination.namespace, backend.metadata.namespace);
    assert.deepEqual(flow.destination_service, { name: svc.metadata.name, namespace: svc.metadata.namespace });
    assert.equal(flow.extensions?.original_destination?.ip, svc.spec.clusterIP);
    assert.equal(flow.traffic_direction, 'EGRESS');
    assert.equal(flow.verdict, 'FORWARDED');
  }
});

// The datapath in the sandbox, end to end with exact expectations: tc flows with byte counts,
// DNS, HTTP, a drop with its kernel reason, ClusterIP translation (VIP and backend), read from
// the agent through `flowlens observe`. Own namespace and manifests; needs root.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Flow, FlowResponse } from '../../src/flows/flow';
import type { PodState, SandboxState } from '../../src/sandbox/state';
import { flowlens, isRoot, waitFor } from '../helpers/cli';

const skip = isRoot() ? false : 'needs root: sandbox network namespaces, iptables and eBPF';
const NS = 'dptest';
const MANIFEST = `apiVersion: v1
kind: Namespace
metadata: { name: ${NS} }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: ${NS}, labels: { app: client } }
spec: { containers: [ { name: c, image: flowlens/echo, ports: [ { containerPort: 7000 } ] } ] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${NS} }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: flowlens/echo
          ports: [ { name: http, containerPort: 8080 }, { name: echo, containerPort: 9090 }, { name: denied, containerPort: 9191 } ]
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: ${NS} }
spec:
  selector: { app: web }
  ports: [ { name: http, port: 80, targetPort: http }, { name: echo, port: 9090, targetPort: echo } ]
---
apiVersion: v1
kind: Pod
metadata: { name: solo, namespace: ${NS}, labels: { app: solo } }
spec: { containers: [ { name: s, image: flowlens/echo, ports: [ { name: http, containerPort: 8080 } ] } ] }
---
apiVersion: v1
kind: Service
metadata: { name: solo, namespace: ${NS} }
spec:
  selector: { app: solo }
  ports: [ { name: http, port: 80, targetPort: http } ]
`;
const CHAIN = `FLDPTEST${process.pid % 10000}`;
let dir = '';
let state: SandboxState;
let client: PodState;
let webs: PodState[];
let solo: PodState; // the only backend of Service solo
let soloVip = '';
let vip = '';

function podsJson(): SandboxState {
  const r = flowlens(['sandbox', 'status', '-o', 'json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as SandboxState;
}

/** Runs a Node script in the client pod's netns; it prints one JSON value. */
function inClient<T>(script: string): T {
  const out = execFileSync('ip', ['netns', 'exec', client.netns!, process.execPath, '-e', script], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

function observe(): Flow[] {
  const r = flowlens(['observe', '--kubeconfig', state.kubeconfig, '--last', '20000', '-o', 'json'], { timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as FlowResponse).flow);
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'fl-dp-'));
  writeFileSync(join(dir, 'dp.yaml'), MANIFEST);
  // A path relative to the caller's directory (the daemon runs elsewhere: the CLI resolves it).
  const up = flowlens(['sandbox', 'up', '-f', 'dp.yaml'], { timeoutMs: 180_000, cwd: dir });
  assert.equal(up.status, 0, `sandbox up failed:\n${up.stdout}\n${up.stderr}`);
  state = await waitFor('pods and agent ready', () => {
    const s = podsJson();
    const ok = s.pods.filter((p) => p.namespace === NS && p.ready).length === 4 && s.pods.some((p) => p.role === 'agent' && p.ready);
    return ok ? s : undefined;
  }, 60_000, 500);
  client = state.pods.find((p) => p.namespace === NS && p.name === 'client')!;
  webs = state.pods.filter((p) => p.namespace === NS && p.name.startsWith('web-'));
  solo = state.pods.find((p) => p.namespace === NS && p.name === 'solo')!;
  soloVip = state.services.find((s) => s.namespace === NS && s.name === 'solo')!.clusterIP!;
  vip = state.services.find((s) => s.namespace === NS && s.name === 'web')!.clusterIP!;
  await new Promise((r) => setTimeout(r, 2500)); // the agent scans interfaces every second
});

after(() => {
  if (skip) return;
  spawnSync('iptables', ['-D', 'FORWARD', '-j', CHAIN]);
  spawnSync('iptables', ['-F', CHAIN]);
  spawnSync('iptables', ['-X', CHAIN]);
  const down = flowlens(['sandbox', 'down'], { timeoutMs: 120_000 });
  if (dir) rmSync(dir, { recursive: true, force: true });
  assert.equal(down.status, 0, `sandbox down failed: ${down.stderr}`);
});

const CONNECT = (host: string, port: number, n: number, bytes: number) => `
const net = require('node:net');
const one = () => new Promise((res, rej) => {
  let port = 0;
  const s = net.connect(${port}, '${host}', () => { port = s.localPort; s.write(Buffer.alloc(${bytes}, 120)); });
  let got = 0;
  s.on('data', (d) => { got += d.length; if (got >= ${bytes}) s.end(); });
  s.on('close', () => res({ port, got }));
  s.on('error', rej);
});
(async () => { const out = []; for (let i = 0; i < ${n}; i++) out.push(await one()); console.log(JSON.stringify(out)); })();`;

const tcFlows = (flows: Flow[], point: string, ports: Set<number>): Flow[] =>
  flows.filter((f) => f.extensions?.flow_event === 'end' && f.trace_observation_point === point && f.IP.source === client.ip && ports.has(f.l4.TCP?.source_port ?? -1));

test('N connections give N flows at each end with exact payload byte counts', { skip, timeout: 120_000 }, async () => {
  const web = webs[0]!;
  const conns = inClient<{ port: number; got: number }[]>(CONNECT(web.ip!, 9090, 10, 1000));
  assert.deepEqual(conns.map((c) => c.got), Array(10).fill(1000), 'echoed');
  const ports = new Set(conns.map((c) => c.port));
  const flows = await waitFor('10 end flows at both veths', () => {
    const all = observe();
    const [c, s] = [tcFlows(all, 'FROM_ENDPOINT', ports), tcFlows(all, 'TO_ENDPOINT', ports)];
    return c.length >= 10 && s.length >= 10 ? { c, s } : undefined;
  }, 30_000, 1000);
  for (const side of [flows.c, flows.s]) {
    assert.equal(side.length, 10, 'exactly one end flow per connection per observation point');
    for (const f of side) {
      assert.equal(f.IP.destination, web.ip);
      assert.equal(f.l4.TCP?.destination_port, 9090);
      assert.deepEqual([f.extensions?.payload_bytes_sent, f.extensions?.payload_bytes_received], [1000, 1000]);
      assert.equal(f.source.pod_name, 'client');
      assert.equal(f.destination.pod_name, web.name);
      assert.equal(f.verdict, 'FORWARDED');
    }
  }
  assert.deepEqual(flows.c.map((f) => f.traffic_direction), Array(10).fill('EGRESS'));
  assert.deepEqual(flows.s.map((f) => f.traffic_direction), Array(10).fill('INGRESS'));
});

test('a connection through the ClusterIP gives the VIP and the backend it reached', { skip, timeout: 120_000 }, async () => {
  const conns = inClient<{ port: number; got: number }[]>(CONNECT(vip, 9090, 8, 100));
  const ports = new Set(conns.map((c) => c.port));
  const ips = new Set(webs.map((w) => w.ip));
  const sock = (all: Flow[], event: string) => all.filter((f) => f.extensions?.tcp_event === event && f.IP.source === client.ip && ports.has(f.l4.TCP?.source_port ?? -1));
  const flows = await waitFor('8 translated client-side flows', () => {
    const all = observe();
    const c = tcFlows(all, 'FROM_ENDPOINT', ports);
    const s = tcFlows(all, 'TO_ENDPOINT', ports);
    const connects = sock(all, 'connect');
    const accepts = sock(all, 'accept');
    return c.length >= 8 && s.length >= 8 && connects.length >= 8 && accepts.length >= 8 ? { c, s, connects, accepts } : undefined;
  }, 30_000, 1000);
  const served = new Map(flows.s.map((f) => [f.l4.TCP?.source_port, f.IP.destination]));
  for (const f of flows.c) {
    assert.deepEqual(f.extensions?.original_destination, { ip: vip, port: 9090 });
    assert.ok(ips.has(f.IP.destination), `${f.IP.destination} is a backend`);
    assert.equal(f.IP.destination, served.get(f.l4.TCP?.source_port), 'the backend whose veth saw the connection');
    assert.equal(f.l4.TCP?.destination_port, 9090);
    assert.deepEqual([f.extensions?.payload_bytes_sent, f.extensions?.payload_bytes_received], [100, 100]);
  }
  // The socket view: connect (the client's socket) and accept (the backend's), the same backend,
  // the VIP as original_destination (joined from the two tc views, or asked of conntrack).
  for (const f of [...flows.connects, ...flows.accepts]) {
    const port = f.l4.TCP?.source_port;
    assert.deepEqual([f.IP.destination, f.l4.TCP?.destination_port, f.extensions?.original_destination], [served.get(port), 9090, { ip: vip, port: 9090 }], `${f.extensions?.tcp_event} from port ${port}`);
  }
  assert.equal(new Set(flows.connects.map((f) => f.l4.TCP?.source_port)).size, 8, 'one connect per connection');
  assert.equal(new Set(flows.accepts.map((f) => f.l4.TCP?.source_port)).size, 8, 'one accept per connection');
});

test('a client port reused within milliseconds through the ClusterIP (two ports for 60 connections): every connect, accept, tc view and HTTP request names the backend that answered', { skip, timeout: 120_000 }, async () => {
  // Each connection reuses a port whose previous connection's flows are still kept (same 5-tuple
  // at the client's port): the agent must not join a connection to its predecessor's backend.
  execFileSync('ip', ['netns', 'exec', client.netns!, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=46200 46202']);
  let conns: { port: number; pod: string; seq: number }[];
  try {
    conns = inClient(`
const net = require('node:net');
const one = (seq) => new Promise((res, rej) => {
  const s = net.connect(80, '${vip}', () => s.write('GET /reuse/' + seq + ' HTTP/1.1\\r\\nHost: web\\r\\nConnection: close\\r\\n\\r\\n'));
  let out = '', port = 0; s.on('connect', () => { port = s.localPort; });
  s.on('data', (d) => { out += d; }); s.on('end', () => s.end());
  s.on('close', () => res({ port, pod: (/X-Pod-Name: (\\S+)/.exec(out) || [])[1], seq }));
  s.on('error', rej);
});
(async () => { const out = []; for (let i = 0; i < 60; i++) out.push(await one(i)); console.log(JSON.stringify(out)); })();`);
  } finally {
    execFileSync('ip', ['netns', 'exec', client.netns!, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=32768 60999']);
  }
  const podIp = new Map(webs.map((w) => [w.name, w.ip!]));
  assert.ok(new Set(conns.map((c) => c.port)).size <= 3, 'the ports were reused');
  assert.ok(new Set(conns.map((c) => c.pod)).size > 1, 'more than one backend answered');
  const ports = new Set(conns.map((c) => c.port));
  const byPort = (flows: Flow[]) => {
    const m = new Map<number, Flow[]>();
    for (const f of flows.sort((a, b) => (a.time < b.time ? -1 : 1))) m.set(f.l4.TCP!.source_port, [...(m.get(f.l4.TCP!.source_port) ?? []), f]);
    return m;
  };
  const got = await waitFor('60 connects and accepts', () => {
    const all = observe().filter((f) => f.IP.source === client.ip && ports.has(f.l4.TCP?.source_port ?? -1));
    const connects = all.filter((f) => f.extensions?.tcp_event === 'connect' && f.extensions.original_destination?.ip === vip);
    const accepts = all.filter((f) => f.extensions?.tcp_event === 'accept' && f.l4.TCP?.destination_port === 8080);
    const served = all.filter((f) => f.extensions?.flow_event === 'start' && f.trace_observation_point === 'TO_ENDPOINT' && f.l4.TCP?.destination_port === 8080);
    // The heads the kernel captures per flow are limited (--http-per-flow per window), and a reused
    // port's connections share a flow: some requests are captured, each names its connection.
    const requests = all.filter((f) => f.l7?.type === 'REQUEST' && f.trace_observation_point === 'FROM_ENDPOINT' && /\/reuse\/\d+$/.test((f.l7.http as { url?: string } | undefined)?.url ?? ''));
    return connects.length >= 60 && accepts.length >= 60 && served.length >= 60 && requests.length > 0 ? { connects: byPort(connects), accepts: byPort(accepts), served: byPort(served), requests } : undefined;
  }, 30_000, 1000);
  for (const port of ports) {
    const want = conns.filter((c) => c.port === port).map((c) => podIp.get(c.pod));
    for (const [what, flows] of [['connect', got.connects], ['accept', got.accepts], ['TO_ENDPOINT start', got.served]] as const) {
      const seen = (flows.get(port) ?? []).slice(-want.length);
      assert.deepEqual(seen.map((f) => f.IP.destination), want, `port ${port}: each ${what} names the backend that answered, in order`);
      if (what !== 'connect') assert.ok(seen.every((f) => f.extensions?.original_destination?.ip === vip), `port ${port}: each ${what} carries the VIP`);
    }
  }
  const requests = got.requests.map((f) => ({ seq: Number(/(\d+)$/.exec((f.l7!.http as { url: string }).url)![1]), to: f.IP.destination, vip: f.extensions?.original_destination?.ip }));
  console.log(`${requests.length} of 60 requests captured`);
  assert.deepEqual(requests, requests.map((r) => ({ seq: r.seq, to: podIp.get(conns[r.seq]!.pod), vip })), 'each captured request names the backend that answered it, and the VIP');
});

test('a dual-stack server (listening on [::]) accepting IPv4 clients: its accepts and closes are IPv4 flows between the two pods', { skip, timeout: 120_000 }, async (t) => {
  const web = webs[1]!;
  // Go and Java listen on [::]: to the socket, an IPv4 peer is ::ffff:a.b.c.d.
  const server = spawn('ip', ['netns', 'exec', web.netns!, process.execPath, '-e', `
const srv = require('node:net').createServer((s) => { s.on('data', (d) => s.write(d)); s.on('end', () => s.end()); s.on('error', () => {}); });
srv.listen({ port: 7443, host: '::', ipv6Only: false }, () => console.log(srv.address().family));`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => server.kill());
  const family = await new Promise<string>((res, rej) => { server.stdout.once('data', (d: Buffer) => res(d.toString().trim())); server.once('exit', (c) => rej(new Error(`server exited ${c}`))); });
  assert.equal(family, 'IPv6', 'a dual-stack socket');
  const conns = inClient<{ port: number; got: number }[]>(CONNECT(web.ip!, 7443, 3, 100));
  assert.deepEqual(conns.map((c) => c.got), [100, 100, 100]);
  const ports = new Set(conns.map((c) => c.port));
  const sock = await waitFor('the server\'s accept and close of each connection', () => {
    const got = observe().filter((f) => f.trace_observation_point === 'SOCK' && f.traffic_direction === 'INGRESS' && f.l4.TCP?.destination_port === 7443);
    return got.filter((f) => ports.has(f.l4.TCP?.source_port ?? -1)).length >= 6 ? got : undefined;
  }, 30_000, 1000);
  assert.ok(sock.every((f) => f.IP.ipVersion === 'IPv4' && f.IP.source === client.ip && f.IP.destination === web.ip), JSON.stringify(sock.map((f) => f.IP)));
  assert.deepEqual(sock.map((f) => f.extensions?.tcp_event).sort(), ['accept', 'accept', 'accept', 'close', 'close', 'close']);
  for (const f of sock) assert.deepEqual([f.source.pod_name, f.destination.pod_name], ['client', web.name], 'both ends named after their pods');
});

test('socket-level load balancing (a cgroup connect4 hook rewrites the VIP, as Cilium\'s kube-proxy replacement does): connect and accept carry the VIP, the socket the backend', { skip, timeout: 120_000 }, async (t) => {
  // A stand-in load balancer: its own connect4 program on the cgroup v2 root, attached after the
  // agent's (so the agent's hook sees what user space dialled), for one address no rule knows.
  const web = webs[0]!;
  const [fakeVip, fakePort] = ['10.96.250.250', 8181];
  const hex = (ip: string) => `0x${ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')}`;
  const work = mkdtempSync(join(tmpdir(), 'fl-socklb-'));
  const pin = `/sys/fs/bpf/fl_test_socklb_${process.pid}`;
  const cgroup2 = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
  assert.ok(cgroup2, 'a cgroup v2 mount');
  writeFileSync(join(work, 'lb.c'), `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
SEC("cgroup/connect4")
int fake_socket_lb(struct bpf_sock_addr *ctx)
{
\tif (ctx->user_ip4 == bpf_htonl(${hex(fakeVip)}) && ctx->user_port == bpf_htons(${fakePort})) {
\t\tctx->user_ip4 = bpf_htonl(${hex(web.ip!)});
\t\tctx->user_port = bpf_htons(9090);
\t}
\treturn 1;
}
SEC("cgroup/connect6")
int fake_socket_lb6(struct bpf_sock_addr *ctx)
{
\tif (!ctx->user_ip6[0] && !ctx->user_ip6[1] && ctx->user_ip6[2] == bpf_htonl(0xffff) &&
\t    ctx->user_ip6[3] == bpf_htonl(${hex(fakeVip)}) && ctx->user_port == bpf_htons(${fakePort})) {
\t\tctx->user_ip6[3] = bpf_htonl(${hex(web.ip!)});
\t\tctx->user_port = bpf_htons(9090);
\t}
\treturn 1;
}
char LICENSE[] SEC("license") = "GPL";
`);
  const bpfDir = join(__dirname, '..', '..', 'bpf');
  execFileSync('make', ['-s', '-C', bpfDir, '.output/vmlinux.h'], { stdio: 'inherit' });
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-I', join(bpfDir, '.output'), '-c', join(work, 'lb.c'), '-o', join(work, 'lb.o')]);
  execFileSync('bpftool', ['prog', 'loadall', join(work, 'lb.o'), pin]); // a directory: one pin per program
  const hooks = [['connect4', join(pin, 'fake_socket_lb')], ['connect6', join(pin, 'fake_socket_lb6')]] as const;
  t.after(() => {
    for (const [hook, prog] of hooks) spawnSync('bpftool', ['cgroup', 'detach', cgroup2, hook, 'pinned', prog]);
    rmSync(pin, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  for (const [hook, prog] of hooks) execFileSync('bpftool', ['cgroup', 'attach', cgroup2, hook, 'pinned', prog, 'multi']);
  // Two over IPv4 sockets, two over dual-stack ones (an AF_INET6 socket dialling ::ffff:VIP runs connect6).
  const conns = [...inClient<{ port: number; got: number }[]>(CONNECT(fakeVip, fakePort, 2, 100)), ...inClient<{ port: number; got: number }[]>(CONNECT(`::ffff:${fakeVip}`, fakePort, 2, 100))];
  assert.deepEqual(conns.map((c) => c.got), [100, 100, 100, 100], 'the stand-in balancer sent them to the backend');
  const ports = new Set(conns.map((c) => c.port));
  const sock = await waitFor('the connects, accepts and closes of the four connections', () => {
    const got = observe().filter((f) => f.trace_observation_point === 'SOCK' && ports.has(f.l4.TCP?.source_port ?? -1));
    return got.length >= 16 ? got : undefined;
  }, 30_000, 1000);
  assert.deepEqual(sock.map((f) => f.extensions?.tcp_event).sort(), [...Array(4).fill('accept'), ...Array(8).fill('close'), ...Array(4).fill('connect')]);
  for (const f of sock) {
    const what = `${f.extensions?.tcp_event} ${f.traffic_direction}`;
    assert.deepEqual([f.IP.source, f.IP.destination, f.l4.TCP?.destination_port], [client.ip, web.ip, 9090], what);
    assert.deepEqual(f.extensions?.original_destination, { ip: fakeVip, port: fakePort }, `${what}: what the client dialled`);
  }
});

test('a client port conntrack rewrites (a tuple clash with a closed direct connection): the server\'s side of the connection is still joined to the VIP and its request', { skip, timeout: 120_000 }, async () => {
  // From port P straight to the pod, then from P through the VIP: the DNAT lands on the same
  // backend (the only one), whose entry for P is still in TIME_WAIT, so conntrack moves the
  // client to another port P'. The socket keeps P; the server sees P'.
  const P = 46123;
  const r = inClient<{ direct: string; viaVip: string }>(`
const net = require('node:net');
const get = (host, port, path) => new Promise((res, rej) => {
  const s = net.connect({ host, port, localPort: ${P} }, () => s.write('GET ' + path + ' HTTP/1.1\\r\\nHost: solo\\r\\nConnection: close\\r\\n\\r\\n'));
  let out = ''; s.on('data', (d) => { out += d; }); s.on('close', () => res(out.split('\\r\\n')[0])); s.on('error', rej);
});
(async () => {
  const direct = await get('${solo.ip}', 8080, '/direct');
  const viaVip = await get('${soloVip}', 80, '/rewritten');
  console.log(JSON.stringify({ direct, viaVip }));
})();`);
  assert.deepEqual(r, { direct: 'HTTP/1.1 200 OK', viaVip: 'HTTP/1.1 200 OK' });
  const vipEnd = { ip: soloVip, port: 80 };
  const got = await waitFor('the connection\'s socket, tc and HTTP flows at both ends', () => {
    const all = observe();
    const connect = all.find((f) => f.extensions?.tcp_event === 'connect' && f.l4.TCP?.source_port === P && f.extensions.original_destination?.ip === soloVip);
    const accept = all.find((f) => f.extensions?.tcp_event === 'accept' && f.IP.destination === solo.ip && f.extensions.original_destination?.ip === soloVip && f.l4.TCP?.source_port !== P);
    const seen = accept?.l4.TCP?.source_port;
    const resp = all.find((f) => f.l7?.type === 'RESPONSE' && f.l4.TCP?.destination_port === seen && f.IP.source === solo.ip);
    const served = all.find((f) => f.extensions?.flow_event && f.trace_observation_point === 'TO_ENDPOINT' && f.l4.TCP?.source_port === seen);
    return connect && accept && resp && served ? { connect, accept, resp, served, seen } : undefined;
  }, 30_000, 1000);
  assert.notEqual(got.seen, P, 'conntrack moved the client to another port');
  assert.deepEqual([got.connect.IP.destination, got.connect.l4.TCP?.destination_port], [solo.ip, 8080]);
  assert.deepEqual((got.resp.l7?.http as { url?: string }).url, `http://solo/rewritten`, 'the response at the server\'s port paired with the request that left the client from P');
  assert.ok(Number(got.resp.l7?.latency_ns) > 0);
  assert.deepEqual(got.served.extensions?.original_destination, vipEnd, 'the server\'s tc view (port P\') joined to the VIP');
});

test('a connection from the host to a pod: one flow at the pod\'s port with exact bytes, also right after the agent restarts (the pod silent since: its address seeded from the neighbour table)', { skip, timeout: 120_000 }, async () => {
  // The pods hang off the sandbox bridge: what the host sends them passes the bridge's egress,
  // keyed there to the pod's port. Split flows (one at the bridge, one at the port) fail this.
  const web = webs[1]!;
  const hostFlows = (all: Flow[], ports: Set<number>) => all.filter((f) => f.IP.destination === web.ip && ports.has(f.l4.TCP?.source_port ?? -1) && f.extensions?.flow_event);
  for (const round of ['first', 'after an agent restart']) {
    if (round !== 'first') {
      for (const verb of ['stop', 'start']) { // a new loader: nothing learned yet
        const r = flowlens(['sandbox', 'agent', verb], { timeoutMs: 60_000 });
        assert.equal(r.status, 0, r.stderr);
      }
      await new Promise((r) => setTimeout(r, 2500)); // the agent's first interface scan
    }
    const conns = JSON.parse(execFileSync(process.execPath, ['-e', CONNECT(web.ip!, 9090, 3, 500)], { encoding: 'utf8', timeout: 60_000 }).trim()) as { port: number; got: number }[];
    assert.deepEqual(conns.map((c) => c.got), [500, 500, 500], `${round}: echoed`);
    const ports = new Set(conns.map((c) => c.port));
    const ends = await waitFor(`${round}: 3 end flows of the host's connections`, () => {
      const f = hostFlows(observe(), ports).filter((x) => x.extensions?.flow_event === 'end');
      return f.length >= 3 ? f : undefined;
    }, 30_000, 1000);
    assert.equal(ends.length, 3, `${round}: one end flow per connection`);
    const port = ends[0]?.extensions?.ifindex;
    const records = hostFlows(observe(), ports).map((f) => [f.l4.TCP?.source_port, f.extensions?.flow_event, f.extensions?.ifindex]);
    assert.ok(records.every(([, , i]) => i === port), `${round}: every record at the pod's port ${port}, none at the bridge: ${JSON.stringify(records)}`);
    for (const f of ends) {
      assert.equal(f.trace_observation_point, 'TO_ENDPOINT', round);
      assert.equal(f.destination.pod_name, web.name, round);
      assert.deepEqual([f.extensions?.payload_bytes_sent, f.extensions?.payload_bytes_received], [500, 500], `${round}: both directions counted`);
      assert.match(String(f.extensions?.tcp_flags_sent), /SYN/, `${round}: the host's SYN is in the same flow`);
    }
  }
});

test('a DNS lookup gives the query, rcode and answer; later flows carry the name', { skip, timeout: 120_000 }, async () => {
  const name = `web.${NS}.svc.cluster.local`;
  const r = inClient<{ ok: string[]; nx: string }>(`
const dns = require('node:dns');
const res = new dns.promises.Resolver(); res.setServers(['${state.node.dnsIp}']);
(async () => {
  const ok = await res.resolve4('${name}');
  const nx = await res.resolve4('nope.${NS}.svc.cluster.local').then(() => 'found', (e) => e.code);
  console.log(JSON.stringify({ ok, nx }));
})();`);
  assert.deepEqual(r, { ok: [vip], nx: 'ENOTFOUND' });
  inClient(CONNECT(vip, 80, 1, 0).replace('s.write(Buffer.alloc(0, 120))', 's.end()'));
  const dnsFlows = await waitFor('DNS request and responses', () => {
    const all = observe().filter((f) => f.l7?.dns && f.trace_observation_point === 'FROM_ENDPOINT' || (f.l7?.dns && f.trace_observation_point === 'TO_ENDPOINT' && f.IP.destination === client.ip));
    const resp = all.filter((f) => f.l7?.type === 'RESPONSE' && (f.l7.dns as { query: string }).query === `${name}.`);
    const nx = all.filter((f) => f.l7?.type === 'RESPONSE' && (f.l7.dns as { query: string }).query.startsWith('nope.'));
    return resp.length > 0 && nx.length > 0 ? { all, resp, nx } : undefined;
  }, 30_000, 1000);
  const q = dnsFlows.all.find((f) => f.l7?.type === 'REQUEST' && (f.l7.dns as { query: string }).query === `${name}.`);
  assert.ok(q, 'the query');
  assert.deepEqual((q.l7!.dns as { qtypes: string[] }).qtypes, ['A']);
  assert.equal(q.IP.source, client.ip);
  const a = dnsFlows.resp[0]!;
  assert.deepEqual({ ...(a.l7!.dns as Record<string, unknown>), ttl: 0 }, { query: `${name}.`, ips: [vip], ttl: 0, cnames: [], rcode: 0, rrtypes: ['A'], qtypes: ['A'], observation_source: 'tc' });
  assert.equal(a.is_reply, true);
  assert.ok(Number(a.l7!.latency_ns) > 0, 'latency matched by id and tuple');
  assert.equal((dnsFlows.nx[0]!.l7!.dns as { rcode: number }).rcode, 3, 'NXDOMAIN');
  const named = await waitFor('a later flow to the VIP with destination_names', () => observe().find((f) => f.extensions?.original_destination?.ip === vip && f.destination_names?.includes(name)), 20_000, 1000);
  assert.equal(named.IP.source, client.ip);
});

test('a DNS lookup over TCP 53 gives the query, rcode and answer, matched for latency', { skip, timeout: 120_000 }, async () => {
  const name = `web.${NS}.svc.cluster.local`;
  // RFC 1035 4.2.2 by hand: a 2-byte length, then the message (id 0x7c01, one A question).
  const r = inClient<{ port: number; rcode: number; answers: number }>(`
const net = require('node:net');
const labels = '${name}'.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
const q = Buffer.concat([Buffer.from([0x7c, 0x01, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
const s = net.connect(53, '${state.node.dnsIp}', () => s.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q])));
let buf = Buffer.alloc(0);
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
    console.log(JSON.stringify({ port: s.localPort, rcode: buf[5] & 15, answers: buf.readUInt16BE(8) }));
    s.end();
  }
});`);
  assert.deepEqual([r.rcode, r.answers], [0, 1], 'the sandbox DNS answers over TCP');
  const got = await waitFor('the TCP DNS query and answer at the client', () => {
    const all = observe().filter((f) => f.l7?.dns && f.l4.TCP && (f.l4.TCP.source_port === r.port || f.l4.TCP.destination_port === r.port));
    const q = all.find((f) => f.l7?.type === 'REQUEST' && f.IP.source === client.ip);
    const a = all.find((f) => f.l7?.type === 'RESPONSE' && f.IP.destination === client.ip);
    return q && a ? { q, a } : undefined;
  }, 30_000, 1000);
  assert.equal((got.q.l7!.dns as { query: string }).query, `${name}.`);
  assert.equal(got.q.extensions?.dns_id, 0x7c01);
  assert.deepEqual({ ...(got.a.l7!.dns as Record<string, unknown>), ttl: 0 }, { query: `${name}.`, ips: [vip], ttl: 0, cnames: [], rcode: 0, rrtypes: ['A'], qtypes: ['A'], observation_source: 'tc' });
  assert.ok(Number(got.a.l7!.latency_ns) > 0, 'latency matched by id and tuple');
});

test('an HTTP GET gives method, path, status and latency', { skip, timeout: 120_000 }, () => {
  const out = execFileSync('ip', ['netns', 'exec', client.netns!, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{local_port}', `http://${vip}/items?id=42`], { encoding: 'utf8' });
  const [code, port] = out.trim().split(' ').map(Number);
  assert.equal(code, 200);
  return waitFor('the HTTP request and response at the client', () => {
    const all = observe().filter((f) => f.l7?.http && f.trace_observation_point === 'FROM_ENDPOINT' || (f.l7?.http && f.IP.destination === client.ip && f.trace_observation_point === 'TO_ENDPOINT'));
    const req = all.find((f) => f.l7?.type === 'REQUEST' && f.l4.TCP?.source_port === port);
    const resp = all.find((f) => f.l7?.type === 'RESPONSE' && f.l4.TCP?.destination_port === port);
    return req && resp ? { req, resp } : undefined;
  }, 30_000, 1000).then(({ req, resp }) => {
    assert.deepEqual(req.l7!.http, { method: 'GET', url: `http://${vip}/items?id=42`, protocol: 'HTTP/1.1', headers: [] });
    assert.equal(req.extensions?.original_destination?.ip, vip, 'the client sent the request to the VIP (kept as original_destination)');
    assert.ok(webs.some((w) => w.ip === req.IP.destination), `named after the backend the connection reached: ${req.IP.destination}`);
    assert.deepEqual(resp.l7!.http, { code: 200, protocol: 'HTTP/1.1', method: 'GET', url: `http://${vip}/items?id=42`, headers: [] });
    assert.equal(resp.is_reply, true);
    assert.ok(Number(resp.l7!.latency_ns) > 0);
    // The request also crossed the bridge's egress on its way to the backend (after the DNAT): one message, not two.
    const heads = observe().filter((f) => f.l7?.http && (f.l4.TCP?.source_port === port || f.l4.TCP?.destination_port === port));
    assert.deepEqual(heads.map((f) => f.l7?.type).sort(), ['REQUEST', 'RESPONSE'], JSON.stringify(heads.map((f) => [f.l7?.type, f.IP, f.trace_observation_point])));
  });
});

const httpOf = (f: Flow) => f.l7?.http as { url?: string; code?: number } | undefined;

/** ns since the epoch of a flow's RFC 3339 time with up to 9 fraction digits. */
function nsOf(iso: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(iso);
  assert.ok(m, `time ${iso}`);
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

test('keep-alive HTTP: heads keep coming after the first --http-per-flow (a new window every 10 s), each response paired with its own request', { skip, timeout: 120_000 }, async () => {
  const web = webs[0]!;
  const { port, codes } = inClient<{ port: number; codes: number[] }>(`
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = (i) => new Promise((res, rej) => http.get({ host: '${web.ip}', port: 8080, path: '/w/' + i, agent }, (r) => {
  const p = r.socket.localPort; r.resume(); r.on('end', () => res([r.statusCode, p]));
}).on('error', rej));
(async () => {
  const codes = []; const ports = new Set();
  for (let i = 1; i <= 12; i++) { const [c, p] = await get(i); codes.push(c); ports.add(p); }
  await new Promise((r) => setTimeout(r, 10_500)); // past the capture window (10 s)
  for (let i = 13; i <= 14; i++) { const [c, p] = await get(i); codes.push(c); ports.add(p); }
  agent.destroy();
  if (ports.size !== 1) throw new Error('not one connection: ' + [...ports]);
  console.log(JSON.stringify({ port: [...ports][0], codes }));
})();`);
  assert.deepEqual(codes, Array<number>(14).fill(200));
  const url = (i: number) => `http://${web.ip}:8080/w/${i}`;
  const { reqs, resps } = await waitFor('the requests after the window and their responses', () => {
    const all = observe().filter((f) => f.l7?.http && (f.trace_observation_point === 'FROM_ENDPOINT' || (f.IP.destination === client.ip && f.trace_observation_point === 'TO_ENDPOINT')));
    const reqs = all.filter((f) => f.l7?.type === 'REQUEST' && f.l4.TCP?.source_port === port);
    const resps = all.filter((f) => f.l7?.type === 'RESPONSE' && f.l4.TCP?.destination_port === port);
    const late = [13, 14].every((i) => resps.some((f) => httpOf(f)?.url === url(i)));
    return late ? { reqs, resps } : undefined;
  }, 30_000, 1000);
  const seen = new Map(reqs.map((f) => [httpOf(f)!.url, nsOf(f.time!)]));
  for (const i of [1, 2, 3, 4, 5, 6, 7, 8, 13, 14]) assert.ok(seen.has(url(i)), `request ${i} captured (the first 8, then the next window): ${[...seen.keys()].join(' ')}`);
  assert.equal(seen.size, reqs.length, 'each request once');
  assert.ok(resps.length >= 10, `responses: ${resps.length}`);
  for (const r of resps) {
    assert.equal(httpOf(r)!.code, 200);
    const u = httpOf(r)!.url;
    if (u === undefined) continue; // its request was not captured: no guess
    const sent = seen.get(u);
    assert.ok(sent !== undefined, `a response paired with ${u}, which was not captured`);
    assert.equal(nsOf(r.time!) - BigInt(String(r.l7!.latency_ns)), sent, `the response to ${u} is timed from that request`);
  }
});

test('a connection to a denied port gives a drop with the kernel reason and the 5-tuple', { skip, timeout: 120_000 }, async () => {
  const web = webs[1]!;
  // What an iptables policy controller installs: drop on the backend's bridge port.
  execFileSync('iptables', ['-N', CHAIN]);
  execFileSync('iptables', ['-I', 'FORWARD', '-j', CHAIN]);
  execFileSync('iptables', ['-A', CHAIN, '-m', 'physdev', '--physdev-out', web.veth!, '--physdev-is-bridged', '-p', 'tcp', '--dport', '9191', '-j', 'DROP']);
  const lport = 40000 + (process.pid % 20000);
  const r = inClient<{ err: string }>(`
const net = require('node:net');
const s = net.connect({ host: '${web.ip}', port: 9191, localPort: ${lport}, timeout: 1500 });
s.on('timeout', () => { console.log(JSON.stringify({ err: 'timeout' })); s.destroy(); });
s.on('connect', () => { console.log(JSON.stringify({ err: 'connected' })); s.destroy(); });
s.on('error', (e) => console.log(JSON.stringify({ err: e.code })));`);
  assert.equal(r.err, 'timeout', 'the SYN is dropped');
  const drop = await waitFor('the drop flow', () => observe().find((f) => f.verdict === 'DROPPED' && f.l4.TCP?.source_port === lport && f.IP.source === client.ip), 20_000, 1000);
  assert.equal(drop.drop_reason_desc, 'NETFILTER_DROP');
  assert.equal(drop.extensions?.drop_reason?.name, 'NETFILTER_DROP');
  assert.equal(drop.IP.destination, web.ip);
  assert.equal(drop.l4.TCP?.destination_port, 9191);
  assert.equal(drop.destination.pod_name, web.name);
});

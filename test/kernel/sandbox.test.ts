// Brings the sandbox up with the demo scenario through the CLI code path (sandboxUp spawns the
// daemon as a separate process), sends real traffic through ClusterIPs and the cluster DNS, then
// checks that `down` and crash recovery leave nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownedProcesses, runningDaemons } from '../../src/sandbox/cleanup';
import { run } from '../../src/sandbox/net/exec';
import { BRIDGE_PREFIX, NETNS_PREFIX, VETH_PREFIX } from '../../src/sandbox/net/names';
import { probe, sandboxDown, sandboxUp } from '../../src/sandbox/ops';
import type { ProbeResult } from '../../src/sandbox/ops';
import { repoRoot } from '../../src/sandbox/paths';
import { isAlive, readState, statePaths } from '../../src/sandbox/state';
import type { SandboxState } from '../../src/sandbox/state';

const STATE_DIR = '/run/flowlens/sandbox-kernel-test';
const root = repoRoot();
const agents = process.env.FLOWLENS_TEST_NO_AGENT !== '1' && existsSync(join(root, 'dist/cli.js')) && existsSync(join(root, 'bpf/.output/flowlens-loader'));
const skip = process.getuid?.() !== 0 ? 'needs root: network namespaces, veths, iptables'
  : runningDaemons().length > 0 ? `a sandbox is running on this host (${JSON.stringify(runningDaemons())}); flowlens sandbox down first` : false;

async function up(): Promise<SandboxState> {
  const r = await sandboxUp({ stateDir: STATE_DIR, apiPort: 6559, files: [], agents, timeoutMs: 60_000, progress: () => undefined });
  assert.ok(r.ok, r.message);
  assert.ok(r.state);
  return r.state;
}

/** Everything of ours that is still on the host; all lists empty when clean. */
async function leftovers(): Promise<Record<string, string[]>> {
  const netns = (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(NETNS_PREFIX));
  const links = (await run('ip', ['-o', 'link'])).stdout.split('\n').map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '')
    .filter((n) => n.startsWith(VETH_PREFIX) || n.startsWith(BRIDGE_PREFIX));
  const rules = [...(await run('iptables-save', ['-t', 'nat'])).stdout.split('\n'), ...(await run('iptables-save', ['-t', 'filter'])).stdout.split('\n')]
    .filter((l) => /KUBE-|FLOWLENS-/.test(l));
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith(NETNS_PREFIX)) : [];
  const procs = ownedProcesses(STATE_DIR).map(String);
  const named = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((p) => {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      return /flowlens-podd serve|flowlens-loader|sandbox\/daemon-main\.ts daemon|cli\.js sandbox daemon|cli\.js agent --node flowlens-sandbox/.test(cmd) ? [`${p}: ${cmd.trim()}`] : [];
    } catch {
      return [];
    }
  });
  const bpf = (await run('bpftool', ['prog', 'show'])).stdout.split('\n').filter((l) => / name (tcp_state|flowlens\w*) /.test(l));
  return { netns, links, rules, etc, procs, named, bpf };
}

const clean = { netns: [], links: [], rules: [], etc: [], procs: [], named: [], bpf: [] };

function pods(state: SandboxState, prefix: string): SandboxState['pods'] {
  return state.pods.filter((p) => `${p.namespace}/${p.name}`.startsWith(prefix));
}

async function mustConnect(state: SandboxState, from: string, to: string, port: number, protocol: 'TCP' | 'UDP' = 'TCP'): Promise<ProbeResult> {
  const r = await probe(state, { from, to, port, protocol, timeoutMs: 2000 });
  assert.equal(r.connected, true, `${from} -> ${to}:${port}/${protocol}: ${JSON.stringify(r)}`);
  assert.ok(Number(r.reply_bytes) > 0, `no reply from a backend: ${JSON.stringify(r)}`);
  return r;
}

test('sandbox: demo scenario up, traffic through ClusterIPs and DNS, down leaves nothing', { skip, timeout: 180_000 }, async (t) => {
  t.after(() => sandboxDown(STATE_DIR));
  const state = await up();
  t.diagnostic(`agents ${agents ? 'enabled' : 'disabled (dist/cli.js or the loader is not built)'}`);
  const frontend = pods(state, 'shop/frontend-')[0];
  assert.ok(frontend, 'a frontend pod');
  const from = `${frontend.namespace}/${frontend.name}`;

  await t.test('every pod has its netns, veth and address', async () => {
    const list = (await run('ip', ['netns', 'list'])).stdout;
    for (const p of state.pods.filter((x) => !x.hostNetwork)) {
      assert.ok(p.ready && p.netns && p.ip, `${p.name} ready with netns and ip`);
      assert.ok(list.includes(p.netns), `netns ${p.netns}`);
      assert.ok((await run('ip', ['-n', p.netns, '-4', '-o', 'addr', 'show', 'eth0'])).stdout.includes(`${p.ip}/24`));
    }
    assert.equal(state.pods.length, agents ? 11 : 10);
  });

  await t.test('pod to pod by IP (the demo policy lets cart, not frontend, reach redis)', async () => {
    const redis = pods(state, 'data/redis-')[0];
    const cart = pods(state, 'shop/cart-')[0];
    assert.ok(redis?.ip && cart);
    const r = await mustConnect(state, `${cart.namespace}/${cart.name}`, redis.ip, 6379);
    assert.equal(r.ip, redis.ip);
    assert.match(String(r.reply), /flowlens-probe/, 'the TCP echo server echoes the probe');
    const denied = await probe(state, { from, to: redis.ip, port: 6379, protocol: 'TCP', timeoutMs: 1000 });
    assert.equal(denied.connected, false, 'frontend → redis is denied by data/redis-allow-cart');
  });

  await t.test('ClusterIP by IP reaches a backend that answers', async () => {
    const cart = state.services.find((s) => s.namespace === 'shop' && s.name === 'cart');
    assert.ok(cart?.clusterIP);
    const r = await mustConnect(state, from, cart.clusterIP, 8080);
    assert.match(String(r.reply), /200 OK[\s\S]*pod=cart-/);
  });

  await t.test('ClusterIP by DNS: short name, name.ns, FQDN, other namespace', async () => {
    const ip = state.services.find((s) => s.name === 'cart')?.clusterIP;
    for (const name of ['cart', 'cart.shop', 'cart.shop.svc.cluster.local']) {
      const r = await mustConnect(state, from, name, 8080);
      assert.equal(r.ip, ip, name);
    }
    await mustConnect(state, from, 'payments.payments', 8080);
    const getent = await run('ip', ['netns', 'exec', frontend.netns ?? '', 'getent', 'ahostsv4', 'catalog']);
    assert.ok(getent.stdout.startsWith(state.services.find((s) => s.name === 'catalog')?.clusterIP ?? 'x'), getent.stdout);
    const missing = await probe(state, { from, to: 'nosuchsvc', port: 80, protocol: 'TCP', timeoutMs: 1000 });
    assert.equal(missing.connected, false);
    assert.match(String(missing.error), /resolve/);
  });

  await t.test('UDP echo through a ClusterIP', async () => {
    const r = await mustConnect(state, from, 'statsd.data', 8125, 'UDP');
    assert.equal(r.protocol, 'udp');
    assert.equal(r.ip, state.services.find((s) => s.name === 'statsd')?.clusterIP);
  });

  await t.test('both endpoints of a 2-replica service get traffic', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 24 && seen.size < 2; i++) seen.add(/pod=(\S+)/.exec(String((await mustConnect(state, from, 'catalog', 8080)).reply))?.[1] ?? '');
    assert.equal(seen.size, 2, [...seen].join(','));
  });

  await t.test('down removes everything', async () => {
    const daemon = state.daemonPid;
    const report = await sandboxDown(STATE_DIR);
    assert.equal(report.daemon, daemon);
    assert.equal(isAlive(daemon), false);
    assert.deepEqual(await leftovers(), clean);
    assert.equal(readState(statePaths(STATE_DIR)), undefined);
    const again = await sandboxDown(STATE_DIR);
    assert.equal(again.daemon, undefined, 'down is idempotent');
  });
});

test('sandbox: up after the daemon was killed -9 cleans the leftovers and works', { skip, timeout: 180_000 }, async (t) => {
  t.after(() => sandboxDown(STATE_DIR));
  const first = await up();
  process.kill(first.daemonPid, 'SIGKILL');
  while (isAlive(first.daemonPid)) await new Promise((r) => setTimeout(r, 20));
  assert.notDeepEqual(await leftovers(), clean, 'a crash leaves things behind');
  const r = await sandboxUp({ stateDir: STATE_DIR, apiPort: 6559, files: [], agents, timeoutMs: 60_000, progress: () => undefined });
  assert.ok(r.ok, r.message);
  assert.ok(r.cleaned.netns.length >= 9 && r.cleaned.processes.length >= 9, JSON.stringify(r.cleaned));
  const state = r.state as SandboxState;
  const from = pods(state, 'shop/frontend-')[0];
  await mustConnect(state, `${from?.namespace}/${from?.name}`, 'cart', 8080);
  await sandboxDown(STATE_DIR);
  assert.deepEqual(await leftovers(), clean);
});

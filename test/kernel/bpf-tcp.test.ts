// Real kernel: the tcp_state tracepoint program, through the loader binary and LoaderProcess,
// against TCP connections made inside fresh network namespaces. Needs root.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { LoaderProcess, defaultLoaderPath, findRepoRoot } from '../../src/agent/loader';
import type { DecodedRecord, LostRecord, TcpStateRecord } from '../../src/agent/records';

const ROOT_SKIP = process.getuid?.() === 0 ? false : 'needs root: loads BPF programs and creates network namespaces';
const N = 5;
const namespaces: string[] = [];
const loaders: LoaderProcess[] = [];

// Runs in the namespace: a server on 127.0.0.1 and N sequential clients; each client sends, then
// closes first (server closes on end). Prints ports, pid and comm as JSON when all is closed.
const TRAFFIC = `
const net = require('node:net');
const fs = require('node:fs');
const n = Number(process.env.FLTEST_N);
const server = net.createServer((s) => { s.resume(); s.on('end', () => s.end()); });
const one = (port) => new Promise((res, rej) => {
  const c = net.connect(port, '127.0.0.1', () => { const p = c.localPort; c.on('close', () => res(p)); c.end('hi'); });
  c.on('error', rej);
  c.resume();
});
server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  const clients = [];
  for (let i = 0; i < n; i++) clients.push(await one(port));
  server.close(() => console.log(JSON.stringify({ port, clients, pid: process.pid,
    comm: fs.readFileSync('/proc/self/comm', 'utf8').trim() })));
});`;

interface Traffic { port: number; clients: number[]; pid: number; comm: string }

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeNetns(): { name: string; ino: number } {
  const name = `fltest-${randomBytes(4).toString('hex')}`;
  ip('netns', 'add', name);
  namespaces.push(name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  return { name, ino: statSync(`/run/netns/${name}`).ino };
}

function runTraffic(ns: string, n: number): Promise<Traffic> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', TRAFFIC], {
      env: { ...process.env, FLTEST_N: String(n) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as Traffic);
      else reject(new Error(`traffic in ${ns} failed (code ${code}): ${err}`));
    });
  });
}

async function startLoader(opts: ConstructorParameters<typeof LoaderProcess>[1] = {}): Promise<{ loader: LoaderProcess; records: DecodedRecord[] }> {
  const loader = new LoaderProcess(undefined, opts);
  loaders.push(loader);
  const records: DecodedRecord[] = [];
  loader.on('records', (r) => records.push(...r));
  loader.start();
  await loader.ready();
  return { loader, records };
}

async function waitFor(what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tcpIn = (records: DecodedRecord[], netns: number): TcpStateRecord[] =>
  records.filter((r): r is TcpStateRecord => r.type === 'tcp_state' && r.netns === netns);

const transitions = (rs: TcpStateRecord[]): string[] => rs.map((r) => `${r.oldState}->${r.newState}`);

// Only the changes the agent makes flows of (-> SYN_SENT, -> ESTABLISHED, -> CLOSE): FIN_WAIT1,
// FIN_WAIT2, CLOSE_WAIT, LAST_ACK, SYN_RECV and LISTEN are entered but not sent.
const CLIENT = ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'FIN_WAIT2->CLOSE'];
const SERVER = ['SYN_RECV->ESTABLISHED', 'LAST_ACK->CLOSE'];
const LISTENER = ['LISTEN->CLOSE'];
const expectedCount = (n: number): number => n * (CLIENT.length + SERVER.length) + LISTENER.length;

before(() => {
  if (ROOT_SKIP) return;
  execFileSync('make', ['-s', '-C', join(findRepoRoot(), 'bpf')], { stdio: ['ignore', 'inherit', 'inherit'] });
});

after(async () => {
  await Promise.all(loaders.map((l) => l.stop()));
  for (const ns of namespaces) {
    try {
      ip('netns', 'del', ns);
    } catch (err) {
      console.error(`cleanup: ip netns del ${ns}: ${String(err)}`);
    }
  }
});

// CLOSE->SYN_SENT comes before connect() picks the source port (sport 0 then): it is the last
// CLOSE->SYN_SENT of the same socket before the port-matched records.
function clientRecords(mine: TcpStateRecord[], port: number, serverPort: number): TcpStateRecord[] {
  const rest = mine.filter((r) => r.sport === port && r.dport === serverPort);
  const first = mine.indexOf(rest[0]!);
  const syn = mine.slice(0, first).reverse().find((r) => r.skaddr === rest[0]!.skaddr && r.newState === 'SYN_SENT');
  assert.ok(syn, `client :${port}: no CLOSE->SYN_SENT for its socket`);
  assert.equal(syn.sport, 0, 'source port not yet chosen at SYN_SENT');
  assert.equal(syn.dport, serverPort);
  return [syn, ...rest];
}

function checkConnection(rs: TcpStateRecord[], want: string[], what: string, t: Traffic): void {
  assert.deepEqual(transitions(rs), want, what);
  assert.equal(new Set(rs.map((r) => r.skaddr)).size, 1, `${what}: one socket`);
  for (const r of rs) {
    assert.equal(r.family, 4);
    assert.equal(r.netns, rs[0]!.netns);
    assert.equal(r.saddr, '127.0.0.1');
    assert.equal(r.daddr, '127.0.0.1');
  }
  for (let i = 1; i < rs.length; i++) assert.ok(rs[i - 1]!.monoNs <= rs[i]!.monoNs, `${what}: time order`);
  if (want === CLIENT) assert.equal(rs[0]!.pid, t.pid, `${what}: connect() runs in the client's task`);
  if (want === CLIENT) assert.equal(rs[0]!.comm, t.comm, `${what}: comm`);
}

test('TCP state changes in a fresh netns: exactly the connect, accept and close transitions, ports, netns, pid, time', { skip: ROOT_SKIP, timeout: 60000 }, async () => {
  const { loader, records } = await startLoader();
  assert.equal(records[0]?.type, 'hello');
  const hello = records[0];
  assert.ok(hello.type === 'hello' && hello.attachedPrograms.includes('tcp_state'), 'tcp_state attached');
  assert.equal(hello.type === 'hello' && hello.attachedCount, hello.type === 'hello' && hello.attachedPrograms.length);
  const ns = makeNetns();
  const wallBefore = BigInt(Date.now()) * 1000000n;
  const t = await runTraffic(ns.name, N);
  const wallAfter = BigInt(Date.now()) * 1000000n;
  await waitFor('all records of the namespace', () => tcpIn(records, ns.ino).length >= expectedCount(N));
  await new Promise((r) => setTimeout(r, 300)); // anything extra would show up now
  const mine = tcpIn(records, ns.ino);
  assert.equal(mine.length, expectedCount(N), transitions(mine).join(' '));
  for (const port of t.clients) {
    checkConnection(clientRecords(mine, port, t.port), CLIENT, `client :${port}`, t);
    checkConnection(mine.filter((r) => r.sport === t.port && r.dport === port), SERVER, `server side of :${port}`, t);
  }
  const listener = mine.filter((r) => r.sport === t.port && r.dport === 0);
  assert.deepEqual(transitions(listener), LISTENER);
  assert.equal(listener[0]!.pid, t.pid);
  assert.equal(listener[0]!.comm, t.comm);
  for (const r of mine) assert.ok(r.timeNs >= wallBefore - 5000000n && r.timeNs <= wallAfter + 5000000n, `wall time ${r.timeNs}`);
  const lost = records.filter((r): r is LostRecord => r.type === 'lost' && r.source === 'ringbuf_reserve.tcp_state');
  assert.deepEqual(lost, [{ type: 'lost', source: 'ringbuf_reserve.tcp_state', total: 0n }], 'baseline LOST 0, nothing lost');
  assert.equal(records[1]?.type, 'lost', 'LOST baselines follow HELLO');
  const exit = new Promise<unknown[]>((res) => loader.once('exit', (...args) => res(args)));
  await loader.stop();
  assert.equal(loader.running, false);
  const [code, signal, stderr] = await exit;
  assert.deepEqual([code, signal], [0, null], `clean exit on SIGTERM; stderr: ${String(stderr)}`);
});

test('--netns keeps only that namespace', { skip: ROOT_SKIP, timeout: 60000 }, async () => {
  const a = makeNetns();
  const b = makeNetns();
  const { records } = await startLoader({ netns: a.ino });
  await Promise.all([runTraffic(a.name, 2), runTraffic(b.name, 3)]);
  await waitFor('records of namespace A', () => tcpIn(records, a.ino).length >= expectedCount(2));
  await new Promise((r) => setTimeout(r, 300));
  const tcp = records.filter((r) => r.type === 'tcp_state');
  assert.equal(tcp.length, expectedCount(2));
  assert.equal(tcpIn(records, a.ino).length, expectedCount(2));
});

test('a full ring buffer is counted: received + lost = generated', { skip: ROOT_SKIP, timeout: 60000 }, async () => {
  const ns = makeNetns();
  const { records } = await startLoader({ netns: ns.ino, ringbufBytes: 4096, args: ['--poll-delay-ms', '1500'] });
  const n = 30;
  await runTraffic(ns.name, n);
  const lostTotal = (): bigint => records.reduce((m, r) => (r.type === 'lost' && r.source === 'ringbuf_reserve.tcp_state' && r.total > m ? r.total : m), 0n);
  const seen = (): number => tcpIn(records, ns.ino).length + Number(lostTotal());
  await waitFor('received + lost to reach the generated count', () => seen() >= expectedCount(n), 15000);
  assert.ok(lostTotal() > 0n, 'a 4 KiB ring buffer read every 1.5 s must overflow');
  assert.equal(seen(), expectedCount(n));
});

test('loader exits cleanly (code 0) when its stdout reader goes away', { skip: ROOT_SKIP, timeout: 30000 }, async () => {
  const child = spawn(defaultLoaderPath(), [], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  try {
    await new Promise((res) => child.stdout.once('data', res)); // HELLO arrived
    child.stdout.destroy();
    const timeout = new Promise<string>((res) => setTimeout(() => res('still running'), 3000));
    assert.equal(await Promise.race([exited, timeout]), 0, stderr);
  } finally {
    child.kill('SIGKILL');
  }
});

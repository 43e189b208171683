// One count per packet: tc egress skips what our ingress hooks counted, and the loader pairs the
// two veths' flows of a connection between two pods of one node so that each still reports both
// directions. Two real pods (network namespaces on a bridge) with TCP, UDP and ICMP echo between
// them; two loaders on the same veths at once, one pairing (the default) and one counting every
// packet at both hooks (--no-egress-skip), must report exactly the same flows. Needs root.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LoaderProcess, findRepoRoot } from '../../src/agent/loader';
import type { DecodedRecord, FlowRecord } from '../../src/agent/records';

const skip = process.getuid?.() === 0 ? false : 'needs root: creates network namespaces, a bridge and veths, loads BPF programs';
const tag = randomBytes(3).toString('hex');
const BR = `flpbr${tag}`;
const PODS = [{ ns: `flpa-${tag}`, host: `flpa${tag}`, ip: '10.199.88.2' }, { ns: `flpb-${tag}`, host: `flpb${tag}`, ip: '10.199.88.3' }] as const;
const [A, B] = PODS;
const loaders: LoaderProcess[] = [];
let server: ChildProcess | undefined;

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const ifindex = (dev: string): number => Number(sh('cat', `/sys/class/net/${dev}/ifindex`).trim());

// B serves TCP 9000 (echo) and UDP 7000 (echo); A is the client.
const SERVER = `
const net = require('node:net'), dgram = require('node:dgram');
net.createServer((s) => s.pipe(s)).listen(9000, '${B.ip}');
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(m, r.port, r.address)); u.bind(7000, '${B.ip}', () => console.log('ready'));`;

const CLIENT = (conns: number, bytes: number, datagrams: number) => `
const net = require('node:net'), dgram = require('node:dgram');
const one = () => new Promise((res, rej) => {
  let port = 0;
  const s = net.connect(9000, '${B.ip}', () => { port = s.localPort; s.write(Buffer.alloc(${bytes}, 97)); });
  let got = 0; s.on('data', (d) => { got += d.length; if (got >= ${bytes}) s.end(); });
  s.on('close', () => res(port)); s.on('error', rej);
});
(async () => {
  const ports = []; for (let i = 0; i < ${conns}; i++) ports.push(await one());
  const u = dgram.createSocket('udp4'); let back = 0;
  await new Promise((r) => u.bind(40000, '${A.ip}', r));
  await new Promise((res) => { u.on('message', () => { if (++back === ${datagrams}) res(); }); for (let i = 0; i < ${datagrams}; i++) u.send(Buffer.alloc(100, 98), 7000, '${B.ip}'); });
  u.close(); console.log(JSON.stringify(ports));
})().catch((e) => { console.error(e); process.exit(1); });`;

before(async () => {
  if (skip) return;
  execFileSync('make', ['-s', '-C', join(findRepoRoot(), 'bpf')], { stdio: ['ignore', 'inherit', 'inherit'] });
  sh('ip', 'link', 'add', BR, 'type', 'bridge');
  sh('ip', 'link', 'set', BR, 'up');
  for (const p of PODS) {
    sh('ip', 'netns', 'add', p.ns);
    sh('ip', 'netns', 'exec', p.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    sh('ip', 'link', 'add', p.host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.ns);
    sh('sysctl', '-qw', `net.ipv6.conf.${p.host}.disable_ipv6=1`);
    sh('ip', 'link', 'set', p.host, 'master', BR, 'up');
    sh('ip', '-n', p.ns, 'link', 'set', 'lo', 'up');
    sh('ip', '-n', p.ns, 'link', 'set', 'eth0', 'up');
    sh('ip', '-n', p.ns, 'addr', 'add', `${p.ip}/24`, 'dev', 'eth0');
  }
  server = spawn('ip', ['netns', 'exec', B.ns, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res) => server!.stdout!.once('data', () => res()));
});

after(async () => {
  server?.kill();
  await Promise.all(loaders.map((l) => l.stop()));
  for (const p of PODS) {
    spawnSync('ip', ['link', 'del', p.host]);
    spawnSync('ip', ['netns', 'del', p.ns]);
  }
  spawnSync('ip', ['link', 'del', BR]);
});

async function start(args: string[]): Promise<{ loader: LoaderProcess; records: DecodedRecord[] }> {
  const loader = new LoaderProcess(undefined, { args: ['--no-cgroup', '--no-drops', '--flush-ms', '60000', '--end-grace-ms', '60000', '--flow-entries', '256', ...args] });
  loaders.push(loader);
  const records: DecodedRecord[] = [];
  loader.on('records', (r) => records.push(...r));
  loader.start();
  await loader.ready();
  for (const p of PODS) assert.equal((await loader.command(`attach ${ifindex(p.host)}`)).err, 0, `attached to ${p.host}`);
  return { loader, records };
}

interface MapEntry { ifindex: number; proto: number; pkts: [number, number] }
/** The kernel's per-veth counters of A <-> B (summed over CPUs) in the flow table of one loader
 *  (bpf/flowlens.h struct fl_slot: key 44 bytes, gen, ack, pad, then fl_flow_val with pkts at 48). */
function kernelFlows(pid: number): MapEntry[] {
  // The process's maps: the map_id lines of its fds' fdinfo.
  const ids = new Set(readdirSync(`/proc/${pid}/fdinfo`).map((fd) => /^map_id:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1]).filter(Boolean).map(Number));
  const maps = JSON.parse(sh('bpftool', '-j', 'map', 'show')) as { id: number; name?: string }[];
  const map = maps.find((m) => m.name === 'flows' && ids.has(m.id));
  assert.ok(map, `the flows map of loader ${pid}`);
  const dump = JSON.parse(sh('bpftool', '-j', 'map', 'dump', 'id', String(map.id))) as { value: string[] }[];
  const bytes = (hex: string[]) => Buffer.from(hex.map((h) => parseInt(h, 16)));
  const sums = new Map<string, MapEntry>();
  for (const e of dump) {
    const s = bytes(e.value);
    if (s.readUInt32LE(44) === s.readUInt32LE(48)) continue; // gen == ack: free
    if (s.subarray(0, 4).join('.') !== A.ip || s.subarray(16, 20).join('.') !== B.ip) continue; // canonical: A is the lower end
    const id = `${s.readUInt32LE(32)}/${s[41]}/${s.readUInt16LE(36)}`;
    const o = sums.get(id) ?? { ifindex: s.readUInt32LE(32), proto: s[41]!, pkts: [0, 0] };
    for (const d of [0, 1]) o.pkts[d]! += Number(s.readBigUInt64LE(56 + 48 + 8 * d));
    sums.set(id, o);
  }
  return [...sums.values()];
}

const finals = (rs: DecodedRecord[]): FlowRecord[] =>
  rs.filter((r): r is FlowRecord => r.type === 'flow' && (r.event === 'end' || r.event === 'timeout') && [r.saddr, r.daddr].sort().join() === [A.ip, B.ip].join());
const shape = (f: FlowRecord) => JSON.stringify([f.ifindex, f.proto, f.saddr, f.sport, f.daddr, f.dport, f.origin, f.packets, f.bytes, f.payload, f.tcpFlags]);

test('a connection between two pods of the node: counted once per packet, both veths report both directions, same as counting twice', { skip, timeout: 120_000 }, async () => {
  const paired = await start([]);
  const twice = await start(['--no-egress-skip']);
  const [ia, ib] = [ifindex(A.host), ifindex(B.host)];
  const ports = JSON.parse(sh('ip', 'netns', 'exec', A.ns, process.execPath, '-e', CLIENT(5, 1000, 3)).trim()) as number[];
  sh('ip', 'netns', 'exec', A.ns, 'ping', '-q', '-c', '3', '-i', '0.2', B.ip);
  await new Promise((r) => setTimeout(r, 300));

  // The kernel: with the skip, B's veth counted nothing A sent (its egress returned at once),
  // A's veth nothing B sent; counting twice, both veths counted both directions.
  const raw = (pid: number, ifx: number, proto: number) => kernelFlows(pid).filter((e) => e.ifindex === ifx && e.proto === proto);
  for (const proto of [6, 17, 1]) {
    for (const e of raw(paired.loader.pid!, ib, proto)) assert.equal(e.pkts[0], 0, `skip: B's veth counted none of A's packets (proto ${proto})`);
    for (const e of raw(paired.loader.pid!, ia, proto)) assert.equal(e.pkts[1], 0, `skip: A's veth counted none of B's packets (proto ${proto})`);
    assert.ok(raw(twice.loader.pid!, ib, proto).some((e) => e.pkts[0] > 0 && e.pkts[1] > 0), `--no-egress-skip: B's veth counted both ways (proto ${proto})`);
  }

  for (const l of [paired, twice]) assert.equal((await l.loader.command('flush')).err, 0);
  const [p, t] = [finals(paired.records), finals(twice.records)];
  const tcp = p.filter((f) => f.proto === 6);
  assert.equal(tcp.length, 10, 'one final record per connection and veth');
  for (const port of ports) {
    const at = (ifx: number) => tcp.find((f) => f.sport === port && f.ifindex === ifx);
    assert.deepEqual([at(ia)?.origin, at(ia)?.saddr, at(ia)?.payload], ['from_pod', A.ip, [1000, 1000]], `A's veth, port ${port}`);
    assert.deepEqual([at(ib)?.origin, at(ib)?.saddr, at(ib)?.payload], ['to_pod', A.ip, [1000, 1000]], `B's veth, port ${port}`);
    assert.equal(at(ia)?.event, 'end', 'FIN both ways: END');
  }
  const udp = p.filter((f) => f.proto === 17);
  assert.deepEqual(udp.map((f) => [f.ifindex, f.saddr, f.sport, f.origin, f.packets, f.payload]).sort(), [
    [ia, A.ip, 40000, 'from_pod', [3, 3], [300, 300]],
    [ib, A.ip, 40000, 'to_pod', [3, 3], [300, 300]],
  ].sort(), 'UDP: the veth that first saw the reply still names A the initiator');
  assert.deepEqual(p.filter((f) => f.proto === 1).map((f) => [f.ifindex, f.saddr, f.packets]).sort(), [[ia, A.ip, [3, 3]], [ib, A.ip, [3, 3]]].sort(), 'ICMP echo');
  assert.deepEqual(p.map(shape).sort(), t.map(shape).sort(), 'exactly the records of counting every packet at both hooks');
});

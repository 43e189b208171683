// No silent loss, exactly: a flood beyond the ring buffer and the flow map through a real veth,
// and the loader's counts of what it delivered plus what it reports lost add up to what was
// sent. Own network namespace and veth pair; needs root.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LoaderProcess, findRepoRoot } from '../../src/agent/loader';
import { frame } from '../bpf/packets';
import type { DecodedRecord, FlowRecord, LostRecord } from '../../src/agent/records';

const skip = process.getuid?.() === 0 ? false : 'needs root: creates a netns and a veth, loads BPF programs';
const tag = randomBytes(3).toString('hex');
const NS = `fltloss-${tag}`;
const HOST_IF = `flx${tag}`;
const loaders: LoaderProcess[] = [];
const SRC = '10.199.77.2';
const DST = '10.199.77.3'; // no such host: a static neighbour, so nothing answers (no ICMP)

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(() => {
  if (skip) return;
  execFileSync('make', ['-s', '-C', join(findRepoRoot(), 'bpf')], { stdio: ['ignore', 'inherit', 'inherit'] });
  sh('ip', 'netns', 'add', NS);
  sh('ip', 'netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  sh('ip', 'link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS);
  sh('sysctl', '-qw', `net.ipv6.conf.${HOST_IF}.disable_ipv6=1`); // only our datagrams cross the veth
  sh('ip', 'link', 'set', HOST_IF, 'up');
  sh('ip', '-n', NS, 'link', 'set', 'eth0', 'up');
  sh('ip', '-n', NS, 'addr', 'add', `${SRC}/24`, 'dev', 'eth0');
  sh('ip', '-n', NS, 'neigh', 'add', DST, 'lladdr', '02:00:00:00:00:99', 'dev', 'eth0');
});

after(async () => {
  await Promise.all(loaders.map((l) => l.stop()));
  spawnSync('ip', ['link', 'del', HOST_IF]);
  spawnSync('ip', ['netns', 'del', NS]);
});

function ifindex(): number {
  return Number(sh('cat', `/sys/class/net/${HOST_IF}/ifindex`).trim());
}

/** Sends n UDP datagrams from the netns, each from its own source port (n distinct flows). */
function flood(n: number, dport: number, payload: Buffer): void {
  const script = `
    const dgram = require('node:dgram');
    const n = ${n}; let sent = 0; const socks = [];
    const payload = Buffer.from('${payload.toString('hex')}', 'hex');
    (async () => {
      for (let i = 0; i < n; i += 200) {
        const batch = [];
        for (let j = i; j < Math.min(n, i + 200); j++) {
          const s = dgram.createSocket('udp4');
          // A fixed, distinct source port per datagram: n distinct flows (no ephemeral port reuse).
          batch.push(new Promise((res, rej) => s.bind(20000 + j, () => s.send(payload, ${dport}, '${DST}', (e) => { s.close(); if (e) rej(e); else { sent++; res(); } }))));
        }
        await Promise.all(batch);
      }
      console.log(sent);
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const out = sh('ip', 'netns', 'exec', NS, process.execPath, '-e', script).trim();
  assert.equal(Number(out), n, 'every datagram was sent');
}

async function start(args: string[]): Promise<{ loader: LoaderProcess; records: DecodedRecord[] }> {
  const loader = new LoaderProcess(undefined, { args: ['--no-cgroup', ...args] });
  loaders.push(loader);
  const records: DecodedRecord[] = [];
  loader.on('records', (r) => records.push(...r));
  loader.start();
  await loader.ready();
  assert.equal((await loader.command(`attach ${ifindex()}`)).err, 0, 'tc programs attached to the host-side veth');
  return { loader, records };
}

const lostTotal = (rs: DecodedRecord[], source: string): number =>
  rs.filter((r): r is LostRecord => r.type === 'lost' && r.source === source).reduce((m, r) => Math.max(m, Number(r.total)), 0);

async function settle(records: DecodedRecord[], done: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1500)); // one more LOST report interval
  void records;
}

test('DNS flood beyond a 4 KiB ring buffer: delivered + lost(ringbuf_reserve.dns) = sent, exactly', { skip, timeout: 90_000 }, async () => {
  const { records } = await start(['--ringbuf-bytes', '4096', '--poll-delay-ms', '300']);
  const n = 3000;
  const query = Buffer.from('abcd01000001000000000000037777770000010001', 'hex');
  flood(n, 53, query);
  const dns = () => records.filter((r) => r.type === 'dns' && r.saddr === SRC).length;
  await settle(records, () => dns() + lostTotal(records, 'ringbuf_reserve.dns') >= n);
  const lost = lostTotal(records, 'ringbuf_reserve.dns');
  assert.ok(lost > 0, 'a 4 KiB ring buffer read every 300 ms must overflow');
  assert.ok(dns() > 0, 'some records made it');
  assert.equal(dns() + lost, n, `delivered ${dns()} + lost ${lost}`);
});

/** Each flow's last record (END/TIMEOUT) from SRC to DST, by source port; START comes at creation (the tc notice). */
const lastRecords = (records: DecodedRecord[]): Map<number, FlowRecord> =>
  new Map(records.filter((r): r is FlowRecord => r.type === 'flow' && r.saddr === SRC && r.daddr === DST && (r.event === 'end' || r.event === 'timeout')).map((r) => [r.sport, r]));

test('flow flood beyond a 64-slot flow table: slots are taken over, their counters handed to the loader, every flow delivered once', { skip, timeout: 90_000 }, async () => {
  const { loader, records } = await start(['--flow-entries', '64', '--flush-ms', '60000']);
  const n = 2000;
  flood(n, 9, Buffer.from('x'));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await loader.command('flush')).err, 0);
  await settle(records, () => lastRecords(records).size >= n, 5000);
  const last = lastRecords(records);
  assert.equal(last.size, n, `${n} flows through a table of 64 slots: each one's last record (counters handed over when its slot was taken)`);
  assert.deepEqual(new Set([...last.values()].map((r) => `${r.packets}`)), new Set(['1,0']), 'each datagram counted exactly once');
  assert.equal(records.filter((r) => r.type === 'flow' && r.saddr === SRC && (r.event === 'end' || r.event === 'timeout')).length, n, 'no flow twice');
  assert.equal(lostTotal(records, 'flow_evicted'), 0);
  assert.equal(lostTotal(records, 'flow_map_full'), 0, 'a full table takes over slots instead of failing');
});

test('flow flood beyond the table and a 4 KiB ring buffer: flows delivered + lost(flow_evicted) = flows created, exactly', { skip, timeout: 90_000 }, async () => {
  const { loader, records } = await start(['--flow-entries', '64', '--flush-ms', '60000', '--ringbuf-bytes', '4096', '--poll-delay-ms', '300']);
  const n = 2000;
  flood(n, 9, Buffer.from('x'));
  await new Promise((r) => setTimeout(r, 700));
  assert.equal((await loader.command('flush')).err, 0);
  await settle(records, () => lastRecords(records).size + lostTotal(records, 'flow_evicted') >= n, 5000);
  const delivered = lastRecords(records).size;
  const lost = lostTotal(records, 'flow_evicted');
  assert.ok(lost > 0, 'hand-overs that find the ring buffer full are lost');
  assert.equal(delivered + lost, n, `delivered ${delivered} + lost ${lost}`);
});

/** Sends Ethernet frames, in order, from one process with packet sockets: 'pod' = out of eth0 in
 *  the netns (the host-side veth's tc ingress sees it), 'host' = out of HOST_IF (its tc egress). */
function inject(frames: ['pod' | 'host', Buffer][]): void {
  const py = `import ctypes,socket,sys
host=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); host.bind((sys.argv[1],0))
with open('/run/netns/'+sys.argv[2]) as f: assert ctypes.CDLL(None,use_errno=True).setns(f.fileno(),0x40000000)==0
pod=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); pod.bind(('eth0',0))
for a in sys.argv[3:]: (pod if a[0]=='p' else host).send(bytes.fromhex(a[2:]))`;
  sh('python3', '-c', py, HOST_IF, NS, ...frames.map(([w, f]) => `${w[0]}:${f.toString('hex')}`));
}

// tcx links where the kernel has them (6.6+, this machine); --no-tcx forces the clsact filters of
// older kernels. Flow times: jiffies converted by the loader (5.14+), --no-jiffies the coarse clock.
for (const how of ['tcx', 'clsact'] as const) test(`flow notices (${how}): START at creation and END after the grace, with no map scan for 60 s`, { skip, timeout: 30_000 }, async () => {
  const { loader, records } = await start(['--flush-ms', '60000', '--end-grace-ms', '100', ...(how === 'clsact' ? ['--no-tcx', '--no-jiffies'] : [])]);
  const filters = () => ['ingress', 'egress'].map((d) => sh('tc', 'filter', 'show', 'dev', HOST_IF, d)).join('');
  if (how === 'clsact') assert.match(filters(), /tc_ingress[\s\S]*tc_egress/, 'both programs as clsact filters');
  else assert.equal(filters(), '', 'tcx links: no clsact filter');
  const SYN = 0x02, ACK = 0x10, FIN = 0x01;
  const out = (flags: number) => frame(SRC, DST, { proto: 'tcp', sport: 40123, dport: 8080, flags, seq: 1000 });
  const back = (flags: number) => frame(DST, SRC, { proto: 'tcp', sport: 8080, dport: 40123, flags, ack: 1001 }); // a SYN-ACK acks the client's ISN + 1
  const mine = (event: string) => records.filter((r): r is FlowRecord => r.type === 'flow' && r.sport === 40123 && r.event === event);
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (const end = Date.now() + 5000; !ok(); await new Promise((r) => setTimeout(r, 20))) assert.ok(Date.now() < end, `${what} within 5 s (the next scan is 60 s away)`);
  };
  const wallNs = () => BigInt(Date.now()) * 1_000_000n; // records carry wall-clock ns (mono + the HELLO's offset)
  const t0 = wallNs() - 1_000_000n; // Date.now() is in ms
  inject([['pod', out(SYN)]]);
  const t1 = wallNs() + 1_000_000n;
  await until('START', () => mine('start').length === 1);
  assert.deepEqual([mine('start')[0]!.saddr, mine('start')[0]!.origin, mine('start')[0]!.packets], [SRC, 'from_pod', [1, 0]]);
  const tick = 10_000_000n; // the flows' clock has tick resolution (HZ 100 at the coarsest)
  const within = (t: bigint, a: bigint, b: bigint, what: string) => assert.ok(t >= a - tick && t <= b + tick, `${what}: ${t} not in [${a}, ${b}] ± 10 ms`);
  within(mine('start')[0]!.firstNs, t0, t1, 'first packet time');
  await new Promise((r) => setTimeout(r, 300));
  const t2 = wallNs() - 1_000_000n;
  inject([['host', back(SYN | ACK)], ['pod', out(ACK)], ['pod', out(FIN | ACK)], ['host', back(FIN | ACK)], ['pod', out(ACK)]]);
  const t3 = wallNs() + 1_000_000n;
  await until('END', () => mine('end').length === 1);
  const end = mine('end')[0]!;
  within(end.lastNs, t2, t3, 'last packet time');
  within(end.firstNs, t0, t1, 'END keeps the first packet time');
  assert.deepEqual([end.saddr, end.daddr, end.dport, end.packets, end.tcpFlags], [SRC, DST, 8080, [4, 2], [SYN | ACK | FIN, SYN | ACK | FIN]], 'exact counts, initiator first');
  assert.equal(mine('start').length, 1, 'one START');
  assert.equal((await loader.command(`detach ${ifindex()}`)).err, 0);
  assert.equal(filters(), '', 'detach removes them');
  inject([['pod', out(SYN)]]);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(mine('start').length, 1, 'nothing is seen after detach');
});

// A scan reads only the slots the notices named (full passes: the first, after a lost notice,
// flush, --no-notices, every 240th): a flow's UPDATE and TIMEOUT records come from those reads,
// with the same counts as when every pass reads the whole table (--no-notices).
for (const how of ['notices', 'no notices'] as const) test(`scans (${how}): a flow's UPDATEs and its TIMEOUT carry its exact counts`, { skip, timeout: 30_000 }, async () => {
  const { records } = await start(['--flush-ms', '50', '--update-ms', '100', '--idle-timeout-ms', '400', ...(how === 'no notices' ? ['--no-notices'] : [])]);
  const sport = how === 'notices' ? 41001 : 41002;
  const mine = (event: string) => records.filter((r): r is FlowRecord => r.type === 'flow' && r.sport === sport && r.event === event);
  await new Promise((r) => setTimeout(r, 200)); // the first (full) pass is over before the flow starts
  for (let i = 0; i < 10; i++) {
    inject([['pod', frame(SRC, DST, { proto: 'udp', sport, dport: 7777, payload: Buffer.from('ping') })]]);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const end = Date.now() + 5000; !mine('timeout').length; await new Promise((r) => setTimeout(r, 50))) assert.ok(Date.now() < end, 'TIMEOUT within 5 s');
  const updates = mine('update').map((r) => r.packets[0]);
  assert.ok(updates.length >= 3, `UPDATE records while the flow ran (got ${updates.length})`);
  assert.deepEqual(updates, [...updates].sort((a, b) => a - b), 'counts only grow');
  assert.ok(updates[0]! < 10 && updates.at(-1)! <= 10, `UPDATEs while packets still arrived (${updates.join(' ')})`);
  const t = mine('timeout')[0]!;
  assert.deepEqual([t.saddr, t.daddr, t.dport, t.packets, mine('timeout').length], [SRC, DST, 7777, [10, 0], 1], 'one TIMEOUT, every datagram counted once');
});

// A bridge port gets only tc_ingress; its bridge gets tc_bridge_egress, once for all its ports.
// A frame the host sends through the bridge to a pod is keyed to the pod's port (learned from
// the pod's own packet), with tcx links and with clsact filters.
for (const how of ['tcx', 'clsact'] as const) test(`bridge ports (${how}): ingress on the port, one egress program on the bridge, host frames keyed to the port; detach removes both`, { skip, timeout: 30_000 }, async (t) => {
  await Promise.all(loaders.splice(0).map((l) => l.stop())); // no older loader's programs on the veth
  const BR = `flb${tag}`;
  sh('ip', 'link', 'add', BR, 'type', 'bridge');
  sh('sysctl', '-qw', `net.ipv6.conf.${BR}.disable_ipv6=1`);
  sh('ip', 'link', 'set', BR, 'up');
  sh('ip', 'link', 'set', HOST_IF, 'master', BR);
  t.after(() => {
    spawnSync('ip', ['link', 'set', HOST_IF, 'nomaster']);
    spawnSync('ip', ['link', 'del', BR]);
  });
  const br = Number(sh('cat', `/sys/class/net/${BR}/ifindex`).trim());
  const { loader, records } = await start(['--flush-ms', '60000', ...(how === 'clsact' ? ['--no-tcx'] : [])]);
  assert.equal((await loader.command(`attach ${ifindex()} ${br}`)).err, -17, 'attached the other way already: EEXIST');
  assert.equal((await loader.command(`detach ${ifindex()}`)).err, 0);
  assert.equal((await loader.command(`attach ${ifindex()} ${br}`)).err, 0, 'a port of the bridge');
  assert.equal((await loader.command(`attach ${ifindex()} ${br}`)).err, 0, 'again: a no-op');
  assert.equal((await loader.command(`attach ${br} ${br}`)).err, -95, 'a bridge is not its own port');
  const filters = (dev: string, dir: string) => sh('tc', 'filter', 'show', 'dev', dev, dir);
  if (how === 'clsact') {
    assert.match(filters(HOST_IF, 'ingress'), /tc_ingress/);
    assert.equal(filters(HOST_IF, 'egress'), '', 'no egress program on the port');
    assert.match(filters(BR, 'egress'), /tc_bridge_egres/); // names are cut at 15 characters
  } else {
    assert.equal(filters(HOST_IF, 'ingress') + filters(HOST_IF, 'egress') + filters(BR, 'egress'), '', 'tcx links: no clsact filter');
  }
  const ACK = 0x10, SYN = 0x02;
  const send = (dev: string, frames: ['pod' | 'host', Buffer][]) => {
    const py = `import ctypes,socket,sys
host=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); host.bind((sys.argv[1],0))
with open('/run/netns/'+sys.argv[2]) as f: assert ctypes.CDLL(None,use_errno=True).setns(f.fileno(),0x40000000)==0
pod=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); pod.bind(('eth0',0))
for a in sys.argv[3:]: (pod if a[0]=='p' else host).send(bytes.fromhex(a[2:]))`;
    sh('python3', '-c', py, dev, NS, ...frames.map(([w, f]) => `${w[0]}:${f.toString('hex')}`));
  };
  // The pod sends first (its port learns SRC), then the host answers through the bridge device.
  send(BR, [['pod', frame(SRC, DST, { proto: 'tcp', sport: 40200, dport: 8080, flags: SYN })], ['host', frame(DST, SRC, { proto: 'tcp', sport: 8080, dport: 40200, flags: SYN | ACK })]]);
  // Sent straight out of the port (not through the bridge device): no egress program runs there.
  send(HOST_IF, [['host', frame(DST, SRC, { proto: 'tcp', sport: 8080, dport: 40200, flags: ACK })]]);
  assert.equal((await loader.command('flush')).err, 0);
  const mine = records.filter((r): r is FlowRecord => r.type === 'flow' && r.event !== 'start' && (r.sport === 40200 || r.dport === 40200));
  assert.deepEqual(mine.map((r) => [r.ifindex, r.saddr, r.packets, r.tcpFlags]), [[ifindex(), SRC, [1, 1], [SYN, SYN | ACK]]], 'one flow at the port: the pod\'s SYN and the host\'s SYN-ACK, not the ACK sent past the bridge');
  assert.equal((await loader.command(`detach ${ifindex()}`)).err, 0);
  if (how === 'clsact') assert.equal(filters(HOST_IF, 'ingress') + filters(BR, 'egress'), '', 'detach of the last port removes the bridge program');
  send(BR, [['pod', frame(SRC, DST, { proto: 'tcp', sport: 40201, dport: 8080, flags: SYN })], ['host', frame(DST, SRC, { proto: 'tcp', sport: 8080, dport: 40201, flags: SYN | ACK })]]);
  assert.equal((await loader.command('flush')).err, 0);
  assert.equal(records.filter((r) => r.type === 'flow' && (r as FlowRecord).sport === 40201).length, 0, 'nothing is seen after detach');
});

// A client port reused while its flow's counters are still kept (same 5-tuple, the END not out
// yet): a SYN with another ISN is a new connection, and the flow STARTs again, stamped with that
// SYN's time, so that the agent can tell whose views it joins. A SYN retransmitted within one
// connection, or the SYN-ACK of the SYN that STARTed the flow, is not a new connection.
test('a 5-tuple reused (another ISN): START again at the new SYN (its time, the flow\'s counters); a retransmitted SYN or the SYN-ACK is the same connection', { skip, timeout: 30_000 }, async () => {
  const { records } = await start(['--flush-ms', '60000', '--end-grace-ms', '3000']);
  const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04;
  // The client's ISN names its connection: 1000 for the first, 5000 and 9000 for the port's reuses.
  let isn = 1000;
  const out = (flags: number) => frame(SRC, DST, { proto: 'tcp', sport: 40777, dport: 8080, flags, seq: isn });
  const back = (flags: number) => frame(DST, SRC, { proto: 'tcp', sport: 8080, dport: 40777, flags, ack: isn + 1 });
  const starts = () => records.filter((r): r is FlowRecord => r.type === 'flow' && r.sport === 40777 && r.event === 'start');
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (const end = Date.now() + 5000; !ok(); await new Promise((r) => setTimeout(r, 20))) assert.ok(Date.now() < end, `${what} within 5 s`);
  };
  const wallNs = () => BigInt(Date.now()) * 1_000_000n;
  inject([['pod', out(SYN)], ['pod', out(SYN)], ['host', back(SYN | ACK)], ['pod', out(ACK)]]); // the SYN retransmitted
  await until('the first START', () => starts().length === 1);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(starts().length, 1, 'a retransmitted SYN is the same connection');
  inject([['host', back(FIN | ACK)], ['pod', out(FIN | ACK)], ['host', back(ACK)]]);
  await new Promise((r) => setTimeout(r, 300));
  const t0 = wallNs() - 1_000_000n;
  isn = 5000;
  inject([['pod', out(SYN)]]); // the port again, within the END's grace
  const t1 = wallNs() + 1_000_000n;
  await until('a second START', () => starts().length === 2);
  const again = starts()[1]!;
  assert.ok(again.firstNs >= t0 && again.firstNs <= t1, `the START carries the new SYN's time: ${again.firstNs} in [${t0}, ${t1}]`);
  assert.ok(again.firstNs > starts()[0]!.firstNs + 300_000_000n);
  assert.deepEqual(again.packets, [5, 3], 'the flow\'s counters (both connections so far)');
  inject([['host', back(SYN | ACK)], ['pod', out(ACK)], ['pod', out(RST)]]);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(starts().length, 2, 'the SYN-ACK of the SYN that STARTed it again: the same connection');
  isn = 9000;
  inject([['pod', out(SYN)]]); // after an RST
  await until('a third START', () => starts().length === 3);
  assert.equal(records.filter((r) => r.type === 'flow' && (r as FlowRecord).sport === 40777 && (r as FlowRecord).event === 'end').length, 0, 'no END yet: one flow throughout');
});

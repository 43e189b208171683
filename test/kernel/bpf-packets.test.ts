// BPF_PROG_RUN of the tc programs (bpf/tc_flow.bpf.h) with crafted, truncated, malformed and
// random frames, through `flowlens-loader --prog-run` and the agent's decoder. Every result is
// compared with the TypeScript oracle (test/bpf/reference.ts). Needs root (loads BPF).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { LoaderProcess, defaultLoaderPath, findRepoRoot } from '../../src/agent/loader';
import type { DecodedRecord, DnsRecord, FlowRecord, HttpRecord } from '../../src/agent/records';
import { frame, v6bytes, withV6Ext } from '../bpf/packets';
import { RefTable } from '../bpf/reference';
import type { RefFlow } from '../bpf/reference';

const skip = process.getuid?.() === 0 ? false : 'needs root: loads BPF programs for BPF_PROG_RUN';
let loader: LoaderProcess;
const records: DecodedRecord[] = [];
const TC_ACT_UNSPEC = -1;

/** BPF_PROG_RUN itself refuses (EINVAL) frames without a whole Ethernet + IPv4/IPv6 base header. */
function expectedRet(f: Buffer): number {
  const et = f.length >= 14 ? f.readUInt16BE(12) : 0;
  if (f.length <= 14 || (et === 0x0800 && f.length < 34) || (et === 0x86dd && f.length < 54)) return -22;
  return TC_ACT_UNSPEC;
}

before(() => {
  if (!skip) execFileSync('make', ['-s', '-C', join(findRepoRoot(), 'bpf')], { stdio: ['ignore', 'inherit', 'inherit'] });
});

test('loader options: values that cannot work are refused, with the reason', { skip }, () => {
  for (const [args, why] of [
    [['--wake-bytes', '8388608'], /--wake-bytes 8388608 is more than the ring buffer \(4194304 bytes\)/],
    [['--ringbuf-bytes', '65536', '--wake-bytes', '65537'], /--wake-bytes 65537 is more than the ring buffer \(65536 bytes\)/],
    [['--http-window-ms', '3600001'], /--http-window-ms/],
  ] as const) {
    const r = spawnSync(defaultLoaderPath(), [...args, '--features'], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  assert.equal(spawnSync(defaultLoaderPath(), ['--wake-bytes', '4194304', '--features'], { encoding: 'utf8' }).status, 0, 'the whole ring is allowed');
});

// BPF_PROG_RUN always builds a linear skb, so the headers are in place (direct packet access);
// --tc-load-bytes makes the same programs read every header with bpf_skb_load_bytes, the path a
// non-linear skb takes. Every test below runs in both modes.
const MODES: [string, string[]][] = [['direct packet access', []], ['bpf_skb_load_bytes fallback', ['--tc-load-bytes']]];
for (const [mode, extra] of MODES) describe(mode, () => {
  before(async () => {
    if (skip) return;
    loader = new LoaderProcess(undefined, { args: ['--prog-run', '--http-per-flow', '0', ...extra] }); // every head captured: exact oracle
    loader.on('records', (r) => records.push(...r));
    loader.start();
    const hello = await loader.ready();
    assert.deepEqual(hello.attachedPrograms, ['tc_ingress', 'tc_egress', 'tc_bridge_egress'], 'prog-run loads only the tc programs (verifier accepted them)');
  });

  after(async () => {
    await loader?.stop();
  });
  defineTests(extra);
});

/** Runs the frames (hook 1 = from the pod, 2 = to it), flushes, returns what the loader emitted. */
async function run(frames: [Buffer, 1 | 2][]): Promise<{ flows: FlowRecord[]; dns: DnsRecord[]; http: HttpRecord[]; l7: (DnsRecord | HttpRecord)[]; rets: number[] }> {
  const start = records.length;
  const rets: number[] = [];
  for (const [f, hook] of frames) rets.push((await loader.command(`run ${hook} 1 ${f.toString('hex')}`)).err);
  assert.equal((await loader.command('flush')).err, 0);
  const got = records.slice(start);
  return {
    flows: got.filter((r): r is FlowRecord => r.type === 'flow'),
    dns: got.filter((r): r is DnsRecord => r.type === 'dns'),
    http: got.filter((r): r is HttpRecord => r.type === 'http'),
    l7: got.filter((r): r is DnsRecord | HttpRecord => r.type === 'dns' || r.type === 'http'),
    rets,
  };
}

function addr(b: Buffer, family: 4 | 6): string {
  if (family === 4) return [...b.subarray(0, 4)].join('.');
  return new URL(`http://[${b.toString('hex').match(/.{4}/g)!.join(':')}]/`).hostname.slice(1, -1);
}

function expectFlows(got: FlowRecord[], want: RefFlow[]): void {
  const norm = (f: { saddr: string; daddr: string; sport: number; dport: number; proto: number; family: number; origin: unknown; packets: number[]; bytes: number[]; payload: number[]; tcpFlags: number[]; httpHeads: number[] }) =>
    JSON.stringify([f.saddr, f.daddr, f.sport, f.dport, f.proto, f.family, f.origin, f.packets, f.bytes, f.payload, f.tcpFlags, f.httpHeads]);
  const g = got.map((f) => norm(f)).sort();
  const w = want.map((f) => norm({ ...f, saddr: addr(f.saddr, f.family), daddr: addr(f.daddr, f.family), origin: f.origin === 1 ? 'from_pod' : 'to_pod', tcpFlags: f.flags, httpHeads: f.http })).sort();
  assert.deepEqual(g, w);
}

const A = '10.244.0.5';
const B = '10.244.0.9';
const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04, PSH = 0x08;

function dnsQuery(id: number, name: string, qtype: number): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2);
  h.writeUInt16BE(1, 4);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(qtype, 0);
  q.writeUInt16BE(1, 2);
  return Buffer.concat([h, ...labels, Buffer.from([0]), q]);
}

/** The tests, once per loader mode (`extra`: its flags). */
function defineTests(extra: string[]): void {
  test('a TCP connection with an HTTP exchange: one flow, exact counts, both HTTP heads', { skip }, async () => {
    const req = Buffer.from('GET /api/items?id=7 HTTP/1.1\r\nHost: b\r\n\r\n');
    const resp = Buffer.from(`HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n`);
    const t = (src: string, dst: string, sp: number, dp: number, flags: number, payload?: Buffer) => frame(src, dst, { proto: 'tcp', sport: sp, dport: dp, flags, payload });
    const frames: [Buffer, 1 | 2][] = [
      [t(A, B, 40000, 8080, SYN), 1], [t(B, A, 8080, 40000, SYN | ACK), 2], [t(A, B, 40000, 8080, ACK), 1],
      [t(A, B, 40000, 8080, ACK | PSH, req), 1], [t(B, A, 8080, 40000, ACK | PSH, resp), 2],
      [t(A, B, 40000, 8080, ACK | FIN), 1], [t(B, A, 8080, 40000, ACK | FIN), 2], [t(A, B, 40000, 8080, ACK), 1],
    ];
    const r = await run(frames);
    assert.deepEqual(r.rets, frames.map(() => TC_ACT_UNSPEC), 'never changes the packet fate');
    assert.equal(r.flows.length, 1);
    const f = r.flows[0]!;
    assert.deepEqual([f.event, f.saddr, f.daddr, f.sport, f.dport, f.proto, f.origin], ['end', A, B, 40000, 8080, 6, 'from_pod']);
    assert.deepEqual(f.packets, [5, 3]);
    assert.deepEqual(f.payload, [req.length, resp.length]);
    assert.deepEqual(f.bytes, [5 * 40 + req.length, 3 * 40 + resp.length]);
    assert.deepEqual(f.tcpFlags, [SYN | ACK | PSH | FIN, SYN | ACK | PSH | FIN]);
    assert.deepEqual(f.httpHeads, [1, 1]);
    assert.deepEqual(r.http.map((h) => [h.data.toString(), h.hook, h.sport, h.payloadLen]), [[req.toString(), 'from_pod', 40000, req.length], [resp.toString(), 'to_pod', 8080, resp.length]]);
    assert.equal(r.dns.length, 0);
  });

  test('orientation: a flow first seen at its SYN-ACK or mid-stream is still client -> server', { skip }, async () => {
    const r = await run([
      [frame(B, A, { proto: 'tcp', sport: 80, dport: 50000, flags: SYN | ACK }), 2],
      [frame(B, A, { proto: 'tcp', sport: 443, dport: 50001, flags: ACK, payload: Buffer.from('x') }), 2],
      [frame(A, B, { proto: 'tcp', sport: 50002, dport: 22, flags: RST }), 1],
    ]);
    const by = new Map(r.flows.map((f) => [f.dport, f]));
    assert.deepEqual([by.get(80)?.saddr, by.get(80)?.sport, by.get(80)?.origin, by.get(80)?.packets], [A, 50000, 'from_pod', [0, 1]]);
    assert.deepEqual([by.get(443)?.saddr, by.get(443)?.payload, by.get(443)?.event], [A, [0, 1], 'timeout']);
    assert.deepEqual([by.get(22)?.event, by.get(22)?.tcpFlags], ['end', [RST, 0]], 'RST ends a flow');
  });


  test('DNS over UDP 53 in IPv4 and IPv6: messages copied whole, large ones cut at 512', { skip }, async () => {
    const q = dnsQuery(0x1234, 'web.default.svc.cluster.local', 1);
    const big = Buffer.concat([dnsQuery(7, 'a.b', 28), Buffer.alloc(700, 0x41)]);
    const C6 = 'fd00::5', D6 = 'fd00::a';
    const frames: [Buffer, 1 | 2][] = [
      [frame(A, '10.96.0.10', { proto: 'udp', sport: 33333, dport: 53, payload: q }), 1],
      [frame('10.96.0.10', A, { proto: 'udp', sport: 53, dport: 33333, payload: q }), 2],
      [frame(C6, D6, { proto: 'udp', sport: 40001, dport: 53, payload: big }), 1],
      [frame(A, B, { proto: 'udp', sport: 53, dport: 1234, payload: Buffer.alloc(11) }), 1],
    ];
    const r = await run(frames);
    assert.deepEqual(r.dns.map((d) => [d.family, d.sport, d.data.length, d.payloadLen]), [[4, 33333, q.length, q.length], [4, 53, q.length, q.length], [6, 40001, 512, big.length]]);
    assert.deepEqual(r.dns[0]!.data, q);
    assert.deepEqual(r.dns[2]!.data, big.subarray(0, 512));
    const ref = new RefTable();
    for (const [f, h] of frames) ref.push(f, h);
    expectFlows(r.flows, [...ref.flows.values()]);
    const resp = r.flows.find((f) => f.sport === 1234);
    assert.deepEqual([resp?.saddr, resp?.dport, resp?.packets], [B, 53, [0, 1]], 'a packet from port 53 starts a flow oriented to the server');
  });

  test('DNS over TCP 53: segments that can start a message are copied with their length prefix; ACKs and short ones are not', { skip }, async () => {
    const q = dnsQuery(0x4321, 'big.example.com', 255);
    const msg = Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
    const t = (src: string, dst: string, sp: number, dp: number, flags: number, payload?: Buffer) => frame(src, dst, { proto: 'tcp', sport: sp, dport: dp, flags, payload });
    const frames: [Buffer, 1 | 2][] = [
      [t(A, B, 41000, 53, SYN), 1], [t(B, A, 53, 41000, SYN | ACK), 2], [t(A, B, 41000, 53, ACK), 1],
      [t(A, B, 41000, 53, ACK | PSH, msg), 1], // the query
      [t(B, A, 53, 41000, ACK), 2], // pure ACK: nothing to copy
      [t(B, A, 53, 41000, ACK | PSH, msg), 2], // an answer-sized segment from the server
      [t(A, B, 41000, 53, ACK | PSH, msg.subarray(0, 13)), 1], // 13 bytes: no room for prefix + header
    ];
    const r = await run(frames);
    assert.deepEqual(r.dns.map((d) => [d.proto, d.sport, d.dport, d.data.length, d.payloadLen]), [[6, 41000, 53, msg.length, msg.length], [6, 53, 41000, msg.length, msg.length]]);
    assert.deepEqual(r.dns[0]!.data, msg);
    assert.deepEqual(r.http, [], 'TCP 53 is never looked at as HTTP');
    const ref = new RefTable();
    for (const [f, h] of frames) ref.push(f, h);
    expectFlows(r.flows, [...ref.flows.values()]);
    assert.deepEqual(ref.captures.map((c) => c.kind), ['dns', 'dns'], 'the reference model agrees');
  });

  test('ICMP and ICMPv6 echo: request and reply share a flow keyed by the echo id', { skip }, async () => {
    const r = await run([
      [frame(A, B, { proto: 'icmp', icmpType: 8, id: 77 }), 1], [frame(B, A, { proto: 'icmp', icmpType: 0, id: 77 }), 2],
      [frame('fd00::5', 'fd00::a', { proto: 'icmp', icmpType: 128, id: 9 }), 1], [frame('fd00::a', 'fd00::5', { proto: 'icmp', icmpType: 129, id: 9 }), 2],
    ]);
    assert.deepEqual(r.flows.map((f) => [f.family, f.proto, f.sport, f.dport, f.packets, f.icmpType]).sort(), [[4, 1, 77, 77, [1, 1], 8], [6, 58, 9, 9, [1, 1], 128]]);
    assert.deepEqual(v6bytes('fd00::5').subarray(0, 2), Buffer.from([0xfd, 0]));
  });

  test('IPv6 extension headers are walked to the upper layer; later fragments and long chains count without ports', { skip }, async () => {
    const C6 = 'fd00::5', D6 = 'fd00::a';
    const tcp = (sp: number) => frame(C6, D6, { proto: 'tcp', sport: sp, dport: 80, flags: SYN });
    const overrun = withV6Ext(tcp(1008), [{ type: 60 }]);
    overrun[55] = 255; // says 2,048 bytes
    const frames: [Buffer, 1 | 2][] = [
      [withV6Ext(tcp(1001), [{ type: 0 }, { type: 60, bytes: 16 }]), 1], // hop-by-hop + destination options
      [withV6Ext(tcp(1002), [{ type: 43, bytes: 24 }]), 1], // routing
      [withV6Ext(tcp(1003), [{ type: 51, bytes: 24 }]), 1], // AH: its length counts 4-byte words
      [withV6Ext(tcp(1004), [{ type: 44, fragOffset: 0 }]), 1], // first fragment: the TCP header is there
      [withV6Ext(frame(C6, D6, { proto: 'udp', sport: 1005, dport: 53, payload: dnsQuery(5, 'e.x', 28) }), [{ type: 0 }]), 1],
      [withV6Ext(tcp(1006), [{ type: 44, fragOffset: 100 }]), 1], // a later fragment: no ports
      [withV6Ext(tcp(1007), [{ type: 0 }, { type: 60 }, { type: 60 }, { type: 60 }, { type: 60 }]), 1], // five: not walked to the end
      [overrun, 1], // an extension header longer than the packet: not accounted
    ];
    const r = await run(frames);
    assert.deepEqual(r.rets, frames.map(() => TC_ACT_UNSPEC));
    assert.deepEqual(r.flows.map((f) => [f.proto, f.sport, f.dport, f.bytes[0]]).sort((a, b) => a[1]! - b[1]! || a[0]! - b[0]!), [
      [6, 0, 0, 40 + 8 + 20], // the later fragment: TCP, no ports
      [60, 0, 0, 40 + 5 * 8 + 20], // the chain of five stops at the fifth header
      [6, 1001, 80, 40 + 8 + 16 + 20], [6, 1002, 80, 40 + 24 + 20], [6, 1003, 80, 40 + 24 + 20], [6, 1004, 80, 40 + 8 + 20],
      [17, 1005, 53, 40 + 8 + 8 + dnsQuery(5, 'e.x', 28).length],
    ]);
    assert.deepEqual(r.dns.map((d) => [d.family, d.sport, d.payloadLen]), [[6, 1005, dnsQuery(5, 'e.x', 28).length]], 'DNS behind an extension header');
    const ref = new RefTable();
    for (const [f, h] of frames) ref.push(f, h);
    expectFlows(r.flows, [...ref.flows.values()]);
  });

  test('truncated frames: every prefix of valid frames is rejected whole or parsed exactly', { skip }, async () => {
    const full = [
      frame(A, B, { proto: 'tcp', sport: 1, dport: 80, flags: ACK, payload: Buffer.from('GET / HTTP/1.1\r\n\r\n') }),
      frame(A, B, { proto: 'udp', sport: 2, dport: 53, payload: dnsQuery(1, 'x.y', 1) }),
      frame('fd00::1', 'fd00::2', { proto: 'tcp', sport: 3, dport: 80, flags: SYN }),
    ];
    const frames: [Buffer, 1 | 2][] = full.flatMap((f) => Array.from({ length: f.length - 1 }, (_, n) => [f.subarray(0, n + 1), 1] as [Buffer, 1 | 2]));
    const r = await run(frames);
    for (const [i, ret] of r.rets.entries()) assert.equal(ret, expectedRet(frames[i]![0]), `frame of ${frames[i]![0].length} bytes`);
    assert.deepEqual(r.flows, [], 'a frame shorter than its IP length is never accounted');
    assert.deepEqual([r.dns, r.http], [[], []]);
  });

  test('malformed headers are not accounted; fragments and unknown protocols count without ports', { skip }, async () => {
    const good = frame(A, B, { proto: 'tcp', sport: 5, dport: 80, flags: SYN });
    const udp = frame(A, B, { proto: 'udp', sport: 6, dport: 53, payload: dnsQuery(2, 'q', 1) });
    const edit = (b: Buffer, f: (x: Buffer) => void): Buffer => { const c = Buffer.from(b); f(c); return c; };
    const bad: Buffer[] = [
      edit(good, (b) => (b[14] = 0x44)), // ihl 4
      edit(good, (b) => (b[14] = 0x55)), // version 5
      edit(good, (b) => b.writeUInt16BE(19, 16)), // tot_len < ihl
      edit(good, (b) => b.writeUInt16BE(41, 16)), // tot_len > frame
      edit(good, (b) => (b[46] = 0x40)), // doff 4
      edit(good, (b) => (b[46] = 0xf0)), // doff 15 > segment
      edit(udp, (b) => b.writeUInt16BE(7, 38)), // udp len < 8
      edit(udp, (b) => b.writeUInt16BE(200, 38)), // udp len > ip
      edit(good, (b) => b.writeUInt16BE(0x0806, 12)), // ARP
    ];
    const odd: Buffer[] = [
      edit(good, (b) => b.writeUInt16BE(0x0010, 20)), // fragment offset 16: ports unknown
      edit(good, (b) => (b[23] = 47)), // GRE
    ];
    const r = await run([...bad, ...odd].map((f) => [f, 1]));
    assert.deepEqual(r.rets, [...bad, ...odd].map(() => TC_ACT_UNSPEC));
    assert.deepEqual(r.flows.map((f) => [f.proto, f.sport, f.dport, f.packets]).sort(), [[47, 0, 0, [1, 0]], [6, 0, 0, [1, 0]]]);
    assert.deepEqual([r.dns, r.http], [[], []]);
  });

  test('random and mutated frames: flows and captures equal the reference parser exactly', { skip, timeout: 120_000 }, async () => {
    let seed = 4242; // mulberry32: reproducible
    const rand = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) % n);
    };
    const seeds = [
      frame(A, B, { proto: 'tcp', sport: 41000, dport: 80, flags: ACK | PSH, payload: Buffer.from('POST /x HTTP/1.1\r\n\r\nbody') }),
      frame(A, B, { proto: 'udp', sport: 53, dport: 53, payload: dnsQuery(3, 'r.s', 1) }),
      frame('fd00::1', 'fd00::2', { proto: 'tcp', sport: 80, dport: 41000, flags: ACK, payload: Buffer.from('HTTP/1.1 200 OK\r\n\r\n') }),
      frame('fd00::1', 'fd00::2', { proto: 'icmp', icmpType: 128, id: 1 }),
      withV6Ext(frame('fd00::1', 'fd00::2', { proto: 'udp', sport: 41001, dport: 53, payload: dnsQuery(4, 't.u', 1) }), [{ type: 0 }, { type: 44 }]),
    ];
    const frames: [Buffer, 1 | 2][] = [];
    for (let i = 0; i < 1500; i++) {
      let f: Buffer;
      if (i % 5 === 0) {
        f = Buffer.from(Array.from({ length: 14 + rand(120) }, () => rand(256)));
        f.writeUInt16BE(rand(2) ? 0x0800 : 0x86dd, 12);
      } else {
        f = Buffer.from(seeds[rand(seeds.length)]!);
        for (let k = rand(4) + 1; k > 0; k--) f[14 + rand(f.length - 14)] = rand(256);
        if (rand(4) === 0) f = f.subarray(0, 14 + rand(f.length - 14));
      }
      frames.push([f, (1 + rand(2)) as 1 | 2]);
    }
    const r = await run(frames);
    r.rets.forEach((x, i) => assert.equal(x, expectedRet(frames[i]![0]), frames[i]![0].toString('hex')));
    const ref = new RefTable();
    for (const [f, h] of frames) ref.push(f, h);
    expectFlows(r.flows, [...ref.flows.values()]);
    const caps = r.l7.map((c) => [c.type, c.data.toString('hex'), c.payloadLen, c.tcpSeq, c.tcpAck]);
    assert.deepEqual(caps, ref.captures.map((c) => [c.kind, c.data.toString('hex'), c.payloadLen, c.tcpSeq, c.tcpAck]));
    assert.ok(ref.flows.size > 50 && ref.captures.length > 20, `the mutations keep enough frames valid (${ref.flows.size} flows, ${ref.captures.length} captures)`);
  });

  test('bridge egress: a frame to a pod is keyed to the port that pod sent from (a flow, ARP, or `learn`), else to the bridge', { skip }, async (t) => {
    // Addresses of this test only (pod_addrs lives as long as the loader).
    const [P1, P2, P3, FAR, HOST] = ['10.66.0.1', '10.66.0.2', '10.66.0.3', '10.66.0.99', '10.66.0.254'];
    // BPF_PROG_RUN wants the ctx ifindex to exist: two veth pairs (four interfaces) stand in.
    const names = ['a', 'b', 'c', 'd'].map((x) => `flbrt${process.pid % 10000}${x}`);
    for (const [x, y] of [[names[0], names[1]], [names[2], names[3]]] as [string, string][]) execFileSync('ip', ['link', 'add', x, 'type', 'veth', 'peer', 'name', y]);
    t.after(() => { for (const n of [names[0], names[2]]) spawnSync('ip', ['link', 'del', n as string]); });
    const [PORT1, PORT2, PORT3, BRIDGE] = names.map((n) => (JSON.parse(execFileSync('ip', ['-j', 'link', 'show', n], { encoding: 'utf8' })) as { ifindex: number }[])[0]!.ifindex) as [number, number, number, number];
    const tcp = (src: string, dst: string, sp: number, dp: number, flags: number) => frame(src, dst, { proto: 'tcp', sport: sp, dport: dp, flags });
    const arp = (ip: string) => {
      const b = Buffer.alloc(42);
      b.fill(0xff, 0, 6);
      Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(b, 6);
      b.writeUInt16BE(0x0806, 12);
      b.writeUInt16BE(1, 14); b.writeUInt16BE(0x0800, 16); b[18] = 6; b[19] = 4; b.writeUInt16BE(2, 20);
      Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(b, 22);
      Buffer.from(ip.split('.').map(Number)).copy(b, 28);
      return b;
    };
    const cmd = async (line: string) => (await loader.command(line)).err;
    const start = records.length;
    // P1 starts a flow at its port; P2 only answers an ARP request; P3 is told by the loader.
    assert.equal(await cmd(`run 1 ${PORT1} ${tcp(P1, FAR, 41000, 80, SYN).toString('hex')}`), TC_ACT_UNSPEC);
    assert.equal(await cmd(`run 1 ${PORT2} ${arp(P2).toString('hex')}`), TC_ACT_UNSPEC);
    assert.equal(await cmd(`learn ${PORT3} ${P3}`), 0);
    assert.equal(await cmd(`learn ${PORT3} 10.66.0.300`), -22, 'not an address');
    assert.equal(await cmd(`learn ${PORT3}`), -22);
    // The host sends to each of them, and to an address no port has used, through the bridge.
    for (const [dst, sp] of [[P1, 50001], [P2, 50002], [P3, 50003], ['10.66.0.4', 50004]] as const) {
      assert.equal(await cmd(`run 3 ${BRIDGE} ${tcp(HOST, dst, sp, 8080, SYN).toString('hex')}`), TC_ACT_UNSPEC);
    }
    assert.equal((await loader.command('flush')).err, 0);
    const flows = records.slice(start).filter((r): r is FlowRecord => r.type === 'flow');
    const at = (port: number) => {
      const f = flows.find((x) => x.sport === port || x.dport === port);
      assert.ok(f, `a flow for source port ${port}`);
      return [f.ifindex, f.origin, f.packets.reduce((a, b) => a + b, 0)];
    };
    assert.deepEqual(at(41000), [PORT1, 'from_pod', 1]);
    assert.deepEqual(at(50001), [PORT1, 'to_pod', 1], 'learned from its first packet');
    assert.deepEqual(at(50002), [PORT2, 'to_pod', 1], 'learned from its ARP');
    assert.deepEqual(at(50003), [PORT3, 'to_pod', 1], 'seeded by learn');
    assert.deepEqual(at(50004), [BRIDGE, 'to_pod', 1], 'unknown: keyed to the bridge, still counted');
    assert.equal(flows.length, 5);
  });

  test('bridge egress: DNS and HTTP from one of our pods back through the host stack are counted, not copied again', { skip }, async (t) => {
    // A pod's request to a Service VIP leaves its port addressed to the VIP (copied there) and
    // reaches the backend's port through the host stack after the DNAT: the bridge's egress must
    // count it for the backend's port but not copy its head a second time. From the host: copied.
    const [P1, P2, HOST] = ['10.67.0.1', '10.67.0.2', '10.67.0.254'];
    const names = ['a', 'b', 'c', 'd'].map((x) => `flbrh${process.pid % 10000}${x}`);
    for (const [x, y] of [[names[0], names[1]], [names[2], names[3]]] as [string, string][]) execFileSync('ip', ['link', 'add', x, 'type', 'veth', 'peer', 'name', y]);
    t.after(() => { for (const n of [names[0], names[2]]) spawnSync('ip', ['link', 'del', n as string]); });
    const [PORT1, PORT2, , BRIDGE] = names.map((n) => (JSON.parse(execFileSync('ip', ['-j', 'link', 'show', n], { encoding: 'utf8' })) as { ifindex: number }[])[0]!.ifindex) as [number, number, number, number];
    const cmd = async (line: string) => (await loader.command(line)).err;
    assert.equal(await cmd(`learn ${PORT1} ${P1}`), 0);
    assert.equal(await cmd(`learn ${PORT2} ${P2}`), 0);
    const req = Buffer.from('GET /twice HTTP/1.1\r\nHost: svc\r\n\r\n');
    const q = dnsQuery(0x2222, 'svc.ns.svc.cluster.local', 1);
    const start = records.length;
    for (const [hook, ifindex, f] of [
      [1, PORT1, frame(P1, '10.96.7.7', { proto: 'tcp', sport: 42001, dport: 80, flags: ACK | PSH, payload: req })], // leaves P1 to the VIP
      [3, BRIDGE, frame(P1, P2, { proto: 'tcp', sport: 42001, dport: 8080, flags: ACK | PSH, payload: req })], // after the DNAT
      [1, PORT1, frame(P1, '10.96.7.10', { proto: 'udp', sport: 42002, dport: 53, payload: q })],
      [3, BRIDGE, frame(P1, P2, { proto: 'udp', sport: 42002, dport: 53, payload: q })],
      [3, BRIDGE, frame(HOST, P2, { proto: 'tcp', sport: 42003, dport: 8080, flags: ACK | PSH, payload: req })], // the host itself
      [3, BRIDGE, frame(HOST, P2, { proto: 'udp', sport: 42004, dport: 53, payload: q })],
    ] as const) assert.equal(await cmd(`run ${hook} ${ifindex} ${f.toString('hex')}`), TC_ACT_UNSPEC);
    assert.equal((await loader.command('flush')).err, 0);
    const got = records.slice(start);
    const l7 = got.filter((r): r is DnsRecord | HttpRecord => r.type === 'dns' || r.type === 'http').map((r) => [r.type, r.saddr, r.daddr, r.sport, r.hook]);
    assert.deepEqual(l7, [
      ['http', P1, '10.96.7.7', 42001, 'from_pod'], ['dns', P1, '10.96.7.10', 42002, 'from_pod'],
      ['http', HOST, P2, 42003, 'to_pod'], ['dns', HOST, P2, 42004, 'to_pod'],
    ]);
    const flows = got.filter((r): r is FlowRecord => r.type === 'flow');
    const at = (sport: number, ifindex: number) => flows.find((f) => f.sport === sport && f.ifindex === ifindex);
    assert.deepEqual([at(42001, PORT2)?.daddr, at(42001, PORT2)?.origin, at(42001, PORT2)?.payload], [P2, 'to_pod', [req.length, 0]], 'the backend view is still counted');
    assert.deepEqual(at(42001, PORT2)?.httpHeads, [0, 0], 'and copies nothing');
    assert.deepEqual(at(42001, PORT1)?.httpHeads, [1, 0]);
    assert.equal(at(42002, PORT2)?.payload[0], q.length);
  });

  test('one flow on two CPUs: each CPU has its own slot, the loader sums them and orients the flow by the earliest', { skip: skip || (cpus().length < 2 ? 'needs 2 CPUs' : false) }, async () => {
    // The loader's BPF_PROG_RUN calls run on the loader's CPU: re-pinning it moves the next frames.
    const pin = (cpu: number) => execFileSync('taskset', ['-p', '-c', String(cpu), String(loader.pid)], { stdio: 'ignore' });
    const u = (src: string, dst: string, sp: number, dp: number) => frame(src, dst, { proto: 'udp', sport: sp, dport: dp, payload: Buffer.alloc(10) });
    const t = (src: string, dst: string, sp: number, dp: number, flags: number) => frame(src, dst, { proto: 'tcp', sport: sp, dport: dp, flags });
    try {
      pin(1);
      for (const [f, hook] of [[u(A, B, 5000, 6000), 1], [t(A, B, 47000, 80, SYN), 1]] as const) assert.equal((await loader.command(`run ${hook} 1 ${f.toString('hex')}`)).err, TC_ACT_UNSPEC);
    } finally {
      pin(0);
    }
    // CPU 0 sees the reply first: on its own it would take B for the UDP initiator.
    const r = await run([[u(B, A, 6000, 5000), 2], [u(A, B, 5000, 6000), 1], [t(B, A, 80, 47000, SYN | ACK), 2], [t(A, B, 47000, 80, ACK), 1]]);
    execFileSync('taskset', ['-p', '-c', `0-${cpus().length - 1}`, String(loader.pid)], { stdio: 'ignore' });
    const by = new Map(r.flows.map((f) => [f.proto, f]));
    assert.deepEqual([by.get(17)?.saddr, by.get(17)?.sport, by.get(17)?.origin, by.get(17)?.packets], [A, 5000, 'from_pod', [2, 1]], 'UDP: the first datagram (CPU 1) says who started');
    assert.deepEqual([by.get(6)?.saddr, by.get(6)?.sport, by.get(6)?.packets, by.get(6)?.tcpFlags], [A, 47000, [2, 1], [SYN | ACK, SYN | ACK]], 'TCP summed over both CPUs');
    assert.equal(r.flows.length, 2, 'one record per flow, not per CPU');
  });

  test('keep-alive: at most --http-per-flow heads per direction in each --http-window-ms are copied and counted, the segments between are not looked at', { skip, timeout: 60_000 }, async () => {
    const req = frame(A, B, { proto: 'tcp', sport: 45000, dport: 80, flags: ACK | PSH, payload: Buffer.from('GET /k HTTP/1.1\r\n\r\n') });
    const resp = frame(B, A, { proto: 'tcp', sport: 80, dport: 45000, flags: ACK | PSH, payload: Buffer.from('HTTP/1.1 200 OK\r\n\r\n') });
    // window 0: only the first 4 of the flow; 2 s: 4 in the first burst, 4 more after the window
    // (in jiffies, and with --no-jiffies in ns of the coarse clock)
    for (const [window, clock, want] of [['0', [], 4], ['2000', [], 8], ['2000', ['--no-jiffies'], 8]] as const) {
      // One CPU (the limit is per CPU): taskset pins the loader and so its BPF_PROG_RUN calls.
      const pinned = new LoaderProcess('taskset', { args: ['-c', '0', defaultLoaderPath(), '--prog-run', '--http-per-flow', '4', '--http-window-ms', window, ...clock, ...extra] });
      const got: DecodedRecord[] = [];
      pinned.on('records', (r) => got.push(...r));
      pinned.start();
      try {
        await pinned.ready();
        const burst = async (): Promise<void> => {
          const t0 = Date.now();
          for (let i = 0; i < 6; i++) {
            await pinned.command(`run 1 1 ${req.toString('hex')}`);
            await pinned.command(`run 2 1 ${resp.toString('hex')}`);
          }
          assert.ok(Date.now() - t0 < 1000, 'a burst is well inside one window');
        };
        await burst();
        await new Promise((r) => setTimeout(r, 2100));
        await burst();
        await pinned.command('flush');
        const what = `window ${window} ms ${clock.join(' ')}`;
        const http = got.filter((r): r is HttpRecord => r.type === 'http');
        assert.equal(http.length, 2 * want, `${what}: ${want} requests + ${want} responses copied`);
        assert.deepEqual(http.map((h) => h.data.toString().slice(0, 4)), Array.from({ length: want }, () => ['GET ', 'HTTP']).flat(), `${what}: request, response, in turn`);
        const f = got.filter((r): r is FlowRecord => r.type === 'flow');
        assert.deepEqual(f.map((x) => [x.sport, x.httpHeads, x.packets]), [[45000, [want, want], [12, 12]]], what);
      } finally {
        await pinned.stop();
      }
    }
  });
}

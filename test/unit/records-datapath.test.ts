// The agent's datapath decoders without a kernel: DNS and HTTP parsers (crafted, truncated and
// random input), the DNS matcher and name cache, the service translation join, veth discovery
// parsing, and Datapath.onBatch turning records into Hubble-shaped flows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Datapath } from '../../src/agent/datapath';
import type { DnsRecord, DropRecord, FlowRecord, HttpRecord } from '../../src/agent/datarecords';
import { NameCache, parseDns } from '../../src/agent/dns';
import { HttpMatcher, parseHttpHead } from '../../src/agent/http';
import { parseBridges, parsePodAddrs, parseVeths } from '../../src/agent/interfaces';
import { describeFeatures } from '../../src/agent/features';

function name(n: string): Buffer {
  return Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

function dnsMsg(id: number, flags: number, qname: string, qtype: number, answers: Buffer[] = []): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(answers.length, 6);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(qtype, 0);
  q.writeUInt16BE(1, 2);
  return Buffer.concat([h, name(qname), q, ...answers]);
}

function rr(type: number, ttl: number, rdata: Buffer, owner = Buffer.from([0xc0, 12])): Buffer {
  const f = Buffer.alloc(10);
  f.writeUInt16BE(type, 0);
  f.writeUInt16BE(1, 2);
  f.writeUInt32BE(ttl, 4);
  f.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, f, rdata]);
}

test('DNS: query and answers with compression, CNAME, A and AAAA', () => {
  const q = parseDns(dnsMsg(0x1234, 0x0100, 'web.default.svc.cluster.local', 1));
  assert.deepEqual(q, { id: 0x1234, response: false, opcode: 0, rcode: 0, qname: 'web.default.svc.cluster.local.', qtype: 1, answers: [], truncated: false });
  const v6 = Buffer.from('20010db8000000000000000000000001', 'hex');
  const r = parseDns(dnsMsg(7, 0x8180, 'a.example', 1, [rr(5, 60, name('b.example')), rr(1, 30, Buffer.from([10, 96, 0, 10])), rr(28, 30, v6)]));
  assert.deepEqual(r?.answers, [
    { name: 'a.example.', type: 5, ttl: 60, cname: 'b.example.' },
    { name: 'a.example.', type: 1, ttl: 30, ip: '10.96.0.10' },
    { name: 'a.example.', type: 28, ttl: 30, ip: '2001:db8::1' },
  ]);
  assert.equal(r?.response, true);
  assert.equal(parseDns(dnsMsg(8, 0x8183, 'nope.x', 1))?.rcode, 3);
});

test('DNS: truncated messages keep what is complete; loops, forward pointers and junk are rejected', () => {
  const full = dnsMsg(9, 0x8180, 'a.b', 1, [rr(1, 5, Buffer.from([1, 2, 3, 4])), rr(1, 5, Buffer.from([5, 6, 7, 8]))]);
  for (let n = 0; n < full.length; n++) {
    const m = parseDns(full.subarray(0, n));
    if (n < 12 + 5 + 4) assert.equal(m, undefined, `prefix ${n}: no complete question`);
    else assert.deepEqual([m?.qname, m?.truncated, m?.answers.length], ['a.b.', n < full.length, n >= 21 + 16 ? (n >= 21 + 32 ? 2 : 1) : 0], `prefix ${n}`);
  }
  const loop = dnsMsg(1, 0x8180, 'a', 1, [rr(1, 1, Buffer.alloc(4), Buffer.from([0xc0, 29]))]); // points at itself
  assert.equal(parseDns(loop), undefined, 'a pointer to itself is not DNS');
  const two = Buffer.from(dnsMsg(1, 0x0100, 'a', 1));
  two.writeUInt16BE(2, 4);
  assert.equal(parseDns(two), undefined, 'only single-question messages');
  let seed = 99;
  const rand = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  for (let i = 0; i < 20000; i++) {
    const b = Buffer.from(Array.from({ length: rand(80) }, () => rand(256)));
    if (b.length >= 6 && rand(2)) b.writeUInt16BE(1, 4); // mostly single-question: reach the name parser
    const m = parseDns(b);
    if (m) assert.ok(m.qname.length <= 255 * 4 && m.answers.length <= 16);
  }
});

test('HTTP heads: requests, responses, junk, long paths', () => {
  assert.deepEqual(parseHttpHead(Buffer.from('GET /a?b=1 HTTP/1.1\r\nHost: web\r\n\r\n')), { kind: 'request', method: 'GET', url: '/a?b=1', protocol: 'HTTP/1.1', host: 'web' });
  assert.deepEqual(parseHttpHead(Buffer.from('HTTP/1.0 503 Service Unavailable\r\n')), { kind: 'response', protocol: 'HTTP/1.0', code: 503 });
  for (const junk of ['GET /a HTTP/1.1', 'FETCH / HTTP/1.1\r\n', 'GET / HTTP/2\r\n', 'HTTP/1.1 999 x\r\n', 'GET /\x01 HTTP/1.1\r\n', '']) {
    assert.equal(parseHttpHead(Buffer.from(junk, 'latin1')), undefined, JSON.stringify(junk));
  }
  const long = parseHttpHead(Buffer.from(`POST /${'x'.repeat(300)} HTTP/1.1\r\n`));
  assert.equal(long?.kind === 'request' && long.url.length, 129);
});

test('HttpMatcher: a response answers the request whose ack is its seq; order alone never pairs them', () => {
  const get = (url: string) => ({ kind: 'request' as const, method: 'GET', url, protocol: 'HTTP/1.1' });
  const m = new HttpMatcher();
  // keep-alive: each request acks the end of the previous response
  m.request('c', get('/1'), 100n, 1000);
  assert.equal(m.response('c', 300n, 1000)?.head.url, '/1');
  m.request('c', get('/2'), 400n, 1200);
  assert.deepEqual(m.response('c', 450n, 1200), { head: get('/2'), latencyNs: 50 });
  // /3's response was not captured (its window's budget was spent), /4's was: /4 gets it, /3 is dropped
  m.request('c', get('/3'), 500n, 1400);
  m.request('c', get('/4'), 600n, 1600);
  assert.equal(m.response('c', 650n, 1600)?.head.url, '/4');
  assert.equal(m.response('c', 700n, 1400), undefined, '/3 went with it');
  // /5 was not captured, its response was: no request to pair it with, and /6 is not taken for it
  m.request('c', get('/6'), 900n, 2000);
  assert.equal(m.response('c', 800n, 1800), undefined);
  assert.equal(m.response('c', 950n, 2000)?.head.url, '/6');
  // pipelined: /7 and /8 sent before any answer share one ack; answered in order
  m.request('c', get('/7'), 1000n, 2200);
  m.request('c', get('/8'), 1001n, 2200);
  assert.deepEqual([m.response('c', 1100n, 2200)?.head.url, m.response('c', 1200n, 2300)?.head.url, m.response('c', 1300n, 2400)], ['/7', '/8', undefined]);
  // other connections are apart
  m.request('d', get('/9'), 0n, 7);
  assert.equal(m.response('c', 1n, 7), undefined);
  assert.equal(m.response('d', 1n, 7)?.head.url, '/9');
});

test('name cache: answers feed names until their TTL runs out', () => {
  let now = 0;
  const c = new NameCache(10, () => now);
  const r = parseDns(dnsMsg(1, 0x8180, 'web.ns.svc', 1, [rr(1, 5, Buffer.from([10, 0, 0, 1]))]))!;
  c.learn(r);
  assert.deepEqual(c.lookup('10.0.0.1'), ['web.ns.svc']);
  now = 6000;
  assert.equal(c.lookup('10.0.0.1'), undefined);
});

test('veth discovery keeps host-side veths whose peer is in another netns', () => {
  const json = JSON.stringify([
    { ifindex: 5, ifname: 'flvabc', link_netnsid: 0 }, { ifindex: 6, ifname: 'vethlocal' }, { ifindex: 7, ifname: 'cali1', link_netnsid: 3 }, { ifname: 'bad' },
  ]);
  assert.deepEqual(parseVeths(json), [{ ifindex: 5, ifname: 'flvabc' }, { ifindex: 7, ifname: 'cali1' }]);
  assert.deepEqual(parseVeths(json, /^flv/), [{ ifindex: 5, ifname: 'flvabc' }]);
  assert.throws(() => parseVeths('{}'), /not a JSON array/);
});

test('bridge ports: a veth enslaved to a known bridge carries its ifindex; pod addresses from the neighbour and FDB tables', () => {
  const bridges = parseBridges(JSON.stringify([{ ifindex: 4, ifname: 'cni0' }, { ifname: 'nameless' }]));
  assert.deepEqual([...bridges], [['cni0', 4]]);
  const veths = JSON.stringify([
    { ifindex: 5, ifname: 'veth1', link_netnsid: 0, master: 'cni0', linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' } },
    { ifindex: 6, ifname: 'veth2', link_netnsid: 1, master: 'bond0', linkinfo: { info_kind: 'veth', info_slave_kind: 'bond' } },
    { ifindex: 7, ifname: 'veth3', link_netnsid: 2, master: 'br9', linkinfo: { info_slave_kind: 'bridge' } },
    { ifindex: 8, ifname: 'cali1', link_netnsid: 3 },
  ]);
  assert.deepEqual(parseVeths(veths, undefined, bridges), [
    { ifindex: 5, ifname: 'veth1', bridge: 4 }, { ifindex: 6, ifname: 'veth2' }, { ifindex: 7, ifname: 'veth3' }, { ifindex: 8, ifname: 'cali1' },
  ], 'only a bridge we know; a bond master or a routed veth keeps its own egress');
  assert.deepEqual(parseVeths(veths), parseVeths(veths).map(({ ifindex, ifname }) => ({ ifindex, ifname })), 'without bridges: no bridge field');
  const neigh = JSON.stringify([
    { dst: '10.244.0.5', lladdr: 'AA:bb:cc:00:00:05', state: ['REACHABLE'] },
    { dst: 'fd00::5', lladdr: 'aa:bb:cc:00:00:05', state: ['STALE'] },
    { dst: '10.244.0.6', state: ['FAILED'] },
    { dst: '10.244.0.7', lladdr: 'aa:bb:cc:00:00:07' },
    { dst: 'not-an-ip', lladdr: 'aa:bb:cc:00:00:05' },
  ]);
  const fdb = JSON.stringify([
    { mac: 'aa:bb:cc:00:00:05', ifname: 'veth1', master: 'cni0', state: '' },
    { mac: 'aa:bb:cc:00:00:07', ifname: 'cni0', flags: ['self'], state: 'permanent' },
    { mac: 'aa:bb:cc:00:00:09', ifname: 'vethX', master: 'cni0' },
  ]);
  assert.deepEqual(parsePodAddrs(neigh, fdb, new Map([['veth1', 5]])), [{ ifindex: 5, addr: '10.244.0.5' }, { ifindex: 5, addr: 'fd00::5' }]);
  assert.throws(() => parsePodAddrs('{}', '[]', new Map()), /not a JSON array/);
});

test('feature report: what is off and whether the agent can run', () => {
  const r = describeFeatures({ btf: true, ringbuf: true, tracepoint: true, sock_state_tp: true, kfree_skb_reason: false });
  assert.equal(r.ok, true);
  assert.match(r.off.kfree_skb_reason ?? '', /NOT_SPECIFIED/);
  assert.equal(describeFeatures({ btf: false }).ok, false);
});

const T = 1_700_000_000_000_000_000n;
function flowRec(o: Partial<FlowRecord>): FlowRecord {
  return {
    type: 'flow', event: 'end', firstNs: T, lastNs: T + 1000n, family: 4, proto: 6, saddr: '10.244.0.2', daddr: '10.96.0.20', sport: 40000, dport: 80,
    ifindex: 10, origin: 'from_pod', bytes: [300, 500], payload: [100, 200], packets: [5, 4], tcpFlags: [0x1b, 0x1b], icmpType: 0, icmpCode: 0, httpHeads: [0, 0], ...o,
  };
}

test('Datapath: the two veths of a ClusterIP connection give VIP and backend; DNS names attach', () => {
  const dp = new Datapath('node1');
  const dnsResp: DnsRecord = {
    type: 'dns', timeNs: T - 10n, family: 4, proto: 17, saddr: '10.96.0.10', daddr: '10.244.0.2', sport: 53, dport: 5000, ifindex: 10, hook: 'to_pod', payloadLen: 0, tcpSeq: 0, tcpAck: 0,
    data: dnsMsg(3, 0x8180, 'web.ns.svc.cluster.local', 1, [rr(1, 30, Buffer.from([10, 96, 0, 20]))]),
  };
  const client = flowRec({});
  const server = flowRec({ daddr: '10.244.0.7', dport: 8080, ifindex: 11, origin: 'to_pod' });
  const flows = dp.onBatch([dnsResp, client, server]);
  assert.equal(flows.length, 3);
  const [d, c, s] = flows;
  assert.deepEqual(d!.l7?.dns, { query: 'web.ns.svc.cluster.local.', ips: ['10.96.0.20'], ttl: 30, cnames: [], rcode: 0, rrtypes: ['A'], qtypes: ['A'], observation_source: 'tc' });
  assert.deepEqual([c!.IP.destination, c!.l4.TCP?.destination_port, c!.extensions?.original_destination], ['10.244.0.7', 8080, { ip: '10.96.0.20', port: 80 }]);
  assert.deepEqual(c!.destination_names, ['web.ns.svc.cluster.local']);
  assert.deepEqual([c!.traffic_direction, c!.trace_observation_point, c!.l4.TCP?.flags], ['EGRESS', 'FROM_ENDPOINT', { FIN: true, SYN: true, PSH: true, ACK: true }]);
  assert.deepEqual([c!.extensions?.payload_bytes_sent, c!.extensions?.payload_bytes_received], [100, 200]);
  assert.deepEqual([s!.traffic_direction, s!.extensions?.original_destination], ['INGRESS', { ip: '10.96.0.20', port: 80 }]);
});

test('Datapath: HTTP request/response matched for latency; drops named from the BTF table', () => {
  const dp = new Datapath('node1');
  const http = (data: string, t: bigint, reply: boolean): HttpRecord => ({
    type: 'http', timeNs: t, family: 4, proto: 6, saddr: reply ? '10.0.0.2' : '10.0.0.1', daddr: reply ? '10.0.0.1' : '10.0.0.2', sport: reply ? 80 : 4000,
    dport: reply ? 4000 : 80, ifindex: 3, hook: reply ? 'to_pod' : 'from_pod', payloadLen: data.length,
    tcpSeq: reply ? 5000 : 100, tcpAck: reply ? 100 + data.length : 5000, data: Buffer.from(data),
  });
  const drop: DropRecord = { type: 'drop', timeNs: T, reason: 12, location: 0xffn, family: 4, proto: 6, saddr: '10.0.0.1', daddr: '10.0.0.3', sport: 4001, dport: 9191, ifindex: 4, netns: 1 };
  const flows = dp.onBatch([
    http('GET /x HTTP/1.1\r\nHost: h\r\n\r\n', T, false), http('HTTP/1.1 200 OK\r\n\r\n', T + 5000n, true), http('not http at all\r\n', T, false),
    { type: 'drop_reason', value: 12, name: 'NETFILTER_DROP' }, drop, { ...drop, reason: 104 }, { type: 'drop_reason', value: 104, name: 'QUEUE_PURGE' }, { ...drop, reason: 104 },
  ]);
  assert.deepEqual(flows.map((f) => f.l7?.type ?? f.verdict), ['REQUEST', 'RESPONSE', 'DROPPED', 'DROPPED']);
  assert.deepEqual(flows[1]!.l7, { type: 'RESPONSE', latency_ns: '5000', http: { code: 200, protocol: 'HTTP/1.1', method: 'GET', url: 'http://h/x', headers: [] } });
  assert.equal(flows[2]!.drop_reason_desc, 'NETFILTER_DROP');
  assert.equal(flows[3]!.drop_reason_desc, 'REASON_104', 'unnamed until the table has it; QUEUE_PURGE is then skipped');
  assert.deepEqual(dp.unparsed, { dns: 0, http: 1 });
});

test('isoNs formats like isoFromNs across second boundaries', async () => {
  const { isoNs } = await import('../../src/agent/wire');
  const { isoFromNs } = await import('../../src/flows/time');
  for (const ns of [T, T + 999_999_999n, T + 1_000_000_000n, T + 1n, 0n, 1_000_000_001n, T + 123_456_789_012n]) assert.equal(isoNs(ns), isoFromNs(ns), String(ns));
});

test('Datapath: HTTP at the client\'s interface of a ClusterIP connection names the backend, VIP kept as original destination (original source on the reply)', () => {
  const dp = new Datapath('node1');
  const http = (data: string, at: { s: string; d: string; sp: number; dp: number; hook: 'from_pod' | 'to_pod'; ifindex: number }): HttpRecord => ({
    type: 'http', timeNs: T, family: 4, proto: 6, saddr: at.s, daddr: at.d, sport: at.sp, dport: at.dp, ifindex: at.ifindex, hook: at.hook, payloadLen: data.length,
    tcpSeq: data.startsWith('HTTP/') ? 7000 : 300, tcpAck: data.startsWith('HTTP/') ? 300 + data.length : 7000, data: Buffer.from(data),
  });
  const client = flowRec({ event: 'start' });
  const server = flowRec({ event: 'start', daddr: '10.244.0.7', dport: 8080, ifindex: 11, origin: 'to_pod' });
  const flows = dp.onBatch([
    client, server,
    http('GET /a HTTP/1.1\r\nHost: web\r\n\r\n', { s: '10.244.0.2', d: '10.96.0.20', sp: 40000, dp: 80, hook: 'from_pod', ifindex: 10 }),
    http('GET /a HTTP/1.1\r\nHost: web\r\n\r\n', { s: '10.244.0.2', d: '10.244.0.7', sp: 40000, dp: 8080, hook: 'to_pod', ifindex: 11 }),
    http('HTTP/1.1 200 OK\r\n\r\n', { s: '10.96.0.20', d: '10.244.0.2', sp: 80, dp: 40000, hook: 'to_pod', ifindex: 10 }),
    http('GET /b HTTP/1.1\r\nHost: other\r\n\r\n', { s: '10.244.0.2', d: '10.96.0.99', sp: 40001, dp: 80, hook: 'from_pod', ifindex: 10 }),
  ]);
  const l7 = flows.filter((f) => f.Type === 'L7');
  assert.equal(l7.length, 4);
  const [req, served, resp, untranslated] = l7;
  assert.deepEqual([req!.IP.destination, req!.l4.TCP?.destination_port, req!.extensions?.original_destination], ['10.244.0.7', 8080, { ip: '10.96.0.20', port: 80 }]);
  assert.deepEqual([served!.IP.destination, served!.extensions?.original_destination], ['10.244.0.7', undefined], 'the server\'s own view is already the backend');
  assert.deepEqual([resp!.is_reply, resp!.IP.source, resp!.l4.TCP?.source_port, resp!.extensions?.original_source, resp!.extensions?.original_destination], [true, '10.244.0.7', 8080, { ip: '10.96.0.20', port: 80 }, undefined]);
  assert.deepEqual([untranslated!.IP.destination, untranslated!.extensions?.original_destination], ['10.96.0.99', undefined], 'no join, no guess');
});

test('Datapath: a client port conntrack rewrote (a tuple clash): once the socket view reports it, both ports\' tc views and HTTP messages are one connection', () => {
  const http = (data: string, at: { s: string; d: string; sp: number; dp: number; hook: 'from_pod' | 'to_pod'; ifindex: number }): HttpRecord => ({
    type: 'http', timeNs: data.startsWith('HTTP/') ? T + 9000n : T, family: 4, proto: 6, saddr: at.s, daddr: at.d, sport: at.sp, dport: at.dp, ifindex: at.ifindex, hook: at.hook,
    payloadLen: data.length, tcpSeq: data.startsWith('HTTP/') ? 7000 : 300, tcpAck: data.startsWith('HTTP/') ? 300 + data.length : 7000, data: Buffer.from(data),
  });
  const batch = () => [
    flowRec({ event: 'start', sport: 23436 }), // the client's port: sent to the VIP
    flowRec({ event: 'start', sport: 21883, daddr: '10.244.0.7', dport: 8080, ifindex: 11, origin: 'to_pod' }), // the backend's port: the rewritten one
    http('GET /a HTTP/1.1\r\nHost: web\r\n\r\n', { s: '10.244.0.2', d: '10.96.0.20', sp: 23436, dp: 80, hook: 'from_pod', ifindex: 10 }),
    http('HTTP/1.1 200 OK\r\n\r\n', { s: '10.244.0.7', d: '10.244.0.2', sp: 8080, dp: 21883, hook: 'from_pod', ifindex: 11 }),
  ];
  const before = new Datapath('node1').onBatch(batch());
  assert.deepEqual(before.map((f) => f.extensions?.original_destination ?? f.extensions?.original_source), [undefined, undefined, undefined, undefined], 'no join by port');
  assert.equal(before[3]!.l7?.latency_ns, undefined);
  const dp = new Datapath('node1');
  dp.rewritten('10.244.0.2', 23436, 21883);
  const [c, s, req, resp] = dp.onBatch(batch());
  const vip = { ip: '10.96.0.20', port: 80 };
  assert.deepEqual([c!.IP.destination, c!.l4.TCP?.destination_port, c!.extensions?.original_destination], ['10.244.0.7', 8080, vip], 'the client\'s view names the backend');
  assert.deepEqual([s!.l4.TCP?.source_port, s!.extensions?.original_destination], [21883, vip], 'the backend\'s view names the VIP');
  assert.deepEqual([req!.IP.destination, req!.extensions?.original_destination], ['10.244.0.7', vip]);
  assert.deepEqual([resp!.l7?.latency_ns, (resp!.l7?.http as { url?: string }).url], ['9000', 'http://web/a'], 'the response paired with its request');
  assert.equal(dp.portRewrites, 1);
  // The port dials elsewhere later: a new connection, the old pairing is not carried over.
  const later = dp.onBatch([flowRec({ event: 'start', sport: 23436, daddr: '10.96.0.99' })]);
  assert.equal(later[0]!.extensions?.original_destination, undefined);
  // The client later sends from the rewritten port itself: its response pairs with its own request.
  const own = dp.onBatch([
    http('GET /own HTTP/1.1\r\nHost: web\r\n\r\n', { s: '10.244.0.2', d: '10.244.0.7', sp: 21883, dp: 8080, hook: 'from_pod', ifindex: 10 }),
    http('HTTP/1.1 200 OK\r\n\r\n', { s: '10.244.0.7', d: '10.244.0.2', sp: 8080, dp: 21883, hook: 'from_pod', ifindex: 11 }),
  ]);
  assert.equal((own[1]!.l7?.http as { url?: string }).url, 'http://web/own');
});

test('Datapath: DNS over TCP 53 (length-prefixed): query and answer matched for latency; a continuation segment is counted unparsed', () => {
  const dp = new Datapath('node1');
  const framed = (m: Buffer): Buffer => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m]);
  const rec = (data: Buffer, t: bigint, reply: boolean): DnsRecord => ({
    type: 'dns', timeNs: t, family: 4, proto: 6, saddr: reply ? '10.96.0.10' : '10.244.0.2', daddr: reply ? '10.244.0.2' : '10.96.0.10', sport: reply ? 53 : 41000,
    dport: reply ? 41000 : 53, ifindex: 3, hook: reply ? 'to_pod' : 'from_pod', payloadLen: data.length, tcpSeq: reply ? 9000 : 10, tcpAck: reply ? 10 : 9000, data,
  });
  const answer = dnsMsg(9, 0x8180, 'big.example', 1, [rr(1, 60, Buffer.from([10, 1, 2, 3]))]);
  const flows = dp.onBatch([
    rec(framed(dnsMsg(9, 0x0100, 'big.example', 1)), T, false),
    rec(framed(answer), T + 7000n, true),
    rec(Buffer.from('continuation of a long answer, no prefix'), T + 8000n, true),
  ]);
  assert.deepEqual(flows.map((f) => [f.l7?.type, Object.keys(f.l4)[0]]), [['REQUEST', 'TCP'], ['RESPONSE', 'TCP']]);
  assert.equal(flows[1]!.l7?.latency_ns, '7000', 'matched by id and tuple, as over UDP');
  assert.deepEqual((flows[1]!.l7?.dns as { ips: string[] }).ips, ['10.1.2.3']);
  assert.deepEqual(dp.unparsed, { dns: 1, http: 0 });
  // A message cut by the capture parses as truncated, not as garbage.
  const cut = framed(answer).subarray(0, answer.length - 2);
  const [t] = dp.onBatch([rec(cut, T + 9000n, true)]);
  assert.equal(t?.extensions?.dns_truncated, true);
});

test('Datapath: HTTP requests and replies are joined to their own connection when its client port starts a later one (another backend) within the same batch', () => {
  const http = (data: string, t: bigint, d: string, dp: number): HttpRecord => ({
    type: 'http', timeNs: t, family: 4, proto: 6, saddr: '10.244.0.2', daddr: d, sport: 40000, dport: dp, ifindex: 10, hook: 'from_pod', payloadLen: data.length,
    tcpSeq: 300, tcpAck: 7000, data: Buffer.from(data),
  });
  const conn = (backend: string, at: bigint): FlowRecord[] => [
    flowRec({ event: 'start', firstNs: at, lastNs: at }),
    flowRec({ event: 'start', firstNs: at, lastNs: at, daddr: backend, dport: 8080, ifindex: 11, origin: 'to_pod' }),
  ];
  const reply = (t: bigint): HttpRecord => ({
    type: 'http', timeNs: t, family: 4, proto: 6, saddr: '10.96.0.20', daddr: '10.244.0.2', sport: 80, dport: 40000, ifindex: 10, hook: 'to_pod', payloadLen: 19,
    tcpSeq: 7000, tcpAck: 300, data: Buffer.from('HTTP/1.1 200 OK\r\n\r\n'),
  });
  const batch = [
    ...conn('10.244.0.7', T), http('GET /one HTTP/1.1\r\nHost: web\r\n\r\n', T + 10n, '10.96.0.20', 80), reply(T + 20n),
    ...conn('10.244.0.8', T + 1000n), http('GET /two HTTP/1.1\r\nHost: web\r\n\r\n', T + 1010n, '10.96.0.20', 80), reply(T + 1020n),
  ];
  const inOrder = new Datapath('node1');
  for (const r of batch) inOrder.observe(r); // as the agent does, in record order
  const l7 = inOrder.onBatch(batch, true).filter((f) => f.Type === 'L7');
  assert.deepEqual(l7.map((f) => [f.l7?.type, f.IP.source, f.IP.destination, f.extensions?.original_destination?.ip ?? f.extensions?.original_source?.ip]), [
    ['REQUEST', '10.244.0.2', '10.244.0.7', '10.96.0.20'], ['RESPONSE', '10.244.0.7', '10.244.0.2', '10.96.0.20'],
    ['REQUEST', '10.244.0.2', '10.244.0.8', '10.96.0.20'], ['RESPONSE', '10.244.0.8', '10.244.0.2', '10.96.0.20'],
  ]);
});

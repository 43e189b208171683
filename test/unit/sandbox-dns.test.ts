import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { answer, resolve, startDnsServer } from '../../src/sandbox/dns/server';
import type { ClusterRecords } from '../../src/sandbox/dns/server';
import { decodeResponse, encodeQuery, encodeResponse, parseQuery, RCODE, RR_A, RR_AAAA } from '../../src/sandbox/dns/wire';

const records: ClusterRecords = {
  namespaceExists: (ns) => ['shop', 'data', 'default'].includes(ns),
  serviceIPs: (ns, name) => (ns === 'shop' && name === 'cart' ? ['10.96.0.12'] : ns === 'data' && name === 'headless' ? ['10.244.0.7', '10.244.0.8'] : undefined),
};
const stats = (): { queries: number; malformed: number; refused: number; nxdomain: number } => ({ queries: 0, malformed: 0, refused: 0, nxdomain: 0 });

test('query encode/parse round trip, lower-cased name', () => {
  const r = parseQuery(encodeQuery(0xbeef, 'Cart.Shop.SVC.cluster.local.', RR_A));
  assert.ok(r.ok);
  assert.equal(r.query.id, 0xbeef);
  assert.equal(r.query.rd, true);
  assert.deepEqual(r.query.question, { name: 'cart.shop.svc.cluster.local', type: RR_A, qclass: 1 });
});

test('response carries the question, AA, RD and A answers with a name pointer', () => {
  const q = parseQuery(encodeQuery(7, 'cart.shop.svc.cluster.local', RR_A));
  assert.ok(q.ok);
  const res = decodeResponse(encodeResponse(q.query, RCODE.NOERROR, [{ name: 'x', ttl: 5, ip: '10.96.0.12' }]));
  assert.equal(res.id, 7);
  assert.ok(res.qr && res.aa);
  assert.equal(res.question?.name, 'cart.shop.svc.cluster.local');
  assert.deepEqual(res.answers, [{ type: RR_A, ttl: 5, data: '10.96.0.12' }]);
});

test('resolution table', () => {
  const table: [string, number, number, string[]][] = [
    ['cart.shop.svc.cluster.local', RR_A, RCODE.NOERROR, ['10.96.0.12']],
    ['cart.shop.svc.cluster.local.', RR_A, RCODE.NOERROR, ['10.96.0.12']],
    ['cart.shop.svc.cluster.local', RR_AAAA, RCODE.NOERROR, []],
    ['headless.data.svc.cluster.local', RR_A, RCODE.NOERROR, ['10.244.0.7', '10.244.0.8']],
    ['nope.shop.svc.cluster.local', RR_A, RCODE.NXDOMAIN, []],
    ['cart.other.svc.cluster.local', RR_A, RCODE.NXDOMAIN, []],
    ['cart.shop.svc.cluster.local.shop.svc.cluster.local', RR_A, RCODE.NXDOMAIN, []],
    ['10-244-0-5.shop.pod.cluster.local', RR_A, RCODE.NOERROR, ['10.244.0.5']],
    ['10-244-0-500.shop.pod.cluster.local', RR_A, RCODE.NXDOMAIN, []],
    ['10-244-0-5.nons.pod.cluster.local', RR_A, RCODE.NXDOMAIN, []],
    ['shop.svc.cluster.local', RR_A, RCODE.NOERROR, []],
    ['cluster.local', RR_A, RCODE.NOERROR, []],
    ['example.com', RR_A, RCODE.REFUSED, []],
    ['notcluster.local', RR_A, RCODE.REFUSED, []],
  ];
  for (const [name, type, rcode, ips] of table) {
    const r = resolve(records, name, type);
    assert.equal(r.rcode, rcode, name);
    assert.deepEqual(r.answers.map((a) => a.ip), ips, name);
  }
});

function withHeader(id: number, flags: number, counts: number[], body: number[]): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + i * 2));
  return Buffer.concat([h, Buffer.from(body)]);
}

test('malformed packets: dropped when no header, FORMERR/NOTIMP otherwise', () => {
  const q = [3, 0x61, 0x62, 0x63, 0, 0, 1, 0, 1];
  const cases: [string, Buffer, number | undefined][] = [
    ['empty', Buffer.alloc(0), undefined],
    ['short header', Buffer.from([1, 2, 3]), undefined],
    ['a response (QR set)', withHeader(1, 0x8000, [1, 0, 0, 0], q), undefined],
    ['opcode 2', withHeader(1, 2 << 11, [1, 0, 0, 0], q), RCODE.NOTIMP],
    ['two questions', withHeader(1, 0, [2, 0, 0, 0], [...q, ...q]), RCODE.FORMERR],
    ['no question', withHeader(1, 0, [0, 0, 0, 0], []), RCODE.FORMERR],
    ['answers in a query', withHeader(1, 0, [1, 1, 0, 0], q), RCODE.FORMERR],
    ['label past the end', withHeader(1, 0, [1, 0, 0, 0], [10, 0x61]), RCODE.FORMERR],
    ['no root label', withHeader(1, 0, [1, 0, 0, 0], [1, 0x61]), RCODE.FORMERR],
    ['compression pointer loop', withHeader(1, 0, [1, 0, 0, 0], [0xc0, 12, 0, 1, 0, 1]), RCODE.FORMERR],
    ['type/class truncated', withHeader(1, 0, [1, 0, 0, 0], [1, 0x61, 0, 0, 1]), RCODE.FORMERR],
    ['control byte in label', withHeader(1, 0, [1, 0, 0, 0], [1, 0x0a, 0, 0, 1, 0, 1]), RCODE.FORMERR],
    ['dot in label', withHeader(1, 0, [1, 0, 0, 0], [3, 0x61, 0x2e, 0x62, 0, 0, 1, 0, 1]), RCODE.FORMERR],
    ['name over 255 bytes', withHeader(1, 0, [1, 0, 0, 0], [...Array.from({ length: 5 }, () => [63, ...Array(63).fill(0x61)]).flat(), 0, 0, 1, 0, 1]), RCODE.FORMERR],
  ];
  for (const [what, pkt, rcode] of cases) {
    const s = stats();
    const out = answer(records, pkt, s);
    assert.equal(s.malformed, 1, what);
    if (rcode === undefined) assert.equal(out, undefined, what);
    else {
      assert.ok(out, what);
      const res = decodeResponse(out);
      assert.equal(res.rcode, rcode, what);
      assert.equal(res.id, 1, what);
      assert.equal(res.answers.length, 0, what);
    }
  }
});

test('fuzz: random packets never throw and never produce answers', () => {
  let seed = 42;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let i = 0; i < 3000; i++) {
    const pkt = Buffer.from(Array.from({ length: rnd() % 80 }, () => rnd() & 255));
    const out = answer(records, pkt, stats());
    if (out) assert.equal(out.readUInt16BE(6), pkt.length >= 12 && parseQuery(pkt).ok ? out.readUInt16BE(6) : 0);
  }
});

test('server answers over UDP and TCP on loopback', async (t) => {
  const server = await startDnsServer({ host: '127.0.0.1', port: 0, records });
  t.after(() => server.close());
  const udp = createSocket('udp4');
  t.after(() => udp.close());
  const udpReply = await new Promise<Buffer>((res, rej) => {
    udp.once('message', res);
    udp.once('error', rej);
    udp.send(encodeQuery(11, 'cart.shop.svc.cluster.local', RR_A), server.port, '127.0.0.1');
  });
  assert.deepEqual(decodeResponse(udpReply).answers.map((a) => a.data), ['10.96.0.12']);
  const tcpReply = await new Promise<Buffer>((res, rej) => {
    const s = connect(server.port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    s.on('data', (b: Buffer) => { buf = Buffer.concat([buf, b]); if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { s.destroy(); res(buf.subarray(2)); } });
    s.on('error', rej);
    const q = encodeQuery(12, 'example.com', RR_A);
    s.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]));
  });
  const r = decodeResponse(tcpReply);
  assert.equal(r.id, 12);
  assert.equal(r.rcode, RCODE.REFUSED);
  assert.equal(server.stats.queries, 2);
  assert.equal(server.stats.refused, 1);
});

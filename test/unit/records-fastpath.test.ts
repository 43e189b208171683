// The agent's decode fast paths against their plain counterparts: cached address strings,
// cheap bigint timestamps, cached ISO times, the FLOW shortcut (still validated), the bounded
// translation join and the shared, frozen endpoints of enrichment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordDecodeError, RecordDecoder } from '../../src/agent/records';
import { RECORD_VERSION } from '../../src/agent/layout';
import type { FlowRecord, TcpEventRecord } from '../../src/agent/records';
import { Retransmits } from '../../src/agent/drops';
import { NameCache } from '../../src/agent/dns';
import type { DnsMessage } from '../../src/agent/dns';
import { TranslationJoin, flowFromRecord } from '../../src/agent/flowrecords';
import { formatAddr, formatIPv4, formatIPv6, isoNs, u64PlusBig } from '../../src/agent/wire';
import { enrichFlow } from '../../src/flows/enrich';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { isoFromNs } from '../../src/flows/time';

/** Deterministic pseudo-random bytes (xorshift32). */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) & 0xff;
  };
}

test('cached address strings equal freshly formatted ones, across collisions and repeats', () => {
  const next = rng(42);
  const addrs: Buffer[] = [];
  for (let i = 0; i < 20_000; i++) {
    const b = Buffer.from(Array.from({ length: 16 }, next));
    if (i % 3 === 0) b.fill(0, 4, 16); // many IPv6 addresses share their tail
    if (i % 5 === 0) b.fill(0, 0, 10);
    addrs.push(b);
  }
  for (let pass = 0; pass < 2; pass++) {
    for (const b of addrs) {
      assert.equal(formatAddr(4, b, 0), formatIPv4(b, 0));
      assert.equal(formatAddr(6, b, 0), formatIPv6(b, 0));
    }
  }
  const a = Buffer.from([10, 244, 0, 5]);
  assert.equal(formatAddr(4, a, 0), formatAddr(4, Buffer.from(a), 0), 'a hit returns the same string');
});

test('u64PlusBig equals readBigUInt64LE + offset on both sides of 2^53', () => {
  const b = Buffer.alloc(8);
  const add = 1_700_000_000_000_000_000n;
  for (const v of [0n, 1n, 0xffffffffn, 0x100000000n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 64n) - 1n, 123_456_789_012_345n]) {
    b.writeBigUInt64LE(v);
    assert.equal(u64PlusBig(b, 0, add), v + add, String(v));
  }
});

test('isoNs equals isoFromNs at ms and s boundaries, forwards and backwards', () => {
  const T = 1_700_000_000_000_000_000n;
  const steps = [0n, 1n, 999n, 1000n, 999_999n, 1_000_000n, 1_000_001n, 999_999_999n, 1_000_000_000n, 60_000_000_123n, 86_400_000_000_000n];
  for (const s of [...steps, ...steps.slice().reverse().map((x) => -x)]) assert.equal(isoNs(T + s), isoFromNs(T + s), String(T + s));
  for (const ns of [5n, 1_000_000_000_000_000n, T]) assert.equal(isoNs(ns), isoFromNs(ns), String(ns));
});

const WALL = 1_700_000_000_000_000_000n;
function hello(): Buffer {
  const b = Buffer.alloc(120);
  b.writeUInt16LE(1, 0);
  b.writeUInt16LE(RECORD_VERSION, 2);
  b.writeUInt32LE(120, 4);
  b.writeBigInt64LE(WALL, 8);
  return b;
}
function flowBytes(sport: number): Buffer {
  const b = Buffer.alloc(128);
  b.writeUInt16LE(4, 0);
  b.writeUInt16LE(RECORD_VERSION, 2);
  b.writeUInt32LE(128, 4);
  b.writeBigUInt64LE(1000n, 8);
  b.writeBigUInt64LE(5000n, 16);
  Buffer.from([10, 244, 0, 5]).copy(b, 72);
  Buffer.from([10, 96, 0, 10]).copy(b, 88);
  b.writeUInt16LE(sport, 108);
  b.writeUInt16LE(80, 110);
  b.set([4, 6, 3, 1], 112); // family, proto, event end, origin from_pod
  return b;
}

test('FLOW records on the fast path are decoded and still validated', () => {
  const recs = new RecordDecoder().push(Buffer.concat([hello(), flowBytes(40000), flowBytes(40001)]));
  const flows = recs.filter((r): r is FlowRecord => r.type === 'flow');
  assert.deepEqual(flows.map((f) => [f.sport, f.saddr, f.daddr, f.event, f.origin, f.firstNs, f.lastNs]), [
    [40000, '10.244.0.5', '10.96.0.10', 'end', 'from_pod', WALL + 1000n, WALL + 5000n],
    [40001, '10.244.0.5', '10.96.0.10', 'end', 'from_pod', WALL + 1000n, WALL + 5000n],
  ]);
  const bad: Array<[string, (b: Buffer) => void, RegExp]> = [
    ['type with a high byte', (b) => b.writeUInt16LE(0x0104, 0), /unknown record type 260/],
    ['version', (b) => b.writeUInt16LE(RECORD_VERSION + 1, 2), new RegExp(`version ${RECORD_VERSION + 1}, expected ${RECORD_VERSION}`)],
    ['length', (b) => b.writeUInt32LE(120, 4), /len 120, expected 128/],
    ['event', (b) => b.writeUInt8(9, 114), /FLOW event 9 unknown/],
    ['family', (b) => b.writeUInt8(5, 112), /FLOW family 5/],
    ['counter', (b) => b.writeBigUInt64LE(1n << 62n, 56), /too large/],
  ];
  for (const [what, edit, message] of bad) {
    const f = flowBytes(1);
    edit(f);
    assert.throws(() => new RecordDecoder().push(Buffer.concat([hello(), flowBytes(2), f])), (e: unknown) =>
      e instanceof RecordDecodeError && message.test(e.message) && e.streamOffset === 248 && e.records.length === 2, what);
  }
  assert.throws(() => new RecordDecoder().push(flowBytes(1)), /record type 4 before HELLO/);
});

function rec(o: Partial<FlowRecord>): FlowRecord {
  return {
    type: 'flow', event: 'end', firstNs: WALL, lastNs: WALL + 1000n, family: 4, proto: 6, saddr: '10.244.0.2', daddr: '10.96.0.20', sport: 40000, dport: 80,
    ifindex: 10, origin: 'from_pod', bytes: [1, 2], payload: [0, 0], packets: [1, 1], tcpFlags: [2, 18], icmpType: 0, icmpCode: 0, httpHeads: [0, 0], ...o,
  };
}

test('translation join: bounded (oldest out), expiring, keyed by proto, address and port', () => {
  let now = 0;
  const j = new TranslationJoin(3, () => now);
  const pair = (sport: number, proto = 6): void => {
    j.observe(rec({ sport, proto }));
    j.observe(rec({ sport, proto, daddr: '10.244.0.7', dport: 8080, origin: 'to_pod' }));
  };
  pair(1);
  pair(2);
  pair(3, 17);
  assert.deepEqual(j.lookup(rec({ sport: 1 }))?.backend, { ip: '10.244.0.7', port: 8080 });
  assert.equal(j.lookup(rec({ sport: 3 })), undefined, 'UDP port 3 is not TCP port 3');
  assert.ok(j.lookup(rec({ sport: 3, proto: 17 })));
  pair(4);
  assert.equal(j.entries, 3);
  assert.equal(j.lookup(rec({ sport: 1 })), undefined, 'the oldest entry went');
  assert.ok(j.lookup(rec({ sport: 4 })));
  now = 120_001;
  assert.equal(j.lookup(rec({ sport: 4 })), undefined, 'expired');
  assert.equal(j.entries, 2);
  assert.equal(j.lookup(rec({ sport: 9, proto: 1 })), undefined);
});

function pod(name: string, ip: string): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod', status: { podIP: ip },
    metadata: { name, namespace: 'shop', uid: name, labels: { app: name }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid: 's', controller: true }] },
  };
}

test('enrichment shares one frozen endpoint per pod object and merges into known fields', () => {
  let web = pod('web', '10.244.0.2');
  const index = { podByIP: (ip: string) => (ip === '10.244.0.2' ? web : undefined) };
  const a = enrichFlow(flowFromRecord(rec({}), 'n1'), index);
  const b = enrichFlow(flowFromRecord(rec({ sport: 2 }), 'n1'), index);
  assert.equal(a.source, b.source, 'shared');
  assert.deepEqual(a.source, { namespace: 'shop', pod_name: 'web', labels: ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=shop'], workloads: [{ name: 'web', kind: 'StatefulSet' }] });
  assert.ok(Object.isFrozen(a.source) && Object.isFrozen(a.source.labels) && Object.isFrozen(a.source.workloads?.[0]));
  assert.throws(() => { (a.source.labels as string[]).push('x'); }, TypeError);
  assert.deepEqual(a.destination, {}, 'unknown destination');
  assert.ok(Object.isFrozen(a.destination));
  const known = flowFromRecord(rec({}), 'n1');
  known.source = { namespace: 'other', ID: 7 };
  assert.deepEqual(enrichFlow(known, index).source, { ...a.source, namespace: 'other', ID: 7 }, 'what is set wins');
  web = pod('web', '10.244.0.2');
  web.metadata.labels = { app: 'web2' };
  assert.deepEqual(enrichFlow(flowFromRecord(rec({}), 'n1'), index).source.labels, ['k8s:app=web2', 'k8s:io.kubernetes.pod.namespace=shop'], 'a changed pod object is a new endpoint');
});

test('retransmits are taken once per connection, in either orientation, past the port prefilter', () => {
  const rt = new Retransmits();
  const ev = (sport: number, dport: number): TcpEventRecord => ({
    type: 'tcp_event', kind: 'retransmit', timeNs: WALL, skaddr: 1n, family: 4, saddr: '10.244.0.2', daddr: '10.244.0.7', sport, dport, netns: 1, state: 1,
  });
  rt.add(ev(40000, 8080));
  rt.add(ev(40000, 8080));
  rt.add(ev(8080, 40001)); // seen from the server's socket
  assert.equal(rt.take('10.244.0.2', 40000, '10.244.0.9', 8080), 0, 'other peer');
  assert.equal(rt.take('10.244.0.2', 40002, '10.244.0.7', 8080), 0, 'other port');
  assert.equal(rt.take('10.244.0.2', 40000, '10.244.0.7', 8080), 2);
  assert.equal(rt.take('10.244.0.2', 40000, '10.244.0.7', 8080), 0, 'taken');
  assert.equal(rt.take('10.244.0.7', 40001, '10.244.0.2', 8080), 1, 'reverse orientation');
  rt.add(ev(40003, 8080));
  assert.equal(rt.take('10.244.0.2', 40003, '10.244.0.7', 8080), 1, 'after the port set was cleared');
});

test('name cache: one frozen, sorted name list per address until a new name arrives', () => {
  const names = new NameCache();
  const answer = (qname: string): DnsMessage => ({ id: 1, response: true, opcode: 0, rcode: 0, qname, qtype: 1, answers: [{ name: qname, type: 1, ttl: 30, ip: '10.96.0.20' }], truncated: false });
  names.learn(answer('web.shop.svc.cluster.local.'));
  const a = names.lookup('10.96.0.20');
  assert.deepEqual(a, ['web.shop.svc.cluster.local']);
  assert.equal(names.lookup('10.96.0.20'), a, 'shared');
  assert.ok(Object.isFrozen(a));
  names.learn(answer('web.shop.svc.cluster.local.'));
  assert.equal(names.lookup('10.96.0.20'), a, 'the same name again changes nothing');
  names.learn(answer('api.shop.svc.cluster.local.'));
  assert.deepEqual(names.lookup('10.96.0.20'), ['api.shop.svc.cluster.local', 'web.shop.svc.cluster.local']);
});

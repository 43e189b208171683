// The store keeps flows packed into columns (src/flows/packed.ts): every flow the agent builds comes
// back from a query equal to what was stored, key order included (the JSON text is the same), and the
// agent's common flows (tc, socket, HTTP) are the ones actually packed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Datapath } from '../../src/agent/datapath';
import type { DnsRecord, DropRecord, FlowRecord, HttpRecord } from '../../src/agent/datarecords';
import { TcpFlowBuilder } from '../../src/agent/tcpflows';
import type { TcpState, TcpStateRecord } from '../../src/agent/records';
import { enrichFlow } from '../../src/flows/enrich';
import type { Flow } from '../../src/flows/flow';
import { PackedFlows } from '../../src/flows/packed';
import { FlowRing } from '../../src/flows/store';
import { pod, service } from '../helpers/builders';

const T = 1_700_000_000_000_000_000n;
function flowRec(o: Partial<FlowRecord>): FlowRecord {
  return {
    type: 'flow', event: 'end', firstNs: T, lastNs: T + 1000n, family: 4, proto: 6, saddr: '10.244.0.2', daddr: '10.96.0.20', sport: 40000, dport: 80,
    ifindex: 10, origin: 'from_pod', bytes: [300, 500], payload: [100, 200], packets: [5, 4], tcpFlags: [0x1b, 0x1b], icmpType: 0, icmpCode: 0, httpHeads: [0, 0], ...o,
  };
}
function http(data: string, t: bigint, at: { s: string; d: string; sp: number; dp: number; hook: 'from_pod' | 'to_pod'; ifindex: number }): HttpRecord {
  const resp = data.startsWith('HTTP/');
  return {
    type: 'http', timeNs: t, family: 4, proto: 6, saddr: at.s, daddr: at.d, sport: at.sp, dport: at.dp, ifindex: at.ifindex, hook: at.hook, payloadLen: data.length,
    tcpSeq: resp ? 7000 : 300, tcpAck: resp ? 300 + data.length : 7000, data: Buffer.from(data),
  };
}
function sock(sk: bigint, oldState: TcpState, newState: TcpState, saddr: string, sport: number, daddr: string, dport: number, mono: bigint): TcpStateRecord {
  return { type: 'tcp_state', timeNs: T + mono, monoNs: mono, skaddr: sk, netns: 4026531840, pid: 77, tid: 77, comm: 'curl', family: 4, saddr, daddr, sport, dport, oldState, newState } as TcpStateRecord;
}

const client = pod('shop', 'client-0', '10.244.0.2', { labels: { app: 'client' } });
const backend = pod('shop', 'web-abc12-xyz', '10.244.0.7', { labels: { app: 'web', 'pod-template-hash': 'abc12' }, owner: { kind: 'ReplicaSet', name: 'web-abc12' } });
const svc = service('shop', 'web', '10.96.0.20');
const index = { podByIP: (ip: string) => [client, backend].find((p) => p.status.podIP === ip), serviceByClusterIP: (ip: string) => (ip === '10.96.0.20' ? svc : undefined) };

/** Flows as the agent builds and enriches them: tc (TCP with a Service and DNS names, UDP, ICMP, another protocol), HTTP, DNS, drops, socket flows. */
async function agentFlows(): Promise<Flow[]> {
  const dp = new Datapath('node1');
  const dnsResp: DnsRecord = {
    type: 'dns', timeNs: T - 10n, family: 4, proto: 17, saddr: '10.96.0.10', daddr: '10.244.0.2', sport: 53, dport: 5000, ifindex: 10, hook: 'to_pod', payloadLen: 0, tcpSeq: 0, tcpAck: 0,
    data: Buffer.from('00038180000100010000000003776562027368037376630000010001037765620273680373766300000100010000001e00040a600014', 'hex'),
  };
  const drop: DropRecord = { type: 'drop', timeNs: T, reason: 12, location: 0xffn, family: 4, proto: 6, saddr: '10.244.0.2', daddr: '10.244.0.3', sport: 4001, dport: 9191, ifindex: 4, netns: 1 };
  const out = dp.onBatch([
    dnsResp,
    flowRec({ event: 'start' }), flowRec({ event: 'start', daddr: '10.244.0.7', dport: 8080, ifindex: 11, origin: 'to_pod' }),
    http('GET /a?x=1 HTTP/1.1\r\nHost: web\r\n\r\n', T + 10n, { s: '10.244.0.2', d: '10.96.0.20', sp: 40000, dp: 80, hook: 'from_pod', ifindex: 10 }),
    http('HTTP/1.1 404 Not Found\r\n\r\n', T + 5000n, { s: '10.96.0.20', d: '10.244.0.2', sp: 80, dp: 40000, hook: 'to_pod', ifindex: 10 }),
    http('HTTP/1.0 200 OK\r\n\r\n', T + 6000n, { s: '10.244.0.9', d: '10.244.0.2', sp: 80, dp: 41000, hook: 'to_pod', ifindex: 10 }), // no request seen
    flowRec({ httpHeads: [1, 1] }), flowRec({ event: 'end', daddr: '10.244.0.7', dport: 8080, ifindex: 11, origin: 'to_pod' }),
    flowRec({ proto: 17, sport: 5000, dport: 53, daddr: '10.96.0.10', tcpFlags: [0, 0] }),
    flowRec({ proto: 1, sport: 0, dport: 0, icmpType: 8, icmpCode: 0, daddr: '10.244.0.9' }),
    flowRec({ proto: 58, family: 6, saddr: 'fd00::2', daddr: 'fd00::9', sport: 0, dport: 0, icmpType: 128 }),
    flowRec({ proto: 47, sport: 0, dport: 0, daddr: '10.244.0.9' }),
    { type: 'drop_reason', value: 12, name: 'NETFILTER_DROP' }, drop,
  ]);
  const b = new TcpFlowBuilder('node1', {
    translated: async (_s: string, _sp: number, d: string, p: number) => (d === '10.96.0.20' && p === 80 ? { ip: '10.244.0.7', port: 8080 } : undefined),
    original: async (p: string, pp: number) => (p === '10.244.0.2' && pp === 40000 ? { ip: '10.96.0.20', port: 80 } : undefined),
  });
  await b.onRecord(sock(1n, 'CLOSE', 'SYN_SENT', '10.244.0.2', 0, '10.96.0.20', 80, 100n));
  for (const r of [
    sock(1n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.2', 40000, '10.96.0.20', 80, 600n), sock(2n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 8080, '10.244.0.2', 40000, 650n),
    sock(1n, 'FIN_WAIT2', 'CLOSE', '10.244.0.2', 40000, '10.96.0.20', 80, 1600n), sock(2n, 'LAST_ACK', 'CLOSE', '10.244.0.7', 8080, '10.244.0.2', 40000, 1700n),
  ]) {
    const f = await b.onRecord(r);
    if (f) out.push(f);
  }
  return out.map((f) => enrichFlow(f, index));
}

function roundTrip(flows: Flow[], capacity = flows.length): { back: Flow[]; packed: boolean[] } {
  const p = new PackedFlows(capacity);
  const back: Flow[] = [], packed: boolean[] = [];
  flows.forEach((f, i) => {
    p.set(i % capacity, f);
    back.push(p.get(i % capacity));
    packed.push(p.packed(i % capacity));
  });
  return { back, packed };
}

test('packed store: every kind of flow the agent builds comes back equal, key order included; tc, socket and HTTP flows are packed', async () => {
  const flows = await agentFlows();
  const { back, packed } = roundTrip(flows);
  for (let i = 0; i < flows.length; i++) {
    assert.deepStrictEqual(back[i], flows[i], `flow ${i}`);
    assert.equal(JSON.stringify(back[i]), JSON.stringify(flows[i]), `flow ${i}: the same JSON`);
  }
  const kind = (f: Flow) => (f.verdict === 'DROPPED' ? 'drop' : f.l7?.dns ? 'dns' : f.l7 ? 'http' : f.trace_observation_point === 'SOCK' ? 'socket' : 'tc');
  const byKind = new Map<string, boolean[]>();
  flows.forEach((f, i) => byKind.set(kind(f), [...(byKind.get(kind(f)) ?? []), packed[i]!]));
  assert.deepEqual(Object.fromEntries([...byKind].map(([k, v]) => [k, v.every(Boolean) ? 'packed' : v.some(Boolean) ? 'mixed' : 'object'])),
    { dns: 'object', tc: 'packed', http: 'packed', drop: 'object', socket: 'packed' });
  assert.equal(byKind.get('socket')?.length, 4, 'connect, accept and two closes');
  assert.ok(flows.some((f) => f.destination_service && f.destination_names && f.extensions?.original_destination && f.l4.TCP?.flags), 'a tc flow with a Service, DNS names, a VIP and flags');
  assert.ok(flows.some((f) => f.l4.ICMPv6) && flows.some((f) => f.l4.UDP) && flows.some((f) => Object.keys(f.l4).length === 0));
});

test('packed store: a flow with anything the layout does not know is kept whole, equal to itself', async () => {
  const [, tc] = await agentFlows();
  const variants: Flow[] = [
    { ...tc!, uuid: 'u-1' },
    { ...tc!, extensions: { ...tc!.extensions, policy: { allowed: false } } },
    { ...tc!, extensions: { ...tc!.extensions, ifindex: '10' as unknown as number } },
    { ...tc!, IP: { ...tc!.IP, encrypted: true } as Flow['IP'] },
    { ...tc!, l4: { TCP: { source_port: 1, destination_port: 2, flags: { SYN: true } }, UDP: { source_port: 1, destination_port: 2 } } },
    { ...tc!, l4: { TCP: { source_port: 1, destination_port: 2, window: 9 } as never } },
    { ...tc!, Summary: undefined },
    { ...tc!, destination_service: { name: 'a', namespace: 'b', kind: 'x' } as never },
    { ...tc!, l7: { type: 'REQUEST', http: { method: 'GET', url: '/', protocol: 'HTTP/1.1', headers: [{ key: 'a', value: 'b' }] } } },
    { ...tc!, l7: { type: 'REQUEST', http: { url: '/', method: 'GET', protocol: 'HTTP/1.1', headers: [] } } },
    { ...tc!, l7: { type: 'REQUEST', http: { method: 'GET', url: '/', headers: [] } } },
    { ...tc!, l7: { type: 'RESPONSE', http: { code: 200, protocol: 'HTTP/1.1', headers: [] }, kafka: {} } },
    { ...tc!, time: 5 as unknown as string },
  ];
  const { back, packed } = roundTrip(variants);
  variants.forEach((f, i) => {
    assert.equal(packed[i], false, `variant ${i} is kept whole`);
    assert.equal(JSON.stringify(back[i]), JSON.stringify(f), `variant ${i}`);
  });
  // Known keys in another order are packed; they come back in the canonical order.
  const reordered = { ...tc!, l7: { http: { method: 'GET', url: '/', protocol: 'HTTP/1.1', headers: [] }, type: 'REQUEST' } };
  const r = roundTrip([reordered]);
  assert.deepStrictEqual(r.back[0], reordered, 'equal as an object; its l7 keys come back in canonical order');
});

test('packed store: a slot reused by a flow of another shape keeps nothing of the previous one; reads are copies', async () => {
  const flows = await agentFlows();
  const mixed = [...flows, ...flows.slice().reverse(), ...flows];
  const { back } = roundTrip(mixed, 3);
  mixed.forEach((f, i) => assert.equal(JSON.stringify(back[i]), JSON.stringify(f), `push ${i}`));
  const ring = new FlowRing(4);
  for (const f of flows) ring.push(f);
  const got = ring.last(4);
  assert.deepStrictEqual(got, flows.slice(-4).sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0)));
  got[0]!.IP.source = 'changed';
  (got[0]!.extensions as Record<string, unknown>).x = 1;
  assert.notEqual(ring.last(4)[0]!.IP.source, 'changed', 'a reader cannot change what is stored');
  const t = flows[1]!.time;
  assert.ok(ring.query({ since: t, until: t }).every((f) => f.time === t));
});

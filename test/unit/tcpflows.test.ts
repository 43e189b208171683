import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlowBuilder } from '../../src/agent/tcpflows';
import type { TcpStateRecord, TcpState } from '../../src/agent/records';
import type { Flow } from '../../src/flows/flow';

function rec(sk: bigint, oldState: TcpState, newState: TcpState, saddr: string, sport: number, daddr: string, dport: number, mono: bigint): TcpStateRecord {
  return { type: 'tcp_state', timeNs: 1_700_000_000_000_000_000n + mono, monoNs: mono, skaddr: sk, netns: 1, pid: 1, tid: 1, comm: 'x', family: 4, saddr, daddr, sport, dport, oldState, newState } as TcpStateRecord;
}

const lookup = {
  translated: async (_s: string, _sp: number, d: string, dp: number) => (d === '10.96.0.20' && dp === 80 ? { ip: '10.244.0.7', port: 8080 } : undefined),
  original: async (p: string, pp: number, l: string, lp: number) => (p === '10.244.0.5' && pp === 40000 && l === '10.244.0.7' && lp === 8080 ? { ip: '10.96.0.20', port: 80 } : undefined),
};

test('a connection through a VIP gives connect, accept and close flows oriented client → backend', async () => {
  const b = new TcpFlowBuilder('node-1', lookup);
  assert.equal(await b.onRecord(rec(1n, 'CLOSE', 'SYN_SENT', '10.244.0.5', 0, '10.96.0.20', 80, 100n)), undefined);
  const connect = await b.onRecord(rec(1n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40000, '10.96.0.20', 80, 600n));
  const accept = await b.onRecord(rec(2n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 8080, '10.244.0.5', 40000, 650n));
  const close = await b.onRecord(rec(1n, 'FIN_WAIT2', 'CLOSE', '10.244.0.5', 40000, '10.96.0.20', 80, 1600n));
  assert.deepEqual([connect?.IP.source, connect?.IP.destination, connect?.l4.TCP?.destination_port], ['10.244.0.5', '10.244.0.7', 8080]);
  assert.deepEqual(connect?.extensions?.original_destination, { ip: '10.96.0.20', port: 80 });
  assert.equal(connect?.extensions?.connect_latency_ns, 500);
  assert.equal(connect?.traffic_direction, 'EGRESS');
  assert.deepEqual([accept?.IP.source, accept?.l4.TCP?.source_port, accept?.IP.destination], ['10.244.0.5', 40000, '10.244.0.7']);
  assert.deepEqual(accept?.extensions?.original_destination, { ip: '10.96.0.20', port: 80 });
  assert.equal(accept?.traffic_direction, 'INGRESS');
  assert.equal(close?.extensions?.tcp_event, 'close');
  assert.equal(close?.extensions?.duration_ns, 1500);
  assert.deepEqual(close?.l4.TCP?.flags, { FIN: true });
  assert.equal(b.tracked, 1, 'the server socket is still open');
});

test('a refused connect is connect_failed; loopback and unknown closes make no flow', async () => {
  const b = new TcpFlowBuilder('node-1', lookup);
  await b.onRecord(rec(3n, 'CLOSE', 'SYN_SENT', '10.244.0.5', 0, '10.244.0.9', 81, 0n));
  const failed = await b.onRecord(rec(3n, 'SYN_SENT', 'CLOSE', '10.244.0.5', 41000, '10.244.0.9', 81, 10n));
  assert.equal(failed?.extensions?.tcp_event, 'connect_failed');
  assert.deepEqual(failed?.l4.TCP?.flags, { SYN: true, RST: true });
  assert.equal(await b.onRecord(rec(4n, 'SYN_SENT', 'ESTABLISHED', '127.0.0.1', 5, '127.0.0.1', 6, 0n)), undefined);
  assert.equal(await b.onRecord(rec(5n, 'ESTABLISHED', 'CLOSE', '10.244.0.5', 1, '10.244.0.6', 2, 0n)), undefined);
  assert.equal(b.tracked, 0);
});

test('answers the table at hand can give come at once, without a promise; a lookup that waits for a read gives one', async () => {
  let release!: () => void;
  const read = new Promise<void>((r) => (release = r));
  const slow = {
    translated: (_s: string, _sp: number, d: string) => (d === '10.96.0.20' ? read.then(() => ({ ip: '10.244.0.7', port: 8080 })) : undefined),
    original: () => undefined,
  };
  const b = new TcpFlowBuilder('node-1', slow);
  assert.equal(b.onRecord(rec(9n, 'CLOSE', 'SYN_SENT', '10.244.0.5', 0, '10.244.0.9', 81, 700n)), undefined);
  const other = b.onRecord(rec(9n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 41000, '10.244.0.9', 81, 800n)) as Flow;
  assert.ok(!(other instanceof Promise), 'answered from the table at hand');
  assert.equal(other.IP.destination, '10.244.0.9');
  assert.equal((b.onRecord(rec(9n, 'FIN_WAIT2', 'CLOSE', '10.244.0.5', 41000, '10.244.0.9', 81, 900n)) as Flow).extensions?.tcp_event, 'close');
  const connect = b.onRecord(rec(1n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40000, '10.96.0.20', 80, 600n));
  assert.ok(connect instanceof Promise, 'the VIP connect waits for the read');
  release();
  assert.equal((await connect)?.IP.destination, '10.244.0.7');
  const close = b.onRecord(rec(1n, 'FIN_WAIT2', 'CLOSE', '10.244.0.5', 40000, '10.96.0.20', 80, 1600n)) as Flow;
  assert.deepEqual([close.IP.destination, close.extensions?.original_destination], ['10.244.0.7', { ip: '10.96.0.20', port: 80 }], 'the close carries what the connect found');
});

test('a connection dialled straight to a local pod needs no lookup at either end; others still ask', () => {
  const asked: string[] = [];
  const counting = {
    translated: (s: string, sp: number, d: string, dp: number) => { asked.push(`translated ${s}:${sp}>${d}:${dp}`); return undefined; },
    original: (p: string, pp: number, l: string, lp: number) => { asked.push(`original ${p}:${pp}>${l}:${lp}`); return undefined; },
    untranslated: (ip: string) => ip === '10.244.0.7' || ip === '10.244.0.5',
  };
  const b = new TcpFlowBuilder('node-1', counting);
  b.onRecord(rec(1n, 'CLOSE', 'SYN_SENT', '10.244.0.5', 0, '10.244.0.7', 8080, 100n));
  const connect = b.onRecord(rec(1n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40000, '10.244.0.7', 8080, 600n)) as Flow;
  const accept = b.onRecord(rec(2n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 8080, '10.244.0.5', 40000, 650n)) as Flow;
  assert.deepEqual(asked, [], 'no lookup for a pod dialled directly, nor for its accept');
  assert.deepEqual([connect.IP.destination, connect.l4.TCP?.destination_port, connect.extensions?.connect_latency_ns, connect.extensions?.original_destination], ['10.244.0.7', 8080, 500, undefined]);
  assert.deepEqual([accept.IP.source, accept.l4.TCP?.source_port, accept.extensions?.original_destination], ['10.244.0.5', 40000, undefined]);
  // Another peer, or the same client end to another server end: the accept asks conntrack.
  b.onRecord(rec(3n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 8080, '10.244.0.9', 40000, 700n));
  b.onRecord(rec(4n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 9090, '10.244.0.5', 40000, 700n));
  // After the client's close its end may be reused: an accept from it asks again.
  b.onRecord(rec(1n, 'FIN_WAIT2', 'CLOSE', '10.244.0.5', 40000, '10.244.0.7', 8080, 800n));
  b.onRecord(rec(5n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 8080, '10.244.0.5', 40000, 900n));
  // A Service address is not a pod's: translated() is asked, at connect and at a refused connect.
  b.onRecord(rec(6n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40001, '10.96.0.20', 80, 900n));
  b.onRecord(rec(7n, 'SYN_SENT', 'CLOSE', '10.244.0.5', 40002, '10.96.0.20', 81, 900n));
  assert.equal((b.onRecord(rec(8n, 'SYN_SENT', 'CLOSE', '10.244.0.5', 40003, '10.244.0.7', 81, 900n)) as Flow).extensions?.tcp_event, 'connect_failed');
  assert.deepEqual(asked, [
    'original 10.244.0.9:40000>10.244.0.7:8080', 'original 10.244.0.5:40000>10.244.0.7:9090', 'original 10.244.0.5:40000>10.244.0.7:8080',
    'translated 10.244.0.5:40001>10.96.0.20:80', 'translated 10.244.0.5:40002>10.96.0.20:81',
  ]);
});

test('a batch handled before its lookups answer: the close waits for its connect and carries its translation', async () => {
  let answer!: (t: { ip: string; port: number }) => void;
  const out = new Promise<{ ip: string; port: number }>((r) => (answer = r));
  const b = new TcpFlowBuilder('node-1', { translated: () => out, original: () => undefined });
  const connect = b.onRecord(rec(1n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40000, '10.96.0.20', 80, 600n));
  const close = b.onRecord(rec(1n, 'FIN_WAIT2', 'CLOSE', '10.244.0.5', 40000, '10.96.0.20', 80, 1600n));
  assert.ok(connect instanceof Promise && close instanceof Promise, 'both wait for the lookup');
  answer({ ip: '10.244.0.7', port: 8080 });
  const [c, x] = await Promise.all([connect, close]);
  for (const f of [c, x]) {
    assert.deepEqual([f?.IP.destination, f?.l4.TCP?.destination_port, f?.extensions?.original_destination], ['10.244.0.7', 8080, { ip: '10.96.0.20', port: 80 }]);
  }
  assert.equal(x?.extensions?.tcp_event, 'close');
  // Once answered, a later connection's close does not wait.
  const st = b.onRecord(rec(2n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40001, '10.96.0.20', 80, 700n));
  await st;
  assert.ok(!(b.onRecord(rec(2n, 'FIN_WAIT2', 'CLOSE', '10.244.0.5', 40001, '10.96.0.20', 80, 800n)) instanceof Promise));
});

test('through a VIP with both ends on this node: the accept is answered from its client’s connect, one lookup per connection', async () => {
  const asked: string[] = [];
  let answer!: (t: { ip: string; port: number } | undefined) => void;
  const out = new Promise<{ ip: string; port: number } | undefined>((r) => (answer = r));
  const b = new TcpFlowBuilder('node-1', {
    translated: (s: string, sp: number) => { asked.push(`translated ${s}:${sp}`); return out; },
    original: (p: string, pp: number, l: string, lp: number) => { asked.push(`original ${p}:${pp}>${l}:${lp}`); return { ip: '10.96.0.99', port: 99 }; },
  });
  const connect = b.onRecord(rec(1n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40000, '10.96.0.20', 80, 600n));
  const accept = b.onRecord(rec(2n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 8080, '10.244.0.5', 40000, 650n));
  const elsewhere = b.onRecord(rec(3n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.8', 8080, '10.244.0.5', 40000, 650n)); // the same client end at another server end
  answer({ ip: '10.244.0.7', port: 8080 });
  const [c, a, e] = await Promise.all([connect, accept, elsewhere]);
  assert.deepEqual(c?.extensions?.original_destination, { ip: '10.96.0.20', port: 80 });
  assert.deepEqual([a?.IP.source, a?.IP.destination, a?.extensions?.original_destination], ['10.244.0.5', '10.244.0.7', { ip: '10.96.0.20', port: 80 }]);
  assert.deepEqual(e?.extensions?.original_destination, { ip: '10.96.0.99', port: 99 }, 'not the connection the client made: its own lookup');
  assert.deepEqual(asked, ['translated 10.244.0.5:40000', 'original 10.244.0.5:40000>10.244.0.8:8080']);
});

test('socket-level load balancing (the VIP rewritten in a cgroup connect hook): the dialled VIP from SOCK_ADDR, the backend from the socket, no lookup', async () => {
  const asked: string[] = [];
  const b = new TcpFlowBuilder('node-1', {
    translated: (s: string, sp: number) => { asked.push(`translated ${s}:${sp}`); return undefined; },
    original: (p: string, pp: number) => { asked.push(`original ${p}:${pp}`); return undefined; },
  });
  const sockAddr = (sk: bigint, daddr: string, dport: number, proto = 6) =>
    ({ type: 'sock_addr', timeNs: 0n, cookie: 7n, skaddr: sk, daddr, dport, proto, pid: 1, comm: 'x' }) as const;
  b.onSockAddr(sockAddr(1n, '10.96.0.20', 80));
  await b.onRecord(rec(1n, 'CLOSE', 'SYN_SENT', '10.244.0.5', 0, '10.244.0.7', 8080, 100n));
  const connect = await b.onRecord(rec(1n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40000, '10.244.0.7', 8080, 600n));
  const accept = await b.onRecord(rec(2n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 8080, '10.244.0.5', 40000, 650n));
  const close = await b.onRecord(rec(1n, 'FIN_WAIT2', 'CLOSE', '10.244.0.5', 40000, '10.244.0.7', 8080, 1600n));
  for (const f of [connect, accept, close]) {
    assert.deepEqual([f?.IP.source, f?.IP.destination, f?.l4.TCP?.destination_port], ['10.244.0.5', '10.244.0.7', 8080], f?.extensions?.tcp_event);
    assert.deepEqual(f?.extensions?.original_destination, { ip: '10.96.0.20', port: 80 }, f?.extensions?.tcp_event);
  }
  assert.deepEqual(asked, [], 'the socket knew both ends: no conntrack lookup, the local accept answered from the connect');
  // A connect that failed after the rewrite; a SOCK_ADDR that names the socket's own destination; UDP's.
  b.onSockAddr(sockAddr(3n, '10.96.0.20', 80));
  const failed = await b.onRecord(rec(3n, 'SYN_SENT', 'CLOSE', '10.244.0.5', 41000, '10.244.0.9', 8080, 10n));
  assert.deepEqual([failed?.extensions?.tcp_event, failed?.IP.destination, failed?.extensions?.original_destination], ['connect_failed', '10.244.0.9', { ip: '10.96.0.20', port: 80 }]);
  b.onSockAddr(sockAddr(4n, '10.244.0.9', 8080));
  b.onSockAddr(sockAddr(0n, '10.96.0.10', 53, 17));
  const plain = await b.onRecord(rec(4n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 41001, '10.244.0.9', 8080, 20n));
  assert.equal(plain?.extensions?.original_destination, undefined, 'dialled where it went: not translated');
  assert.deepEqual(asked, ['translated 10.244.0.5:41001'], 'and asked conntrack as usual');
});

test('a client port conntrack rewrote (a tuple clash) is reported from either end\'s lookup; an answer that only rewrote the port is no translation', async () => {
  const rewrites: string[] = [];
  const b = new TcpFlowBuilder('node-1', {
    translated: async (_s: string, sp: number, d: string, dp: number) => (d === '10.96.0.20'
      ? { ip: '10.244.0.7', port: 8080, peer: { ip: '10.244.0.5', port: 21883 } }
      : { ip: d, port: dp, peer: { ip: '10.244.0.5', port: sp + 1 } }),
    original: async () => ({ ip: '10.96.0.20', port: 80, peer: { ip: '10.244.0.5', port: 23436 } }),
  });
  b.onRewrite = (client, sent, seen) => rewrites.push(`${client} ${sent}>${seen}`);
  const connect = await b.onRecord(rec(1n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 23436, '10.96.0.20', 80, 600n));
  const accept = await b.onRecord(rec(2n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 8080, '10.244.0.5', 21883, 650n));
  const direct = await b.onRecord(rec(3n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 30000, '10.1.0.9', 443, 700n));
  assert.deepEqual([connect?.IP.destination, connect?.extensions?.original_destination], ['10.244.0.7', { ip: '10.96.0.20', port: 80 }]);
  assert.deepEqual([accept?.l4.TCP?.source_port, accept?.extensions?.original_destination], [21883, { ip: '10.96.0.20', port: 80 }], 'flows carry no peer');
  assert.deepEqual([direct?.IP.destination, direct?.extensions?.original_destination], ['10.1.0.9', undefined], 'only the port was rewritten: not a translation');
  assert.deepEqual(rewrites, ['10.244.0.5 23436>21883', '10.244.0.5 23436>21883', '10.244.0.5 30000>30001']);
});

test('a connection whose two tc views both started at this node is joined from them, no lookup; views older than the socket or than its end\'s last close are not trusted', async () => {
  const { Datapath } = await import('../../src/agent/datapath');
  const dp = new Datapath('node-1');
  const asked: string[] = [];
  const b = new TcpFlowBuilder('node-1', {
    translated: (s: string, sp: number, d: string, dp2: number) => { asked.push(`translated ${s}:${sp}>${d}:${dp2}`); return { ip: '10.244.0.8', port: 8080 }; },
    original: (p: string, pp: number) => { asked.push(`original ${p}:${pp}`); return undefined; },
  }, dp);
  const WALL = 1_700_000_000_000_000_000n;
  const view = (origin: 'from_pod' | 'to_pod', sport: number, daddr: string, dport: number, mono: bigint, event: 'start' | 'end' = 'start') => dp.observe({
    type: 'flow', event, firstNs: WALL + mono, lastNs: WALL + mono, family: 4, proto: 6, saddr: '10.244.0.5', daddr, sport, dport,
    ifindex: 10, origin, bytes: [60, 0], payload: [0, 0], packets: [1, 0], tcpFlags: [0x02, 0], icmpType: 0, icmpCode: 0, httpHeads: [0, 0],
  });
  const connect = (sk: bigint, sport: number, synSent: bigint, est: bigint) => {
    b.onRecord(rec(sk, 'CLOSE', 'SYN_SENT', '10.244.0.5', 0, '10.96.0.20', 80, synSent));
    return b.onRecord(rec(sk, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', sport, '10.96.0.20', 80, est));
  };
  const MS = 1_000_000n;
  // Ring order: SYN_SENT, the SYN at the client's port (START), at the backend's (START), ESTABLISHED.
  b.onRecord(rec(1n, 'CLOSE', 'SYN_SENT', '10.244.0.5', 0, '10.96.0.20', 80, 100n * MS));
  view('from_pod', 40000, '10.96.0.20', 80, 100n * MS - 3n * MS); // the coarse clock's last tick: before SYN_SENT
  view('to_pod', 40000, '10.244.0.7', 8080, 100n * MS - 3n * MS);
  const c = b.onRecord(rec(1n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40000, '10.96.0.20', 80, 101n * MS)) as Flow;
  assert.ok(!(c instanceof Promise), 'answered at once');
  assert.deepEqual([c.IP.destination, c.l4.TCP?.destination_port, c.extensions?.original_destination], ['10.244.0.7', 8080, { ip: '10.96.0.20', port: 80 }]);
  const a = b.onRecord(rec(2n, 'SYN_RECV', 'ESTABLISHED', '10.244.0.7', 8080, '10.244.0.5', 40000, 102n * MS)) as Flow;
  assert.deepEqual([a.IP.destination, a.extensions?.original_destination], ['10.244.0.7', { ip: '10.96.0.20', port: 80 }], 'the accept from its client\'s connect');
  assert.deepEqual(asked, [], 'no lookup at either end');
  assert.equal(b.seenAnswers, 1);
  const close = b.onRecord(rec(1n, 'FIN_WAIT2', 'CLOSE', '10.244.0.5', 40000, '10.96.0.20', 80, 103n * MS)) as Flow;
  assert.equal(close.IP.destination, '10.244.0.7');

  // The same client end again, to the same VIP: its flows' counters were still kept (same tuples),
  // so no START came; the views are the closed connection's and a lookup answers.
  assert.equal((await connect(3n, 40000, 104n * MS, 105n * MS))?.IP.destination, '10.244.0.8');
  assert.deepEqual(asked, ['translated 10.244.0.5:40000>10.96.0.20:80']);
  // A START of this connection at the client's port only (the backend's is an older flow's): asks.
  b.onRecord(rec(3n, 'ESTABLISHED', 'CLOSE', '10.244.0.5', 40000, '10.96.0.20', 80, 106n * MS));
  b.onRecord(rec(4n, 'CLOSE', 'SYN_SENT', '10.244.0.5', 0, '10.96.0.20', 80, 107n * MS));
  view('from_pod', 40000, '10.96.0.20', 80, 107n * MS);
  view('to_pod', 40000, '10.244.0.7', 8080, 90n * MS, 'end');
  await b.onRecord(rec(4n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40000, '10.96.0.20', 80, 108n * MS));
  assert.equal(asked.length, 2, 'an END sets no start time');
  // Views of a connection that started long before this socket (no close seen): asks.
  view('from_pod', 40100, '10.96.0.20', 80, 10n * MS);
  view('to_pod', 40100, '10.244.0.7', 8080, 10n * MS);
  await connect(5n, 40100, 200n * MS, 201n * MS);
  assert.equal(asked.length, 3, 'views from before the socket\'s SYN_SENT (less the coarse tick) are another connection\'s');
  // Both views started, but at another destination than this socket dialled: asks.
  b.onRecord(rec(6n, 'CLOSE', 'SYN_SENT', '10.244.0.5', 0, '10.96.0.20', 80, 300n * MS));
  view('from_pod', 40200, '10.96.0.21', 80, 300n * MS);
  view('to_pod', 40200, '10.244.0.7', 8080, 300n * MS);
  await b.onRecord(rec(6n, 'SYN_SENT', 'ESTABLISHED', '10.244.0.5', 40200, '10.96.0.20', 80, 301n * MS));
  assert.equal(asked.length, 4);
  assert.equal(b.seenAnswers, 1);
});

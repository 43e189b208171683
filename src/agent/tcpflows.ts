// Turns TCP state transitions into flows: connect (client side), accept (server side),
// connect_failed and close, oriented client → server, with service translation applied.
import type { Flow, FlowExtensions, TcpFlags } from '../flows/flow';
import type { SockAddrRecord, TcpStateRecord } from './records';
import type { Translation } from './conntrack';
import { UNKNOWN_ENDPOINT, tcpFlags } from './flowrecords';
import { isoNs } from './wire';

/** An answer now, or a promise of one when it waits for data not read yet. */
export type Maybe<T> = T | Promise<T>;

/**
 * `since`: CLOCK_MONOTONIC ns by which the connection's conntrack entry existed (its SYN, or a
 * later event). Answers at once when the table already read can tell.
 */
export interface TranslationLookup {
  /** Client side: where the connection to dst:dport was really sent. */
  translated(src: string, sport: number, dst: string, dport: number, since: bigint): Maybe<Translation | undefined>;
  /** Server side: the destination the client dialled before translation. */
  original(peer: string, peerPort: number, local: string, localPort: number, since: bigint): Maybe<Translation | undefined>;
  /**
   * True when no translation on this node can have changed a connection to `ip`: a local pod's
   * own address (kube-proxy translates Service addresses and node ports, never a pod's). Such a
   * connection needs no lookup.
   */
  untranslated?(ip: string): boolean;
}

/**
 * This node's tc views of connections (datapath.ts), fed in record order with the socket records:
 * a client connection whose two ends both started at a pod interface of this node needs no lookup.
 */
export interface SeenViews {
  /** Where src:sport → dst:dport went, if both its views started at or after sinceWallNs (and after the end's last close). */
  seenTranslation(src: string, sport: number, dst: string, dport: number, sinceWallNs: number): Translation | undefined;
  /** A client socket closed: views of its end seen later are another connection's. */
  clientClosed(src: string, sport: number, wallNs: bigint): void;
}

/**
 * How much earlier than its socket's SYN_SENT a flow's START may be stamped and still be taken as
 * this connection's: a START's first_ns is the fine clock's, but the two record kinds reach wall
 * time by separate conversions (and flows from the scan alone carry tick-resolution times, ≤ 10
 * ms at HZ=100). Stale views within the slack are caught by the port's last close.
 */
const COARSE_SLACK_NS = 10_000_000n;

/** `pending`: the connect's or accept's lookup, while it is out (the close waits for it). */
interface ConnState { startMono: bigint; role: 'client' | 'server'; translation?: Translation; vip?: Translation; pending?: Promise<unknown> }

const MAX_TRACKED = 262_144;

/** `ip|port`: one end of a connection. */
function endKey(ip: string, port: number): string {
  return `${ip}|${port}`;
}

/** Flags and summary per socket event: shared constants, nothing built per flow. */
const EVENT_FLAGS = new Map<FlowExtensions['tcp_event'], { flags: TcpFlags; summary: string }>(
  ([['close', 0x01], ['connect_failed', 0x06], ['connect', 0x02], ['accept', 0x02]] as const).map(([event, bits]) => {
    const flags = tcpFlags(bits);
    return [event, { flags, summary: `TCP Flags: ${Object.keys(flags).join(', ')}` }];
  }),
);

/**
 * A lookup's answer as a translation: undefined when it names (ip, port) itself (only the client's
 * end was rewritten); without `peer`, which flows do not carry.
 */
function elsewhere(tr: Translation | undefined, ip: string, port: number): Translation | undefined {
  if (!tr || (tr.ip === ip && tr.port === port)) return undefined;
  return tr.peer ? { ip: tr.ip, port: tr.port } : tr;
}

/** f(answer) now, or once a promised answer comes. */
function then<T, R>(answer: Maybe<T>, f: (a: T) => R): Maybe<R> {
  return answer instanceof Promise ? answer.then(f) : f(answer);
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}

export class TcpFlowBuilder {
  private conns = new Map<bigint, ConnState>();
  /**
   * Open client connections of this node by client end (`ip|port`): what each dialled and where
   * it went (the lookup's answer, or its promise). When the server is on this node too, its accept
   * is answered from its client's connect: one lookup per connection instead of two. Deleted at
   * the client's close, so bounded by the open connections (and MAX_TRACKED).
   */
  private clients = new Map<string, { dialled: Translation; reached: Maybe<Translation | undefined> }>();
  /** Connections forgotten because the table was full. */
  evicted = 0;

  /**
   * Sockets whose connect4 destination (what user space dialled) differs from where the socket
   * was connected: a socket-level load balancer (Cilium's kube-proxy replacement) rewrote it in
   * its own cgroup hook, so no packet and no conntrack entry ever carries the VIP. By socket;
   * taken at ESTABLISHED or CLOSE, bounded.
   */
  private socketLB = new Map<bigint, Translation>();

  /**
   * Called when conntrack rewrote a client's source port (a tuple clash: an earlier connection from
   * the same port left an entry whose reply tuple this one would repeat): the client sent from
   * `sent`, the server sees `seen`. The datapath joins the two ports' tc views and HTTP messages.
   */
  onRewrite?: (client: string, sent: number, seen: number) => void;

  /** Connects answered from the tc views (no lookup). */
  seenAnswers = 0;

  constructor(private readonly node: string, private readonly translate: TranslationLookup, private readonly views?: SeenViews) {}

  /** A SOCK_ADDR record of a TCP connect (the loader emits one only when the destination was rewritten). */
  onSockAddr(r: SockAddrRecord): void {
    if (r.skaddr === 0n || r.proto !== 6) return; // sendmsg4 (UDP): not joined
    if (this.socketLB.size >= MAX_TRACKED) this.socketLB.delete(this.socketLB.keys().next().value as bigint);
    this.socketLB.set(r.skaddr, { ip: r.daddr, port: r.dport });
  }

  /** What a client socket dialled, when a socket-level load balancer connected it elsewhere. */
  private dialledAtSocket(r: TcpStateRecord): Translation | undefined {
    if (this.socketLB.size === 0) return undefined;
    const vip = this.socketLB.get(r.skaddr);
    if (vip) this.socketLB.delete(r.skaddr);
    return vip && (vip.ip !== r.daddr || vip.port !== r.dport) ? vip : undefined;
  }

  get tracked(): number {
    return this.conns.size;
  }

  /**
   * The flow this transition produces, if any: at once, or a promise when a translation lookup is
   * out (a netlink answer, or the next conntrack read). The agent calls this for a whole batch of
   * records, so that the batch's lookups go out together, then awaits the promises in record
   * order (a promise per record was a fifth of the socket path under churn: only lookups make
   * one). A close whose connect or accept still waits for its answer waits for it too.
   */
  onRecord(r: TcpStateRecord): Maybe<Flow | undefined> {
    if (isLoopback(r.saddr) || isLoopback(r.daddr)) {
      if (r.newState === 'CLOSE') this.conns.delete(r.skaddr);
      return undefined;
    }
    if (r.oldState === 'CLOSE' && r.newState === 'SYN_SENT') {
      this.remember(r.skaddr, { startMono: r.monoNs, role: 'client' });
      return undefined;
    }
    if (r.oldState === 'SYN_SENT' && r.newState === 'ESTABLISHED') return this.connected(r);
    if (r.oldState === 'SYN_RECV' && r.newState === 'ESTABLISHED') return this.accepted(r);
    if (r.newState === 'CLOSE') return this.closed(r);
    return undefined;
  }

  private remember(sk: bigint, s: ConnState): void {
    if (this.conns.size >= MAX_TRACKED && !this.conns.has(sk)) {
      const oldest = this.conns.keys().next().value;
      if (oldest !== undefined) this.conns.delete(oldest);
      this.evicted++;
    }
    this.conns.set(sk, s);
  }

  private connected(r: TcpStateRecord): Maybe<Flow> {
    const st: ConnState = this.conns.get(r.skaddr) ?? { startMono: r.monoNs, role: 'client' };
    this.remember(r.skaddr, st);
    const latency = Number(r.monoNs - st.startMono);
    const lb = this.dialledAtSocket(r);
    if (lb) {
      // Translated at the socket: the socket's own destination is the backend, no lookup.
      st.vip = lb;
      if (this.clients.size >= MAX_TRACKED) this.clients.clear();
      this.clients.set(endKey(r.saddr, r.sport), { dialled: lb, reached: { ip: r.daddr, port: r.dport } });
      return this.flow(r, 'client', 'connect', undefined, lb, latency);
    }
    const direct = this.translate.untranslated?.(r.daddr) === true;
    const seen = direct || !this.views ? undefined : this.views.seenTranslation(r.saddr, r.sport, r.daddr, r.dport, Number(r.timeNs - (r.monoNs - st.startMono) - COARSE_SLACK_NS));
    if (seen) {
      this.seenAnswers++;
      st.translation = seen;
      if (this.clients.size >= MAX_TRACKED) this.clients.clear();
      this.clients.set(endKey(r.saddr, r.sport), { dialled: { ip: r.daddr, port: r.dport }, reached: seen });
      return this.flow(r, 'client', 'connect', seen, undefined, latency);
    }
    const reached = direct ? undefined : then(this.translate.translated(r.saddr, r.sport, r.daddr, r.dport, st.startMono), (tr) => {
      if (tr?.peer && tr.peer.ip === r.saddr && tr.peer.port !== r.sport) this.onRewrite?.(r.saddr, r.sport, tr.peer.port);
      return elsewhere(tr, r.daddr, r.dport);
    });
    if (this.clients.size >= MAX_TRACKED) this.clients.clear(); // only a shortcut: lookups answer without it
    this.clients.set(endKey(r.saddr, r.sport), { dialled: { ip: r.daddr, port: r.dport }, reached });
    if (direct) return this.flow(r, 'client', 'connect', undefined, undefined, latency);
    return this.waiting(st, then(reached, (tr) => {
      st.translation = tr;
      st.pending = undefined;
      return this.flow(r, 'client', 'connect', tr, undefined, latency);
    }));
  }

  /** Marks the connection's lookup as out while it is a promise: its close waits for it. */
  private waiting<T>(st: ConnState, answer: Maybe<T>): Maybe<T> {
    if (answer instanceof Promise) st.pending = answer;
    return answer;
  }

  private accepted(r: TcpStateRecord): Maybe<Flow> {
    const st: ConnState = { startMono: r.monoNs, role: 'server' };
    this.remember(r.skaddr, st);
    const accept = (vip: Translation | undefined): Flow => {
      st.vip = vip;
      st.pending = undefined;
      return this.flow(r, 'server', 'accept', undefined, vip);
    };
    const lookup = (): Maybe<Flow> => then(this.translate.original(r.daddr, r.dport, r.saddr, r.sport, r.monoNs), (vip) => {
      if (vip?.peer && vip.peer.ip === r.daddr && vip.peer.port !== r.dport) this.onRewrite?.(r.daddr, vip.peer.port, r.dport);
      return accept(elsewhere(vip, r.saddr, r.sport));
    });
    // A client on this node whose connection reached this very end (the peer's end is its own: no
    // source rewrite): the VIP it dialled, if it was translated, without a lookup of our own.
    const client = this.clients.size > 0 ? this.clients.get(endKey(r.daddr, r.dport)) : undefined;
    if (!client) return this.waiting(st, lookup());
    return this.waiting(st, then(client.reached, (tr): Maybe<Flow> => {
      const to = tr ?? client.dialled;
      return to.ip === r.saddr && to.port === r.sport ? accept(tr ? client.dialled : undefined) : lookup();
    }) as Maybe<Flow>);
  }

  private closed(r: TcpStateRecord): Maybe<Flow | undefined> {
    const st = this.conns.get(r.skaddr);
    this.conns.delete(r.skaddr);
    if (st?.role === 'client') {
      if (this.clients.size > 0) this.clients.delete(endKey(r.saddr, r.sport));
      this.views?.clientClosed(r.saddr, r.sport, r.timeNs);
    }
    if (r.oldState === 'SYN_SENT') {
      const lb = this.dialledAtSocket(r);
      if (lb) return this.flow(r, 'client', 'connect_failed', undefined, lb);
      if (this.translate.untranslated?.(r.daddr)) return this.flow(r, 'client', 'connect_failed');
      return then(this.translate.translated(r.saddr, r.sport, r.daddr, r.dport, st?.startMono ?? r.monoNs), (tr) => this.flow(r, 'client', 'connect_failed', elsewhere(tr, r.daddr, r.dport)));
    }
    if (!st) return undefined;
    const close = (): Flow => this.flow(r, st.role, 'close', st.translation, st.vip, undefined, Number(r.monoNs - st.startMono));
    return st.pending ? st.pending.then(close) : close(); // a batch's records are handled before their lookups answer
  }

  /**
   * One socket-view flow, oriented client → server (the record's saddr is the local end). tr: where
   * a client's connection was really sent (the flow's destination; the dialled address goes to
   * original_destination); vip: the address a server's client dialled, or the one a client dialled
   * when a socket-level load balancer connected it elsewhere (the socket's own destination is then
   * where it went). Built as one object per
   * level, nothing copied: tens of thousands of these a second under connection churn.
   */
  private flow(r: TcpStateRecord, role: 'client' | 'server', event: NonNullable<FlowExtensions['tcp_event']>, tr?: Translation, vip?: Translation, latencyNs?: number, durationNs?: number): Flow {
    const client = role === 'client';
    const sip = client ? r.daddr : r.saddr;
    const sport = client ? r.dport : r.sport;
    const { flags, summary } = EVENT_FLAGS.get(event)!;
    const extensions: FlowExtensions = { tcp_event: event };
    if (latencyNs !== undefined) extensions.connect_latency_ns = latencyNs;
    if (durationNs !== undefined) extensions.duration_ns = durationNs;
    const dialled = tr ? { ip: sip, port: sport } : vip;
    if (dialled) extensions.original_destination = dialled;
    extensions.netns = r.netns;
    extensions.pid = r.pid;
    extensions.comm = r.comm;
    return {
      time: isoNs(r.timeNs),
      verdict: 'FORWARDED',
      IP: { source: client ? r.saddr : r.daddr, destination: tr ? tr.ip : sip, ipVersion: r.family === 6 ? 'IPv6' : 'IPv4' },
      l4: { TCP: { source_port: client ? r.sport : r.dport, destination_port: tr ? tr.port : sport, flags } },
      source: UNKNOWN_ENDPOINT,
      destination: UNKNOWN_ENDPOINT,
      Type: 'L3_L4',
      node_name: this.node,
      is_reply: false,
      traffic_direction: client ? 'EGRESS' : 'INGRESS',
      trace_observation_point: 'SOCK',
      Summary: summary,
      extensions,
    };
  }
}

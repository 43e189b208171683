// tc flow records (FLOW) -> Hubble-shaped flows, with service translation joined from the two
// observation points of one connection on this node: the client pod's interface sees the packet
// before kube-proxy's DNAT (destination = Service VIP), the backend pod's interface after it
// (destination = backend). Same client address and port, different destination: the pair is
// the translation. Remote backends (another node) are joined by the socket view (tcpflows.ts).
import type { Endpoint, Flow, FlowExtensions, TcpFlags } from '../flows/flow';
import { isoNs as isoFromNs } from './wire';
import type { FlowRecord } from './datarecords';

export interface Endpoint4 { ip: string; port: number }
/** Where one connection's initiator sent its packets: before DNAT (vip) and after it (backend). */
/**
 * partner: the other port of this client end when conntrack rewrote its source port (alias()).
 * vipSince / backendSince: wall ns (as a number) of the first packet of the flow each view was
 * last set by, when a START record set it (NaN otherwise: an UPDATE or END of an older flow).
 * closedAt: wall ns at which this client end's last socket closed (the socket view tells).
 */
interface Seen {
  vip: Endpoint4 | undefined; backend: Endpoint4 | undefined; at: number; partner: number | undefined;
  vipSince: number; backendSince: number; closedAt: number;
}

const FLAG_NAMES: [number, keyof TcpFlags][] = [[0x01, 'FIN'], [0x02, 'SYN'], [0x04, 'RST'], [0x08, 'PSH'], [0x10, 'ACK'], [0x20, 'URG'], [0x40, 'ECE'], [0x80, 'CWR']];

function makeFlags(bits: number): TcpFlags {
  const out: TcpFlags = {};
  for (const [bit, name] of FLAG_NAMES) if (bits & bit) out[name] = true;
  return Object.freeze(out);
}

/** Hubble's flags object for a flag byte: one frozen object per value, shared (no allocation per flow). */
const FLAGS: readonly TcpFlags[] = Array.from({ length: 256 }, (_, b) => makeFlags(b));
const FLAG_TEXT: readonly string[] = Array.from({ length: 256 }, (_, b) => FLAG_NAMES.filter(([bit]) => b & bit).map(([, n]) => n).join('|'));

export function tcpFlags(bits: number): TcpFlags {
  return FLAGS[bits & 255]!;
}

const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'ICMPv4', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };
const SUMMARY: Readonly<Record<number, Record<string, string>>> = Object.fromEntries(Object.entries(PROTO_NAMES).map(([n, p]) =>
  [n, Object.fromEntries(['start', 'update', 'end', 'timeout'].map((e) => [e, `${p} flow ${e}`]))]));

/**
 * Pairs the pre-DNAT and post-DNAT views of connections; bounded, entries expire after 2 min.
 * Keyed by initiator address, then proto and port (a number): no key string is built per record
 * (the address strings come from the decoder's cache, their hashes are computed once).
 */
export class TranslationJoin {
  private byAddr = new Map<string, Map<number, Seen>>();
  private size = 0;
  constructor(private readonly max = 262_144, private readonly now = () => Date.now()) {}

  /** Entries held (for tests and metrics). */
  get entries(): number {
    return this.size;
  }

  /** Registers where this record's initiator sent its packets as seen at this interface. */
  observe(r: FlowRecord, now?: number): void {
    if (r.proto !== 6 && r.proto !== 17) return;
    const key = r.proto * 65536 + r.sport;
    const e = this.byAddr.get(r.saddr)?.get(key) ?? this.entry(r.saddr, key, now ?? this.now()); // the clock only for a new entry
    const fromPod = r.origin === 'from_pod';
    const old = fromPod ? e.vip : e.backend;
    const since = r.event === 'start' ? Number(r.firstNs) : NaN;
    if (old?.ip === r.daddr && old.port === r.dport) { // same view again: nothing to allocate
      if (r.event === 'start') {
        if (fromPod) e.vipSince = since;
        else e.backendSince = since;
      }
      return;
    }
    const dst = { ip: r.daddr, port: r.dport };
    if (fromPod) {
      if (e.vip) e.partner = undefined; // the port dials somewhere else now: a new connection
      e.vip = dst;
      e.vipSince = since;
    } else {
      e.backend = dst;
      e.backendSince = since;
    }
  }

  /**
   * Where the TCP/UDP connection addr:port → dst:dport went, from its two views alone, when both
   * are surely this connection's: both set by a START at or after `since` (wall ns: the socket
   * began connecting, less a slack) and after the end's last socket closed. A port reused while
   * its previous flow's counters are still kept STARTs them again (the loader, by the handshake's
   * ISN: bpf/README.md); without that START (a lost notice, --no-notices): undefined, and the
   * caller asks conntrack. Only called in record order (nothing later observed yet).
   */
  seenSince(addr: string, proto: number, port: number, dst: string, dport: number, since: number): Endpoint4 | undefined {
    const e = this.byAddr.get(addr)?.get(proto * 65536 + port);
    if (!e?.vip || !e.backend || e.partner !== undefined || e.vip.ip !== dst || e.vip.port !== dport) return undefined;
    const after = since > e.closedAt ? since : e.closedAt;
    if (!(e.vipSince >= after && e.backendSince >= after)) return undefined; // NaN: not a START's
    return e.backend.ip === dst && e.backend.port === dport ? undefined : e.backend;
  }

  /** The socket view saw this client end's socket close at `wallNs`: later views are new connections'. */
  closed(addr: string, proto: number, port: number, wallNs: bigint): void {
    const e = this.byAddr.get(addr)?.get(proto * 65536 + port);
    if (e) e.closedAt = Number(wallNs);
  }

  private entry(addr: string, key: number, now: number): Seen {
    if (this.size >= this.max) this.evictOldest();
    let ports = this.byAddr.get(addr);
    if (!ports) this.byAddr.set(addr, (ports = new Map()));
    const e: Seen = { vip: undefined, backend: undefined, at: now, partner: undefined, vipSince: NaN, backendSince: NaN, closedAt: -Infinity };
    ports.set(key, e);
    this.size++;
    return e;
  }

  /**
   * Conntrack rewrote this client's source port (a tuple clash): it sent from `sent`, the backend
   * sees `seen`. The client's interface keys its views by one port, the backend's by the other;
   * a lookup by either takes what its own entry lacks from the other's.
   */
  alias(addr: string, proto: number, sent: number, seen: number, now = this.now()): void {
    if (proto !== 6 && proto !== 17) return;
    const a = this.byAddr.get(addr)?.get(proto * 65536 + sent) ?? this.entry(addr, proto * 65536 + sent, now);
    const b = this.byAddr.get(addr)?.get(proto * 65536 + seen) ?? this.entry(addr, proto * 65536 + seen, now);
    a.partner = seen;
    b.partner = sent;
  }

  /** Every flow record of a batch (one clock read). */
  observeAll(records: readonly { type: string }[]): void {
    const now = this.now();
    for (const r of records) if (r.type === 'flow') this.observe(r as FlowRecord, now);
  }

  private evictOldest(): void {
    for (const [addr, ports] of this.byAddr) {
      const first = ports.keys().next();
      if (!first.done) {
        ports.delete(first.value);
        this.size--;
      }
      if (ports.size === 0) this.byAddr.delete(addr);
      return;
    }
  }

  /** {vip, backend} when this connection was translated on its way through this node. */
  lookup(r: FlowRecord): { vip: Endpoint4; backend: Endpoint4 } | undefined {
    return this.lookupInitiator(r.saddr, r.proto, r.sport);
  }

  /** The same, by the connection's initiator (address, protocol, port). */
  lookupInitiator(addr: string, proto: number, port: number): { vip: Endpoint4; backend: Endpoint4 } | undefined {
    if (proto !== 6 && proto !== 17) return undefined;
    const ports = this.byAddr.get(addr);
    const e = ports?.get(proto * 65536 + port);
    if (!e) return undefined;
    const other = (!e.vip || !e.backend) && e.partner !== undefined ? ports?.get(proto * 65536 + e.partner) : undefined;
    const vip = e.vip ?? other?.vip, backend = e.backend ?? other?.backend;
    if (!vip || !backend || (vip.ip === backend.ip && vip.port === backend.port)) return undefined; // untranslated: no clock read
    if (this.now() - e.at > 120_000) {
      this.forget({ saddr: addr, proto, sport: port });
      return undefined;
    }
    return { vip, backend };
  }

  forget(r: Pick<FlowRecord, 'saddr' | 'proto' | 'sport'>): void {
    const ports = this.byAddr.get(r.saddr);
    if (!ports?.delete(r.proto * 65536 + r.sport)) return;
    this.size--;
    if (ports.size === 0) this.byAddr.delete(r.saddr);
  }
}

function layer4(r: FlowRecord, dport: number): Flow['l4'] {
  if (r.proto === 6) return { TCP: { source_port: r.sport, destination_port: dport, flags: tcpFlags(r.tcpFlags[0] | r.tcpFlags[1]) } };
  if (r.proto === 17) return { UDP: { source_port: r.sport, destination_port: dport } };
  if (r.proto === 1) return { ICMPv4: { type: r.icmpType, code: r.icmpCode } };
  if (r.proto === 58) return { ICMPv6: { type: r.icmpType, code: r.icmpCode } };
  return {};
}

/**
 * The unknown endpoint of a tc or socket flow, shared by all of them (a node keeps tens of
 * thousands of flows: two empty objects each are 15 % of their heap). Frozen: enrichment replaces
 * `flow.source` / `flow.destination`, it never writes into them (src/flows/enrich.ts).
 */
export const UNKNOWN_ENDPOINT: Endpoint = Object.freeze({});

function direction(r: FlowRecord): Flow['traffic_direction'] {
  return r.origin === 'from_pod' ? 'EGRESS' : r.origin === 'to_pod' ? 'INGRESS' : 'TRAFFIC_DIRECTION_UNKNOWN';
}

/** Flowlens' counters of a tc flow; built by assignment in a fixed order (one hidden class, no spread temporaries). */
function extensionsOf(r: FlowRecord, tr: { vip: Endpoint4 } | undefined, retransmits: number | undefined): FlowExtensions {
  // Flat numbers (no nested objects): a node keeps tens of thousands of these.
  // Two literals rather than added properties: a literal's fields live inside the object (an
  // added one needs a separate properties array), and TCP is the common case.
  const duration = Number(r.lastNs - r.firstNs);
  const ext: FlowExtensions = r.proto === 6 ? {
    flow_event: r.event, ifindex: r.ifindex, duration_ns: duration,
    packets_sent: r.packets[0], packets_received: r.packets[1], bytes_sent: r.bytes[0], bytes_received: r.bytes[1],
    payload_bytes_sent: r.payload[0], payload_bytes_received: r.payload[1],
    tcp_flags_sent: FLAG_TEXT[r.tcpFlags[0]]!, tcp_flags_received: FLAG_TEXT[r.tcpFlags[1]]!,
  } : {
    flow_event: r.event, ifindex: r.ifindex, duration_ns: duration,
    packets_sent: r.packets[0], packets_received: r.packets[1], bytes_sent: r.bytes[0], bytes_received: r.bytes[1],
    payload_bytes_sent: r.payload[0], payload_bytes_received: r.payload[1],
  };
  if (r.httpHeads[0] || r.httpHeads[1]) {
    // The heads the kernel captured (L7 flows): --http-per-flow per direction and CPU in each window.
    ext.http_requests_captured = r.httpHeads[0];
    ext.http_responses_captured = r.httpHeads[1];
  }
  if (tr) ext.original_destination = tr.vip;
  if (retransmits) ext.retransmits = retransmits;
  return ext;
}

/** One tc flow record as a Hubble flow. `retransmits` comes from the TCP health tracepoints. */
export function flowFromRecord(r: FlowRecord, node: string, tr?: { vip: Endpoint4; backend: Endpoint4 }, retransmits?: number): Flow {
  const dstIp = tr ? tr.backend.ip : r.daddr;
  const dport = tr ? tr.backend.port : r.dport;
  return {
    time: isoFromNs(r.event === 'start' ? r.firstNs : r.lastNs),
    verdict: 'FORWARDED',
    IP: { source: r.saddr, destination: dstIp, ipVersion: r.family === 6 ? 'IPv6' : 'IPv4' },
    l4: layer4(r, dport),
    source: UNKNOWN_ENDPOINT,
    destination: UNKNOWN_ENDPOINT,
    Type: 'L3_L4',
    node_name: node,
    is_reply: false,
    traffic_direction: direction(r),
    trace_observation_point: r.origin === 'from_pod' ? 'FROM_ENDPOINT' : 'TO_ENDPOINT',
    Summary: SUMMARY[r.proto]?.[r.event] ?? `${PROTO_NAMES[r.proto] ?? `proto ${r.proto}`} flow ${r.event}`,
    extensions: extensionsOf(r, tr, retransmits),
  };
}

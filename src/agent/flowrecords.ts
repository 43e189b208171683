// tc flow records (FLOW) -> Hubble-shaped flows, with service translation joined from the two
// observation points of one connection on this node: the client pod's interface sees the packet
// before kube-proxy's DNAT (destination = Service VIP), the backend pod's interface after it
// (destination = backend). Same client address and port, different destination: the pair is
// the translation. Remote backends (another node) are joined by the socket view (tcpflows.ts).
import type { Flow, TcpFlags } from '../flows/flow';
import { isoNs as isoFromNs } from './wire';
import type { FlowRecord } from './datarecords';

export interface Endpoint4 { ip: string; port: number }
interface Seen { vip?: Endpoint4; backend?: Endpoint4; at: number }

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

/** Pairs the pre-DNAT and post-DNAT views of connections; bounded, entries expire after 2 min. */
export class TranslationJoin {
  private seen = new Map<string, Seen>();
  constructor(private readonly max = 262_144, private readonly now = () => Date.now()) {}

  private key(r: FlowRecord): string {
    return `${r.proto}|${r.saddr}|${r.sport}`;
  }

  /** Registers where this record's initiator sent its packets as seen at this interface. */
  observe(r: FlowRecord): void {
    if (r.proto !== 6 && r.proto !== 17) return;
    const k = this.key(r);
    const e = this.seen.get(k) ?? { at: this.now() };
    const dst = { ip: r.daddr, port: r.dport };
    if (r.origin === 'from_pod') e.vip = dst;
    else e.backend = dst;
    if (this.seen.size >= this.max && !this.seen.has(k)) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(k, e);
  }

  /** {vip, backend} when this connection was translated on its way through this node. */
  lookup(r: FlowRecord): { vip: Endpoint4; backend: Endpoint4 } | undefined {
    const e = this.seen.get(this.key(r));
    if (!e?.vip || !e.backend) return undefined;
    if (this.now() - e.at > 120_000) {
      this.seen.delete(this.key(r));
      return undefined;
    }
    if (e.vip.ip === e.backend.ip && e.vip.port === e.backend.port) return undefined;
    return { vip: e.vip, backend: e.backend };
  }

  forget(r: FlowRecord): void {
    this.seen.delete(this.key(r));
  }
}

function layer4(r: FlowRecord, dport: number): Flow['l4'] {
  if (r.proto === 6) return { TCP: { source_port: r.sport, destination_port: dport, flags: tcpFlags(r.tcpFlags[0] | r.tcpFlags[1]) } };
  if (r.proto === 17) return { UDP: { source_port: r.sport, destination_port: dport } };
  if (r.proto === 1) return { ICMPv4: { type: r.icmpType, code: r.icmpCode } };
  if (r.proto === 58) return { ICMPv6: { type: r.icmpType, code: r.icmpCode } };
  return {};
}

/** One tc flow record as a Hubble flow. `retransmits` comes from the TCP health tracepoints. */
export function flowFromRecord(r: FlowRecord, node: string, tr?: { vip: Endpoint4; backend: Endpoint4 }, retransmits?: number): Flow {
  const dst = tr ? tr.backend : { ip: r.daddr, port: r.dport };
  const proto = PROTO_NAMES[r.proto] ?? `proto ${r.proto}`;
  return {
    time: isoFromNs(r.event === 'start' ? r.firstNs : r.lastNs),
    verdict: 'FORWARDED',
    IP: { source: r.saddr, destination: dst.ip, ipVersion: r.family === 6 ? 'IPv6' : 'IPv4' },
    l4: layer4(r, dst.port),
    source: {},
    destination: {},
    Type: 'L3_L4',
    node_name: node,
    is_reply: false,
    traffic_direction: r.origin === 'from_pod' ? 'EGRESS' : r.origin === 'to_pod' ? 'INGRESS' : 'TRAFFIC_DIRECTION_UNKNOWN',
    trace_observation_point: r.origin === 'from_pod' ? 'FROM_ENDPOINT' : 'TO_ENDPOINT',
    Summary: SUMMARY[r.proto]?.[r.event] ?? `${proto} flow ${r.event}`,
    extensions: {
      flow_event: r.event,
      ifindex: r.ifindex,
      duration_ns: Number(r.lastNs - r.firstNs),
      // Flat numbers (no nested objects): a node keeps tens of thousands of these.
      packets_sent: r.packets[0], packets_received: r.packets[1],
      bytes_sent: r.bytes[0], bytes_received: r.bytes[1],
      payload_bytes_sent: r.payload[0], payload_bytes_received: r.payload[1],
      ...(r.proto === 6 ? { tcp_flags_sent: FLAG_TEXT[r.tcpFlags[0]]!, tcp_flags_received: FLAG_TEXT[r.tcpFlags[1]]! } : {}),
      ...(r.httpHeads[0] || r.httpHeads[1] ? { http_requests: r.httpHeads[0], http_responses: r.httpHeads[1] } : {}),
      ...(tr ? { original_destination: tr.vip } : {}),
      ...(retransmits ? { retransmits } : {}),
    },
  };
}

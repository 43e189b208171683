// Decoders of the datapath records (bpf/flowlens.h types 4..11): tc flows, DNS and HTTP first
// bytes, drops, drop reason names, TCP health events, command results, socket destinations.
// Each validates what the wire can get wrong (families, enums, lengths) and throws Invalid.
import { LAYOUT, DNS_MAX, HTTP_MAX } from './layout';
import { fail, formatAddr, formatIPv4, ipFamily, readCString, sockAddrs, u32le, u64PlusBig } from './wire';

export type FlowEvent = 'start' | 'update' | 'end' | 'timeout';
const FLOW_EVENTS: readonly (FlowEvent | undefined)[] = [undefined, 'start', 'update', 'end', 'timeout'];
/** Where the initiator's packets were seen: from the pod (tc ingress of its host-side interface) or to it. */
export type Hook = 'from_pod' | 'to_pod';
const HOOKS: readonly (Hook | undefined)[] = [undefined, 'from_pod', 'to_pod'];

export interface FlowRecord {
  type: 'flow';
  event: FlowEvent;
  /** Wall-clock ns of the first and last packet. */
  firstNs: bigint;
  lastNs: bigint;
  family: 4 | 6;
  proto: number;
  /** Initiator → responder, as seen at this interface. */
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  ifindex: number;
  origin: Hook | undefined;
  /** [initiator → responder, reply] */
  bytes: [number, number];
  payload: [number, number];
  packets: [number, number];
  tcpFlags: [number, number];
  icmpType: number;
  icmpCode: number;
  /** HTTP/1 heads seen per direction [requests, responses] (all counted; only the first few per flow captured). */
  httpHeads: [number, number];
}

export interface PacketMeta {
  timeNs: bigint;
  family: 4 | 6;
  proto: number;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  ifindex: number;
  hook: Hook;
  /** L4 payload bytes of the packet (data holds at most the first DNS_MAX / HTTP_MAX). */
  payloadLen: number;
  /** TCP: the segment's sequence and acknowledgment numbers (0 for UDP). */
  tcpSeq: number;
  tcpAck: number;
}

export interface DnsRecord extends PacketMeta { type: 'dns'; data: Buffer }
export interface HttpRecord extends PacketMeta { type: 'http'; data: Buffer }

export interface DropRecord {
  type: 'drop';
  timeNs: bigint;
  reason: number;
  location: bigint;
  family: 4 | 6;
  proto: number;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  ifindex: number;
  netns: number;
}

export interface DropReasonRecord { type: 'drop_reason'; value: number; name: string }

export type TcpEventKind = 'retransmit' | 'send_reset' | 'receive_reset';
const TCP_EVENT_KINDS: readonly (TcpEventKind | undefined)[] = [undefined, 'retransmit', 'send_reset', 'receive_reset'];

export interface TcpEventRecord {
  type: 'tcp_event';
  kind: TcpEventKind;
  timeNs: bigint;
  skaddr: bigint;
  family: 4 | 6;
  /** Local end (the socket's), then the remote end. */
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  netns: number;
  state: number;
}

export type CommandName = 'invalid' | 'attach' | 'detach' | 'flush' | 'run' | 'learn';
const COMMANDS: readonly CommandName[] = ['invalid', 'attach', 'detach', 'flush', 'run', 'learn'];
export interface CmdResultRecord { type: 'cmd_result'; cmd: CommandName; arg: number; seq: number; err: number }

export interface SockAddrRecord {
  type: 'sock_addr';
  timeNs: bigint;
  cookie: bigint;
  /** The socket (same id as tcp_state's skaddr) for connect4; 0n for sendmsg4. */
  skaddr: bigint;
  daddr: string;
  dport: number;
  proto: number;
  pid: number;
  comm: string;
}

// Offsets resolved once (the decoder runs for every record: no per-call lookups or closures).
const FF = LAYOUT.flow.fields;
const [F_FIRST, F_LAST, F_BYTES, F_PAYLOAD, F_PKTS, F_SADDR, F_DADDR] = [FF.first_ns[0], FF.last_ns[0], FF.bytes[0], FF.payload[0], FF.pkts[0], FF.saddr[0], FF.daddr[0]];
const [F_IFINDEX, F_SPORT, F_DPORT, F_FAMILY, F_PROTO, F_EVENT, F_ORIGIN, F_FLAGS] = [FF.ifindex[0], FF.sport[0], FF.dport[0], FF.family[0], FF.proto[0], FF.event[0], FF.origin[0], FF.flags[0]];
const [F_ICMP_TYPE, F_ICMP_CODE, F_L7] = [FF.icmp_type[0], FF.icmp_code[0], FF.l7[0]];

/** A u64 counter as a number; counters beyond 2^53 are a broken record. */
function u64(buf: Buffer, at: number): number {
  const hi = u32le(buf, at + 4);
  if (hi >= 0x200000) fail(`counter ${buf.readBigUInt64LE(at)} too large`);
  return hi * 0x100000000 + u32le(buf, at);
}

export function decodeFlow(buf: Buffer, at: number, wall: bigint): FlowRecord {
  const event = FLOW_EVENTS[buf[at + F_EVENT]!] ?? fail(`FLOW event ${buf[at + F_EVENT]} unknown`);
  const family = ipFamily(buf[at + F_FAMILY]!, 'FLOW');
  const origin = buf[at + F_ORIGIN]!;
  if (origin > 2) fail(`FLOW origin ${origin} unknown`);
  return {
    type: 'flow', event, firstNs: u64PlusBig(buf, at + F_FIRST, wall), lastNs: u64PlusBig(buf, at + F_LAST, wall),
    family, proto: buf[at + F_PROTO]!, saddr: formatAddr(family, buf, at + F_SADDR), daddr: formatAddr(family, buf, at + F_DADDR),
    sport: buf[at + F_SPORT]! | (buf[at + F_SPORT + 1]! << 8), dport: buf[at + F_DPORT]! | (buf[at + F_DPORT + 1]! << 8), ifindex: u32le(buf, at + F_IFINDEX),
    origin: HOOKS[origin], bytes: [u64(buf, at + F_BYTES), u64(buf, at + F_BYTES + 8)], payload: [u64(buf, at + F_PAYLOAD), u64(buf, at + F_PAYLOAD + 8)],
    packets: [u64(buf, at + F_PKTS), u64(buf, at + F_PKTS + 8)], tcpFlags: [buf[at + F_FLAGS]!, buf[at + F_FLAGS + 1]!],
    icmpType: buf[at + F_ICMP_TYPE]!, icmpCode: buf[at + F_ICMP_CODE]!, httpHeads: [u32le(buf, at + F_L7), u32le(buf, at + F_L7 + 4)],
  };
}

function decodePacket(buf: Buffer, at: number, wall: bigint, max: number, what: string): PacketMeta & { data: Buffer } {
  const f = LAYOUT.dns.fields; // the fl_pkt part is the same in fl_dns and fl_http
  const family = ipFamily(buf[at + f.family[0]] ?? 0, what);
  const hook = HOOKS[buf[at + f.hook[0]] ?? 0] ?? fail(`${what} hook ${buf[at + f.hook[0]]} unknown`);
  const captured = buf.readUInt16LE(at + f.captured[0]);
  const payloadLen = buf.readUInt16LE(at + f.payload_len[0]);
  if (captured > max || captured > payloadLen) fail(`${what} captured ${captured} bytes of ${payloadLen} (max ${max})`);
  return {
    timeNs: buf.readBigUInt64LE(at + f.ts_ns[0]) + wall, family, proto: buf[at + f.proto[0]] ?? 0,
    saddr: formatAddr(family, buf, at + f.saddr[0]), daddr: formatAddr(family, buf, at + f.daddr[0]),
    sport: buf.readUInt16LE(at + f.sport[0]), dport: buf.readUInt16LE(at + f.dport[0]), ifindex: buf.readUInt32LE(at + f.ifindex[0]),
    hook, payloadLen, tcpSeq: buf.readUInt32LE(at + f.tcp_seq[0]), tcpAck: buf.readUInt32LE(at + f.tcp_ack[0]),
    data: Buffer.from(buf.subarray(at + f.data[0], at + f.data[0] + captured)),
  };
}

export function decodeDns(buf: Buffer, at: number, wall: bigint): DnsRecord {
  return { type: 'dns', ...decodePacket(buf, at, wall, DNS_MAX, 'DNS') };
}

export function decodeHttp(buf: Buffer, at: number, wall: bigint): HttpRecord {
  return { type: 'http', ...decodePacket(buf, at, wall, HTTP_MAX, 'HTTP') };
}

export function decodeDrop(buf: Buffer, at: number, wall: bigint): DropRecord {
  const f = LAYOUT.drop.fields;
  const family = ipFamily(buf[at + f.family[0]] ?? 0, 'DROP');
  return {
    type: 'drop', timeNs: buf.readBigUInt64LE(at + f.ts_ns[0]) + wall, reason: buf.readUInt32LE(at + f.reason[0]),
    location: buf.readBigUInt64LE(at + f.location[0]), family, proto: buf[at + f.proto[0]] ?? 0,
    saddr: formatAddr(family, buf, at + f.saddr[0]), daddr: formatAddr(family, buf, at + f.daddr[0]),
    sport: buf.readUInt16LE(at + f.sport[0]), dport: buf.readUInt16LE(at + f.dport[0]),
    ifindex: buf.readUInt32LE(at + f.ifindex[0]), netns: buf.readUInt32LE(at + f.netns[0]),
  };
}

export function decodeDropReason(buf: Buffer, at: number): DropReasonRecord {
  const f = LAYOUT.drop_reason.fields;
  const name = readCString(buf, at + f.name[0], f.name[1]);
  if (!/^[A-Z0-9_]{1,55}$/.test(name)) fail(`DROP_REASON name ${JSON.stringify(name)} is not an enum name`);
  return { type: 'drop_reason', value: buf.readUInt32LE(at + f.value[0]), name };
}

export function decodeTcpEvent(buf: Buffer, at: number, wall: bigint): TcpEventRecord {
  const f = LAYOUT.tcp_event.fields;
  const kind = TCP_EVENT_KINDS[buf[at + f.kind[0]] ?? 0] ?? fail(`TCP_EVENT kind ${buf[at + f.kind[0]]} unknown`);
  const { family, saddr, daddr } = sockAddrs(ipFamily(buf[at + f.family[0]] ?? 0, 'TCP_EVENT'), buf, at + f.saddr[0], at + f.daddr[0]);
  return {
    type: 'tcp_event', kind, timeNs: buf.readBigUInt64LE(at + f.ts_ns[0]) + wall, skaddr: buf.readBigUInt64LE(at + f.skaddr[0]), family,
    saddr, daddr,
    sport: buf.readUInt16LE(at + f.sport[0]), dport: buf.readUInt16LE(at + f.dport[0]), netns: buf.readUInt32LE(at + f.netns[0]), state: buf[at + f.state[0]] ?? 0,
  };
}

export function decodeCmdResult(buf: Buffer, at: number): CmdResultRecord {
  const f = LAYOUT.cmd_result.fields;
  const code = buf.readUInt32LE(at + f.cmd[0]);
  const cmd = COMMANDS[code] ?? fail(`CMD_RESULT command ${code} unknown`);
  return { type: 'cmd_result', cmd, arg: buf.readUInt32LE(at + f.arg[0]), seq: buf.readUInt32LE(at + f.seq[0]), err: buf.readInt32LE(at + f.err[0]) };
}

export function decodeSockAddr(buf: Buffer, at: number, wall: bigint): SockAddrRecord {
  const f = LAYOUT.sock_addr.fields;
  if (buf[at + f.family[0]] !== 4) fail(`SOCK_ADDR family ${buf[at + f.family[0]]} is not 4`);
  return {
    type: 'sock_addr', timeNs: buf.readBigUInt64LE(at + f.ts_ns[0]) + wall, cookie: buf.readBigUInt64LE(at + f.cookie[0]),
    skaddr: buf.readBigUInt64LE(at + f.skaddr[0]), daddr: formatIPv4(buf, at + f.daddr[0]), dport: buf.readUInt16LE(at + f.dport[0]),
    proto: buf[at + f.proto[0]] ?? 0, pid: buf.readUInt32LE(at + f.pid[0]), comm: readCString(buf, at + f.comm[0], f.comm[1]),
  };
}

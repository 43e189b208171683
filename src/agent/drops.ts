// Drops (skb:kfree_skb) and TCP health events -> flows. Reason names come from the running
// kernel's BTF (the loader sends enum skb_drop_reason as DROP_REASON records at start); a few
// reasons that normal socket teardown produces are not network drops and are left out.
import type { Flow } from '../flows/flow';
import { isoNs as isoFromNs } from './wire';
import type { DropReasonRecord, DropRecord, TcpEventRecord } from './datarecords';

/** Frees that are not packet loss on the network (sockets closing, queues purged on close). */
export const NOT_NETWORK_DROPS = new Set(['QUEUE_PURGE', 'SOCKET_CLOSE', 'TCP_CLOSE']);

export class DropReasons {
  private names = new Map<number, string>();

  learn(r: DropReasonRecord): void {
    this.names.set(r.value, r.name);
  }

  name(value: number): string {
    return this.names.get(value) ?? (this.names.size === 0 && value === 0 ? 'NOT_SPECIFIED' : `REASON_${value}`);
  }

  get size(): number {
    return this.names.size;
  }
}

function l4(proto: number, sport: number, dport: number, flags?: Record<string, boolean>): Flow['l4'] {
  if (proto === 6) return { TCP: { source_port: sport, destination_port: dport, ...(flags ? { flags } : {}) } };
  if (proto === 17) return { UDP: { source_port: sport, destination_port: dport } };
  return {};
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** Link-local multicast housekeeping (IPv6 DAD/MLD, 224.0.0.x) nobody listens to: not a lost connection. */
function isLinkLocalMulticast(ip: string): boolean {
  return ip.startsWith('ff02:') || ip.startsWith('224.0.0.');
}

/** The drop as a flow, or undefined for frees that are not network drops. */
export function dropFlow(r: DropRecord, reasons: DropReasons, node: string): Flow | undefined {
  const name = reasons.name(r.reason);
  if (NOT_NETWORK_DROPS.has(name) || isLoopback(r.saddr) || isLoopback(r.daddr) || isLinkLocalMulticast(r.daddr)) return undefined;
  return {
    time: isoFromNs(r.timeNs),
    verdict: 'DROPPED',
    drop_reason_desc: name,
    IP: { source: r.saddr, destination: r.daddr, ipVersion: r.family === 6 ? 'IPv6' : 'IPv4' },
    l4: l4(r.proto, r.sport, r.dport),
    source: {},
    destination: {},
    Type: 'L3_L4',
    node_name: node,
    is_reply: false,
    event_type: { type: 1 },
    traffic_direction: 'TRAFFIC_DIRECTION_UNKNOWN',
    Summary: `dropped by the kernel: ${name}`,
    extensions: { drop_reason: { value: r.reason, name, location: `0x${r.location.toString(16)}` }, ifindex: r.ifindex, netns: r.netns },
  };
}

/** Resets become flows (the local socket's view); retransmits are counted per connection. */
export function resetFlow(r: TcpEventRecord, node: string): Flow | undefined {
  if (r.kind === 'retransmit' || isLoopback(r.saddr) || isLoopback(r.daddr)) return undefined;
  const sent = r.kind === 'send_reset';
  return {
    time: isoFromNs(r.timeNs),
    verdict: 'FORWARDED',
    IP: { source: sent ? r.saddr : r.daddr, destination: sent ? r.daddr : r.saddr, ipVersion: r.family === 6 ? 'IPv6' : 'IPv4' },
    l4: l4(6, sent ? r.sport : r.dport, sent ? r.dport : r.sport, { RST: true }),
    source: {},
    destination: {},
    Type: 'L3_L4',
    node_name: node,
    is_reply: false,
    traffic_direction: sent ? 'EGRESS' : 'INGRESS',
    trace_observation_point: 'SOCK',
    Summary: `TCP reset ${sent ? 'sent' : 'received'}`,
    extensions: { tcp_event: sent ? 'reset_sent' : 'reset_received', netns: r.netns, tcp_state: r.state },
  };
}

/** Retransmits per connection (either orientation), bounded; read when the connection's flow ends. */
export class Retransmits {
  private counts = new Map<string, number>();
  /** Ports of the counted connections (may hold stale ones): most flows are ruled out without building a key. */
  private ports = new Set<number>();
  constructor(private readonly max = 65_536) {}

  add(r: TcpEventRecord): void {
    const k = `${r.saddr}|${r.sport}|${r.daddr}|${r.dport}`;
    if (this.counts.size >= this.max && !this.counts.has(k)) this.counts.delete(this.counts.keys().next().value as string);
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    this.ports.add(r.sport).add(r.dport);
  }

  take(a: string, ap: number, b: string, bp: number): number {
    if (this.counts.size === 0) {
      this.ports.clear();
      return 0;
    }
    if (!this.ports.has(ap) || !this.ports.has(bp)) return 0;
    const k1 = `${a}|${ap}|${b}|${bp}`;
    const k2 = `${b}|${bp}|${a}|${ap}`;
    const n = (this.counts.get(k1) ?? 0) + (this.counts.get(k2) ?? 0);
    this.counts.delete(k1);
    this.counts.delete(k2);
    return n;
  }
}

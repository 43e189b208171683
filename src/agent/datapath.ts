// Turns the loader's datapath records (tc flows, DNS, HTTP, drops, TCP health, drop reason
// names) into Hubble-shaped flows. TCP state records go to tcpflows.ts; lost/hello/cmd_result
// are the agent's business. Everything here is bounded and synchronous.
import type { Flow } from '../flows/flow';
import type { DecodedRecord, FlowRecord } from './records';
import type { DnsRecord, HttpRecord, PacketMeta } from './datarecords';
import { NameCache } from './dns';
import { DropReasons, Retransmits, dropFlow, resetFlow } from './drops';
import { type Endpoint4, TranslationJoin, flowFromRecord } from './flowrecords';
import { L7Flows } from './l7flows';

/** A connection's Service translation as the tc views joined it. */
type Translation = { vip: Endpoint4; backend: Endpoint4 };

export interface DatapathOptions {
  /** Emit a flow for tc UPDATE records too (default: start, end and timeout only). */
  updates?: boolean;
}

export class Datapath {
  readonly reasons = new DropReasons();
  readonly names = new NameCache();
  private readonly join = new TranslationJoin();
  private readonly retransmits = new Retransmits();
  /** The joins of this batch's backend-side STARTs, made in record order (observe()). */
  private readonly startJoins = new Map<FlowRecord, Translation>();
  /**
   * The joins of this batch's L7 messages, made in record order (observe()), null for none: the
   * message's client is its sender when it leaves a pod (a request to a VIP), its receiver when it
   * enters one (a reply from a VIP); only there is a message addressed to or from a VIP.
   */
  private readonly l7Joins = new Map<PacketMeta, Translation | null>();
  private readonly l7: L7Flows;
  /** Records seen per type, and flows made. */
  readonly counts = new Map<string, number>();

  constructor(private readonly node: string, private readonly opts: DatapathOptions = {}) {
    this.l7 = new L7Flows(node, this.names);
  }

  /** Client ends whose source port conntrack rewrote, joined (rewritten()). */
  portRewrites = 0;

  /**
   * Conntrack rewrote a TCP client's source port (the socket view learnt it from its lookup): the
   * client sent from `sent`, the backend sees `seen`. The tc views and HTTP messages keyed by
   * either port are one connection.
   */
  rewritten(client: string, sent: number, seen: number): void {
    this.portRewrites++;
    this.join.alias(client, 6, sent, seen);
    this.l7.alias(client, sent, seen);
  }

  get unparsed(): { dns: number; http: number } {
    return { dns: this.l7.counters.dnsUnparsed, http: this.l7.counters.httpUnparsed };
  }

  /**
   * One tc FLOW record's view of its connection, in record order among the socket records (the
   * agent calls this while it hands TCP state records to tcpflows.ts, which asks seenTranslation):
   * then a batch's views are taken in by onBatch(records, true).
   */
  observe(r: FlowRecord | HttpRecord | DnsRecord): void {
    if (r.type !== 'flow') {
      // An L7 message takes its connection's join as it stands now: by the batch's end its client
      // port may have started a later connection (to another backend).
      this.l7Joins.set(r, this.l7Join(r, r.hook !== 'from_pod') ?? null);
      return;
    }
    this.join.observe(r);
    // A backend's START, joined as the ring ordered it (its client's START just before): the
    // batch's end may hold a later connection of the same client port.
    if (r.event === 'start' && r.origin !== 'from_pod') {
      const tr = this.join.lookup(r);
      if (tr) this.startJoins.set(r, tr);
    }
  }

  /** Where a TCP connection from src:sport to dst:dport went, when this node's tc views saw both its ends start (TranslationJoin.seenSince). */
  seenTranslation(src: string, sport: number, dst: string, dport: number, sinceWallNs: number): Endpoint4 | undefined {
    return this.join.seenSince(src, 6, sport, dst, dport, sinceWallNs);
  }

  /** A TCP client socket of this node closed: later views of its end are new connections'. */
  clientClosed(src: string, sport: number, wallNs: bigint): void {
    this.join.closed(src, 6, sport, wallNs);
  }

  /**
   * Flows for one batch of records, in record order. TCP state, hello, lost, cmd_result are
   * skipped. `observed`: the batch's FLOW records were given to observe() already.
   */
  onBatch(records: readonly DecodedRecord[], observed = false): Flow[] {
    if (!observed) this.join.observeAll(records); // both views of a connection first
    const out: Flow[] = [];
    let tc = 0; // FLOW records, counted once per batch (they are nearly all of them)
    for (const r of records) {
      if (r.type === 'flow') tc++;
      else this.count(r.type);
      const f = this.one(r);
      if (!f) continue;
      if (r.type === 'http' || r.type === 'dns') this.translateL7(r, f);
      const names = this.names.lookup(f.IP.destination) ?? (f.extensions?.original_destination ? this.names.lookup(f.extensions.original_destination.ip) : undefined);
      if (names && !f.destination_names) f.destination_names = names;
      out.push(f);
    }
    if (tc > 0) this.count('flow', tc);
    this.startJoins.clear();
    this.l7Joins.clear();
    return out;
  }

  private count(type: string, n = 1): void {
    this.counts.set(type, (this.counts.get(type) ?? 0) + n);
  }

  private one(r: DecodedRecord): Flow | undefined {
    switch (r.type) {
      case 'flow': return this.tcFlow(r);
      case 'dns': return this.l7.dns(r);
      case 'http': return this.l7.http(r);
      case 'drop_reason': this.reasons.learn(r); return undefined;
      case 'drop': return dropFlow(r, this.reasons, this.node);
      case 'tcp_event':
        if (r.kind === 'retransmit') this.retransmits.add(r);
        return resetFlow(r, this.node);
      default: return undefined;
    }
  }

  /** The join of an L7 message's connection, by its client: the receiver of a reply, else the sender. */
  private l7Join(r: PacketMeta, reply: boolean): Translation | undefined {
    return reply ? this.join.lookupInitiator(r.daddr, r.proto, r.dport) : this.join.lookupInitiator(r.saddr, r.proto, r.sport);
  }

  /**
   * An L7 message seen at the client's interface is addressed to the Service VIP (before kube-proxy's
   * DNAT) or comes from it (a reply, after the reverse NAT): name the backend the connection reached,
   * as the tc flows do, and keep the VIP in extensions.original_destination (original_source on a
   * reply, so that a reply is never counted as traffic to the Service).
   */
  private translateL7(r: PacketMeta, f: Flow): void {
    const reply = f.is_reply === true;
    const joined = this.l7Joins.size > 0 ? this.l7Joins.get(r) : undefined; // undefined: not observed in order
    const tr = joined !== undefined && reply === (r.hook !== 'from_pod') ? joined ?? undefined : this.l7Join(r, reply);
    const peer = reply ? { ip: r.saddr, port: r.sport } : { ip: r.daddr, port: r.dport };
    if (!tr || tr.vip.ip !== peer.ip || tr.vip.port !== peer.port) return;
    const l4 = f.l4.TCP ?? f.l4.UDP;
    if (reply) {
      f.IP.source = tr.backend.ip;
      if (l4) l4.source_port = tr.backend.port;
    } else {
      f.IP.destination = tr.backend.ip;
      if (l4) l4.destination_port = tr.backend.port;
    }
    f.extensions = reply ? { ...f.extensions, original_source: tr.vip } : { ...f.extensions, original_destination: tr.vip };
  }

  private tcFlow(r: FlowRecord): Flow | undefined {
    if (r.event === 'update' && !this.opts.updates) return undefined;
    const done = r.event === 'end' || r.event === 'timeout';
    // In record order when that joined it; else as the batch ends (a port rewrite is learnt from
    // a lookup answered after the records were observed).
    let tr = (this.startJoins.size > 0 ? this.startJoins.get(r) : undefined) ?? this.join.lookup(r);
    // A backend's view names its own destination: the join's backend is the port's latest, which
    // under a quickly reused client port may be a later connection's.
    if (tr && r.origin !== 'from_pod' && (tr.backend.ip !== r.daddr || tr.backend.port !== r.dport)) tr = undefined;
    const rt = done && r.proto === 6 ? this.retransmits.take(r.saddr, r.sport, tr?.backend.ip ?? r.daddr, tr?.backend.port ?? r.dport) : 0;
    return flowFromRecord(r, this.node, tr, rt);
  }
}

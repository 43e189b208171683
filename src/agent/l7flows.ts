// DNS and HTTP records captured at tc -> Hubble L7 flows (`l7.dns`, `l7.http`, `l7.latency_ns`,
// `is_reply`), with request/response matching. A flow is emitted where a pod's interface saw the
// message: where it left its pod, and where it reached a pod from off the node (tc egress skips
// what our ingress hooks saw), so a message between two pods of this node is one flow.
import type { Flow } from '../flows/flow';
import { isoNs as isoFromNs } from './wire';
import type { DnsRecord, HttpRecord, PacketMeta } from './datarecords';
import { DnsMatcher, QTYPE_NAMES, parseDns, tcpDnsMessage } from './dns';
import type { DnsMessage, NameCache } from './dns';
import { HttpMatcher, parseHttpHead } from './http';
import { UNKNOWN_ENDPOINT } from './flowrecords';

export interface L7Counters { dnsUnparsed: number; httpUnparsed: number }

function base(r: PacketMeta, node: string, reply: boolean, summary: string): Flow {
  const l4 = r.proto === 17 ? { UDP: { source_port: r.sport, destination_port: r.dport } } : { TCP: { source_port: r.sport, destination_port: r.dport } };
  return {
    time: isoFromNs(r.timeNs),
    verdict: 'FORWARDED',
    IP: { source: r.saddr, destination: r.daddr, ipVersion: r.family === 6 ? 'IPv6' : 'IPv4' },
    l4,
    source: UNKNOWN_ENDPOINT,
    destination: UNKNOWN_ENDPOINT,
    Type: 'L7',
    node_name: node,
    is_reply: reply,
    traffic_direction: (r.hook === 'from_pod') !== reply ? 'EGRESS' : 'INGRESS',
    trace_observation_point: r.hook === 'from_pod' ? 'FROM_ENDPOINT' : 'TO_ENDPOINT',
    Summary: summary,
    extensions: { ifindex: r.ifindex, l7_payload_bytes: r.payloadLen },
  };
}

function dnsL7(m: DnsMessage): Record<string, unknown> {
  const type = (t: number) => QTYPE_NAMES[t] ?? `TYPE${t}`;
  return {
    query: m.qname,
    ...(m.response ? {
      ips: m.answers.flatMap((a) => (a.ip ? [a.ip] : [])),
      ttl: Math.min(...m.answers.map((a) => a.ttl), 2 ** 31),
      cnames: m.answers.flatMap((a) => (a.cname ? [a.cname] : [])),
      rcode: m.rcode,
      rrtypes: [...new Set(m.answers.map((a) => type(a.type)))],
    } : {}),
    qtypes: [type(m.qtype)],
    observation_source: 'tc',
  };
}

/** HTTP flows carry no headers: one frozen empty list, shared. */
const NO_HEADERS: readonly never[] = Object.freeze([]);

export class L7Flows {
  readonly counters: L7Counters = { dnsUnparsed: 0, httpUnparsed: 0 };
  private readonly dnsMatch = new DnsMatcher();
  private readonly httpMatch = new HttpMatcher();
  /** `client|seen` → the port the client sent from, for client ends whose port conntrack rewrote (bounded). */
  private readonly sentPort = new Map<string, number>();

  constructor(private readonly node: string, readonly names: NameCache) {}

  dns(r: DnsRecord): Flow | undefined {
    const msg = r.proto === 6 ? tcpDnsMessage(r.data) : r.data;
    const m = msg && parseDns(msg);
    if (!m || m.opcode !== 0) {
      this.counters.dnsUnparsed++;
      return undefined;
    }
    let latency: number | undefined;
    if (m.response) {
      latency = this.dnsMatch.response(r.daddr, r.dport, m.id, r.timeNs);
      this.names.learn(m);
    } else {
      this.dnsMatch.query(r.saddr, r.sport, m.id, r.timeNs);
    }
    const rcode = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][m.rcode] ?? `RCODE${m.rcode}`;
    const summary = m.response ? `DNS Answer ${rcode} "${m.qname}" ${m.answers.map((a) => a.ip ?? a.cname).filter(Boolean).join(',')}` : `DNS Query ${m.qname} ${QTYPE_NAMES[m.qtype] ?? m.qtype}`;
    const f = base(r, this.node, m.response, summary);
    f.l7 = { type: m.response ? 'RESPONSE' : 'REQUEST', ...(latency !== undefined ? { latency_ns: String(latency) } : {}), dns: dnsL7(m) };
    f.extensions = { ...f.extensions, dns_id: m.id, ...(m.truncated ? { dns_truncated: true } : {}) };
    return f;
  }

  http(r: HttpRecord): Flow | undefined {
    const h = parseHttpHead(r.data);
    if (!h) {
      this.counters.httpUnparsed++;
      return undefined;
    }
    // By the client's address and port alone: a request and its response of a connection between
    // two pods of this node are seen at different veths (each where it left its pod), the request
    // addressed to a Service VIP, the response from the backend.
    let conn = h.kind === 'request' ? `${r.saddr}|${r.sport}` : `${r.daddr}|${r.dport}`;
    // A request leaves the client from the port it sent from; its response may reach the server's
    // interface addressed to the port conntrack rewrote it to: both are one connection.
    if (this.sentPort.size > 0) {
      if (h.kind === 'request') this.sentPort.delete(conn); // the client sends from that port itself now: a new connection
      const sent = h.kind === 'response' ? this.sentPort.get(conn) : undefined;
      if (sent !== undefined) conn = `${r.daddr}|${sent}`;
    }
    if (h.kind === 'request') {
      this.httpMatch.request(conn, h, r.timeNs, r.tcpAck);
      const f = base(r, this.node, false, `HTTP/1 ${h.method} ${h.url}`);
      f.l7 = { type: 'REQUEST', http: { method: h.method, url: this.url(h.host ?? r.daddr, h.url), protocol: h.protocol, headers: NO_HEADERS } };
      return f;
    }
    const req = this.httpMatch.response(conn, r.timeNs, r.tcpSeq);
    const f = base(r, this.node, true, `HTTP/1 ${h.code}${req ? ` ${req.latencyNs / 1e6}ms (${req.head.method} ${req.head.url})` : ''}`);
    // Built without spreads (no temporaries), keys in the order Hubble prints them.
    const url = req ? this.url(req.head.host ?? r.saddr, req.head.url) : undefined;
    const http = req ? { code: h.code, protocol: h.protocol, method: req.head.method, url, headers: NO_HEADERS } : { code: h.code, protocol: h.protocol, headers: NO_HEADERS };
    f.l7 = req ? { type: 'RESPONSE', latency_ns: String(req.latencyNs), http } : { type: 'RESPONSE', http };
    return f;
  }

  /** See TranslationJoin.alias: the client sent from `sent`; the server sees `seen`. */
  alias(client: string, sent: number, seen: number): void {
    if (this.sentPort.size >= 16_384) this.sentPort.delete(this.sentPort.keys().next().value as string);
    this.sentPort.set(`${client}|${seen}`, sent);
  }

  private url(host: string, path: string): string {
    return /^[a-z]+:\/\//i.test(path) ? path : `http://${host}${path.startsWith('/') ? '' : '/'}${path}`;
  }
}

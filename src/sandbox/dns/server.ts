// The sandbox cluster DNS: authoritative for cluster.local, no upstream (names outside the zone
// get REFUSED). UDP and TCP (2-byte length framing) on the node IP, port 53 by default.
import { createSocket } from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { encodeHeaderOnly, encodeResponse, parseQuery, RCODE, RR_A } from './wire';
import type { ARecord } from './wire';

export const CLUSTER_DOMAIN = 'cluster.local';
const TTL = 5;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** What the DNS knows about the cluster (implemented by the controller). */
export interface ClusterRecords {
  /** ClusterIP(s) of a service (pod IPs for a headless one); undefined when there is no such service. */
  serviceIPs(namespace: string, name: string): string[] | undefined;
  namespaceExists(namespace: string): boolean;
}

export interface Resolution { rcode: number; answers: ARecord[] }

/** Pure name resolution for the cluster zone. */
export function resolve(records: ClusterRecords, name: string, type: number): Resolution {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n !== CLUSTER_DOMAIN && !n.endsWith(`.${CLUSTER_DOMAIN}`)) return { rcode: RCODE.REFUSED, answers: [] };
  const labels = n.slice(0, Math.max(0, n.length - CLUSTER_DOMAIN.length - 1)).split('.').filter(Boolean);
  let ips: string[] | undefined;
  let exists = labels.length === 0 || (labels.length === 1 && (labels[0] === 'svc' || labels[0] === 'pod'));
  if (labels.length === 3 && labels[2] === 'svc') ips = records.serviceIPs(labels[1] ?? '', labels[0] ?? '');
  if (labels.length === 3 && labels[2] === 'pod') {
    const ip = (labels[0] ?? '').replace(/-/g, '.');
    if (IPV4.test(ip) && records.namespaceExists(labels[1] ?? '')) ips = [ip];
  }
  if (labels.length === 2 && (labels[1] === 'svc' || labels[1] === 'pod')) exists = records.namespaceExists(labels[0] ?? '');
  if (ips) exists = true;
  if (!exists) return { rcode: RCODE.NXDOMAIN, answers: [] };
  const answers = type === RR_A && ips ? ips.map((ip) => ({ name: n, ttl: TTL, ip })) : [];
  return { rcode: RCODE.NOERROR, answers };
}

export interface DnsStats { queries: number; malformed: number; refused: number; nxdomain: number }

/** Answers one packet; undefined when the packet must be dropped silently. */
export function answer(records: ClusterRecords, packet: Buffer, stats: DnsStats): Buffer | undefined {
  const parsed = parseQuery(packet);
  if (!parsed.ok) {
    stats.malformed++;
    return parsed.id !== undefined && parsed.rcode !== undefined ? encodeHeaderOnly(parsed.id, parsed.rcode) : undefined;
  }
  stats.queries++;
  const q = parsed.query;
  const r = q.question.qclass === 1 ? resolve(records, q.question.name, q.question.type) : { rcode: RCODE.REFUSED, answers: [] };
  if (r.rcode === RCODE.REFUSED) stats.refused++;
  if (r.rcode === RCODE.NXDOMAIN) stats.nxdomain++;
  return encodeResponse(q, r.rcode, r.answers);
}

export interface DnsServer { close(): Promise<void>; stats: DnsStats; port: number }

function serveTcpConnection(sock: Socket, records: ClusterRecords, stats: DnsStats): void {
  let buf = Buffer.alloc(0);
  sock.setTimeout(10_000, () => sock.destroy());
  sock.on('error', () => sock.destroy());
  sock.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (buf.length > 70_000) { sock.destroy(); return; }
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      const reply = answer(records, buf.subarray(2, 2 + len), stats);
      buf = buf.subarray(2 + len);
      if (!reply) { sock.destroy(); return; }
      const lenBuf = Buffer.alloc(2);
      lenBuf.writeUInt16BE(reply.length, 0);
      sock.write(Buffer.concat([lenBuf, reply]));
    }
  });
}

export async function startDnsServer(opts: { host: string; port: number; records: ClusterRecords }): Promise<DnsServer> {
  const stats: DnsStats = { queries: 0, malformed: 0, refused: 0, nxdomain: 0 };
  const udp = createSocket({ type: 'udp4', reuseAddr: false });
  udp.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const reply = answer(opts.records, msg, stats);
    if (reply) udp.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(opts.port, opts.host, () => { udp.off('error', reject); resolve(); });
  });
  udp.on('error', () => undefined);
  const port = udp.address().port;
  const open = new Set<Socket>();
  const tcp: Server = createServer((sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    serveTcpConnection(sock, opts.records, stats);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, opts.host, () => { tcp.off('error', reject); resolve(); });
  });
  return {
    stats,
    port,
    close: async () => {
      await new Promise<void>((r) => udp.close(() => r()));
      for (const s of open) s.destroy();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

// Service translation from the node's conntrack table (kube-proxy iptables/nftables/ipvs modes
// all leave the original and the translated tuple there). Read on demand, cached briefly.
import { readFile } from 'node:fs/promises';

export interface Translation { ip: string; port: number }

function tupleKey(proto: string, src: string, sport: number, dst: string, dport: number): string {
  return `${proto} ${src}:${sport} ${dst}:${dport}`;
}

/**
 * Parses /proc/net/nf_conntrack text (DNAT entries only) into two maps: original tuple → the
 * backend it was translated to, and the backend's view (client → backend) → the original
 * destination (the Service VIP), for the server side of a connection.
 */
export function parseConntrack(text: string): Map<string, Translation> {
  const out = new Map<string, Translation>();
  for (const line of text.split('\n')) {
    const f = line.split(/\s+/);
    const proto = f[2];
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') continue;
    const kv: string[][] = [];
    for (const field of f) {
      const eq = field.indexOf('=');
      if (eq > 0) kv.push([field.slice(0, eq), field.slice(eq + 1)]);
    }
    const get = (key: string, nth: number) => kv.filter(([k]) => k === key)[nth]?.[1];
    const [os, od, osp, odp, rs, rsp] = [get('src', 0), get('dst', 0), get('sport', 0), get('dport', 0), get('src', 1), get('sport', 1)];
    if (!os || !od || !osp || !odp || !rs || !rsp) continue;
    if (rs === od && rsp === odp) continue;
    out.set(tupleKey(proto, os, Number(osp), od, Number(odp)), { ip: rs, port: Number(rsp) });
    // Server side: the backend sees the reply tuple's destination as its peer (SNAT-aware).
    const [rd, rdp] = [get('dst', 1), get('dport', 1)];
    if (rd && rdp) out.set(`reply ${tupleKey(proto, rd, Number(rdp), rs, Number(rsp))}`, { ip: od, port: Number(odp) });
  }
  return out;
}

export class ConntrackTable {
  private table = new Map<string, Translation>();
  private readAt = 0;
  private reading: Promise<void> | undefined;
  private available = true;

  constructor(private readonly path = '/proc/net/nf_conntrack', private readonly maxAgeMs = 25) {}

  /** The translated destination of a connection, or undefined if it was not translated. */
  lookup(proto: 'tcp' | 'udp', src: string, sport: number, dst: string, dport: number): Promise<Translation | undefined> {
    return this.find(tupleKey(proto, src, sport, dst, dport));
  }

  /** For a connection as the server saw it (peer → local), the destination the client dialled. */
  originalDestination(proto: 'tcp' | 'udp', peer: string, peerPort: number, local: string, localPort: number): Promise<Translation | undefined> {
    return this.find(`reply ${tupleKey(proto, peer, peerPort, local, localPort)}`);
  }

  private async find(key: string): Promise<Translation | undefined> {
    const hit = this.table.get(key);
    if (hit || !this.available) return hit;
    if (Date.now() - this.readAt > this.maxAgeMs) await this.refresh();
    return this.table.get(key);
  }

  private refresh(): Promise<void> {
    this.reading ??= readFile(this.path, 'utf8')
      .then((text) => { this.table = parseConntrack(text); })
      .catch(() => { this.available = false; })
      .finally(() => { this.readAt = Date.now(); this.reading = undefined; });
    return this.reading;
  }
}

// Service translation from the node's conntrack table (kube-proxy iptables/nftables/ipvs modes
// all leave the original and the translated tuple there). Read on demand, cached briefly.
import { readFile } from 'node:fs/promises';

export interface Translation { ip: string; port: number }

function tupleKey(proto: string, src: string, sport: number, dst: string, dport: number): string {
  return `${proto} ${src}:${sport} ${dst}:${dport}`;
}

/** Parses /proc/net/nf_conntrack text into original tuple → translated destination (DNAT only). */
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
  async lookup(proto: 'tcp' | 'udp', src: string, sport: number, dst: string, dport: number): Promise<Translation | undefined> {
    const key = tupleKey(proto, src, sport, dst, dport);
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

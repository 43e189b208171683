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
  // One regex per line (a busy node has tens of thousands): protocol, then the original and the
  // reply tuple, each "src= dst= sport= dport=" (flags such as [UNREPLIED] may come between).
  const re = /^\S+\s+\d+\s+(tcp|udp|sctp)\s.*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) .*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const [, proto = '', os = '', od = '', osp, odp, rs = '', rd = '', rsp, rdp] = m; // every group matched
    if (rs === od && rsp === odp) continue; // not translated
    out.set(tupleKey(proto, os, Number(osp), od, Number(odp)), { ip: rs, port: Number(rsp) });
    // Server side: the backend sees the reply tuple's destination as its peer (SNAT-aware).
    out.set(`reply ${tupleKey(proto, rd, Number(rdp), rs, Number(rsp))}`, { ip: od, port: Number(odp) });
  }
  return out;
}

/**
 * The node's DNAT entries, read on a lookup that misses. A read of /proc/net/nf_conntrack costs
 * ~5 µs per entry (a node with 20,000 entries: ~100 ms), so reads are spaced: the next one starts
 * no sooner than max(minIntervalMs, costFactor x the last read's time) after the last one ended,
 * which bounds them to about 1 / (costFactor + 1) of a core however fast connections come. A
 * miss is final when the last read started after `since` (CLOCK_MONOTONIC ns by which the
 * connection's entry existed: its SYN); otherwise the lookup waits for the next read: no
 * translation is missed, only reported later on a busy node.
 */
export class ConntrackTable {
  private table = new Map<string, Translation>();
  private lastEnd = 0;
  private lastMs = 0;
  private lastStart = -1n; // CLOCK_MONOTONIC ns (the clock of the kernel's records)
  private next: Promise<void> | undefined; // a read not started yet: every lookup waiting gets it
  private current: Promise<void> = Promise.resolve();
  private available = true;
  /** Reads done (for tests and the agent's status). */
  reads = 0;

  constructor(
    private readonly path = '/proc/net/nf_conntrack',
    private readonly minIntervalMs = 25,
    private readonly costFactor = 10,
  ) {}

  /** The translated destination of a connection, or undefined if it was not translated. */
  lookup(proto: 'tcp' | 'udp', src: string, sport: number, dst: string, dport: number, since = process.hrtime.bigint()): Promise<Translation | undefined> {
    return this.find(tupleKey(proto, src, sport, dst, dport), since);
  }

  /** For a connection as the server saw it (peer → local), the destination the client dialled. */
  originalDestination(proto: 'tcp' | 'udp', peer: string, peerPort: number, local: string, localPort: number, since = process.hrtime.bigint()): Promise<Translation | undefined> {
    return this.find(`reply ${tupleKey(proto, peer, peerPort, local, localPort)}`, since);
  }

  private async find(key: string, since: bigint): Promise<Translation | undefined> {
    const hit = this.table.get(key);
    if (hit || !this.available || this.lastStart >= since) return hit;
    await (this.next ??= this.schedule());
    return this.table.get(key);
  }

  /** The next read: after the one in progress, spaced by the cost of the last. */
  private schedule(): Promise<void> {
    return this.current.then(async () => {
      const wait = this.lastEnd + Math.max(this.minIntervalMs, this.lastMs * this.costFactor) - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.next = undefined; // lookups from now on need a read that starts after them
      this.current = this.read();
      await this.current;
    });
  }

  private async read(): Promise<void> {
    const t0 = Date.now();
    this.lastStart = process.hrtime.bigint();
    try {
      this.table = parseConntrack(await readFile(this.path, 'utf8'));
    } catch {
      this.available = false;
    }
    this.reads++;
    this.lastEnd = Date.now();
    this.lastMs = this.lastEnd - t0;
  }
}

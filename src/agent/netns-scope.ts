// Which network namespaces belong to this agent's node. Agents that share one kernel (every node
// of a kind cluster, the multi-node sandbox) all see every netns in their tracepoints; each keeps
// only its node's: its own netns (the node's host network) and the netns at the other end of the
// node's veths (its pods, as every bridge/ptp CNI wires them), named under /run/netns (containerd
// and the sandbox both name pod netns there). tc records need no filter: the agent attaches tc
// programs to its own node's veths only.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';

const exec = promisify(execFile);

interface IpLink { link_netnsid?: unknown }
interface IpNsId { nsid?: unknown; name?: unknown }

/** nsids of the peers of this netns's veths, from `ip -j -d link show type veth`. */
export function peerNsids(json: string): Set<number> {
  const links = JSON.parse(json || '[]') as unknown;
  if (!Array.isArray(links)) throw new Error('ip -j link: not a JSON array');
  return new Set((links as IpLink[]).map((l) => l.link_netnsid).filter((n): n is number => typeof n === 'number' && Number.isInteger(n)));
}

/** nsid -> /run/netns name, from `ip -j netns list-id`. */
export function nsidNames(json: string): Map<number, string> {
  const ids = JSON.parse(json || '[]') as unknown;
  if (!Array.isArray(ids)) throw new Error('ip -j netns list-id: not a JSON array');
  const out = new Map<number, string>();
  for (const e of ids as IpNsId[]) {
    if (typeof e.nsid === 'number' && typeof e.name === 'string' && /^[\w.-]{1,64}$/.test(e.name)) out.set(e.nsid, e.name);
  }
  return out;
}

export function inode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

export class NetnsScope {
  readonly own = inode('/proc/self/ns/net');
  private members = new Set<number>();
  private refreshedAt = 0;
  private running: Promise<void> | undefined;
  /** Records dropped because their netns belongs to no pod of this node. */
  dropped = 0;

  constructor(private readonly log: (m: string) => void, private readonly minIntervalMs = 250) {
    if (this.own !== undefined) this.members.add(this.own);
  }

  get inodes(): number[] { return [...this.members]; }

  /** Re-reads the node's pod netns (rate-limited; concurrent callers share one scan). */
  refresh(): Promise<void> {
    if (this.running) return this.running;
    if (Date.now() - this.refreshedAt < this.minIntervalMs) return Promise.resolve();
    this.running = this.scan().catch((e: unknown) => this.log(`netns scan failed: ${String(e)}`)).finally(() => {
      this.refreshedAt = Date.now();
      this.running = undefined;
    });
    return this.running;
  }

  private async scan(): Promise<void> {
    const [links, ids] = await Promise.all([
      exec('ip', ['-j', '-d', 'link', 'show', 'type', 'veth'], { maxBuffer: 64 * 1024 * 1024 }),
      exec('ip', ['-j', 'netns', 'list-id'], { maxBuffer: 16 * 1024 * 1024 }),
    ]);
    const names = nsidNames(ids.stdout);
    const next = new Set<number>(this.own !== undefined ? [this.own] : []);
    for (const nsid of peerNsids(links.stdout)) {
      const name = names.get(nsid);
      const ino = name ? inode(`/run/netns/${name}`) : undefined;
      if (ino !== undefined) next.add(ino);
    }
    this.members = next;
  }

  /** Whether a record from netns `ino` is this node's (0 = unknown: kept, it cannot be attributed). */
  has(ino: number): boolean {
    return ino === 0 || this.members.has(ino);
  }

  /** Keeps the records of this node's netns; an unknown netns first triggers a (rate-limited) rescan. */
  async filter<T extends { type: string }>(records: T[]): Promise<T[]> {
    const netnsOf = (r: T): number | undefined => {
      const n = (r as { netns?: unknown }).netns;
      return typeof n === 'number' ? n : undefined;
    };
    if (records.some((r) => { const n = netnsOf(r); return n !== undefined && !this.has(n); })) await this.refresh();
    const kept = records.filter((r) => { const n = netnsOf(r); return n === undefined || this.has(n); });
    this.dropped += records.length - kept.length;
    return kept;
  }
}

// Which interfaces the tc programs watch: the host-side end of every veth whose peer lives in
// another network namespace (what bridge, ptp, Calico and Cilium CNIs all give a pod), found
// by the agent itself from `ip -j -d link show type veth`, re-read on every link event. New ones
// are attached, gone ones detached (the kernel removes their programs with them; the loader
// forgets what it learned for them). A veth that is a bridge port gets only the ingress program,
// and its bridge one egress program for all its ports (bridged frames between pods then pass no
// egress hook at all); the pods' addresses behind each port are seeded from the bridge's
// neighbour and FDB tables, for pods that have not sent since the loader started.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Link {
  ifindex: number;
  ifname: string;
  /** The ifindex of the bridge this veth is a port of (only when bridges are passed to parseVeths). */
  bridge?: number;
}

interface IpLink { ifindex?: unknown; ifname?: unknown; link_netnsid?: unknown; master?: unknown; linkinfo?: { info_slave_kind?: unknown } }

function jsonArray(json: string, what: string): unknown[] {
  const v = JSON.parse(json) as unknown;
  if (!Array.isArray(v)) throw new Error(`${what}: not a JSON array`);
  return v;
}

/**
 * Host-side veths from `ip -j -d link show type veth` output (peers in another netns only); with
 * `bridges` (name → ifindex), a veth enslaved to one of them carries its ifindex in `bridge`.
 */
export function parseVeths(json: string, pattern?: RegExp, bridges?: ReadonlyMap<string, number>): Link[] {
  const out: Link[] = [];
  for (const l of jsonArray(json, 'ip -j link') as IpLink[]) {
    if (typeof l.ifindex !== 'number' || typeof l.ifname !== 'string' || l.link_netnsid === undefined) continue;
    if (pattern && !pattern.test(l.ifname)) continue;
    const link: Link = { ifindex: l.ifindex, ifname: l.ifname };
    const bridge = typeof l.master === 'string' && l.linkinfo?.info_slave_kind === 'bridge' ? bridges?.get(l.master) : undefined;
    if (bridge !== undefined) link.bridge = bridge;
    out.push(link);
  }
  return out;
}

/** Bridge name → ifindex from `ip -j link show type bridge`. */
export function parseBridges(json: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of jsonArray(json, 'ip -j link') as IpLink[]) {
    if (typeof l.ifindex === 'number' && typeof l.ifname === 'string') out.set(l.ifname, l.ifindex);
  }
  return out;
}

/** The host-side veths and, withBridges, the bridges (name → ifindex) their ports belong to. */
export async function listVeths(pattern?: RegExp, withBridges = false): Promise<{ veths: Link[]; bridges: Map<string, number> }> {
  const opts = { maxBuffer: 64 * 1024 * 1024 };
  const [veths, br] = await Promise.all([
    run('ip', ['-j', '-d', 'link', 'show', 'type', 'veth'], opts),
    withBridges ? run('ip', ['-j', 'link', 'show', 'type', 'bridge'], opts) : undefined,
  ]);
  const bridges = br ? parseBridges(br.stdout || '[]') : new Map<string, number>();
  return { veths: parseVeths(veths.stdout || '[]', pattern, withBridges ? bridges : undefined), bridges };
}

export interface PodAddr { ifindex: number; addr: string }

interface Neigh { dst?: unknown; lladdr?: unknown }
interface Fdb { mac?: unknown; ifname?: unknown; flags?: unknown }

/**
 * Addresses of pods behind our bridge ports: each neighbour entry of the bridge (`ip -j neigh show
 * dev BR`) whose MAC the bridge learned on one of `ports` (`bridge -j fdb show br BR`, name → ifindex).
 */
export function parsePodAddrs(neighJson: string, fdbJson: string, ports: ReadonlyMap<string, number>): PodAddr[] {
  const portOf = new Map<string, number>();
  for (const f of jsonArray(fdbJson, 'bridge -j fdb') as Fdb[]) {
    if (typeof f.mac !== 'string' || typeof f.ifname !== 'string') continue;
    if (Array.isArray(f.flags) && f.flags.includes('self')) continue; // the device's own entries
    const ifindex = ports.get(f.ifname);
    if (ifindex !== undefined) portOf.set(f.mac.toLowerCase(), ifindex);
  }
  const out: PodAddr[] = [];
  for (const n of jsonArray(neighJson, 'ip -j neigh') as Neigh[]) {
    if (typeof n.dst !== 'string' || typeof n.lladdr !== 'string' || !isIP(n.dst)) continue;
    const ifindex = portOf.get(n.lladdr.toLowerCase());
    if (ifindex !== undefined) out.push({ ifindex, addr: n.dst });
  }
  return out;
}

async function listPodAddrs(bridge: string, ports: ReadonlyMap<string, number>): Promise<PodAddr[]> {
  const [neigh, fdb] = await Promise.all([run('ip', ['-j', 'neigh', 'show', 'dev', bridge]), run('bridge', ['-j', 'fdb', 'show', 'br', bridge])]);
  return parsePodAddrs(neigh.stdout || '[]', fdb.stdout || '[]', ports);
}

export interface Attacher { command(line: string): Promise<{ err: number }> }

/**
 * Keeps the tc programs on every pod interface. A scan runs at start, whenever `ip monitor link`
 * reports a link change (a new pod is watched within milliseconds, and an idle node costs no
 * process spawns), and every `pollMs` as a safety net. Without `ip monitor` it polls every second.
 */
export class InterfaceWatcher {
  /** ifindex → what it was attached as (`name` or `name@bridge`). */
  private attached = new Map<number, string>();
  private learned = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private monitor: ChildProcess | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private loader: Attacher | undefined;
  failures = 0;

  /**
   * bridgeEgress: bridge ports get tc ingress only and their bridge the egress program (false: tc
   * ingress and egress on every veth, the way for routed CNIs, and for comparisons).
   */
  constructor(private readonly log: (m: string) => void, private readonly pattern?: RegExp, private readonly pollMs = 30_000, private readonly fallbackMs = 1000, private readonly bridgeEgress = true) {}

  get interfaces(): Link[] {
    return [...this.attached].map(([ifindex, as]) => {
      const [ifname = as, bridge] = as.split('@');
      return bridge ? { ifindex, ifname, bridge: Number(bridge) } : { ifindex, ifname };
    });
  }

  /** Starts (or restarts, after a new loader) watching; attaches through `loader`. */
  start(loader: Attacher): void {
    this.stop();
    this.attached.clear();
    this.learned.clear();
    this.loader = loader;
    this.watchLinks();
    this.scan();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.loader = undefined;
    const m = this.monitor;
    this.monitor = undefined;
    m?.kill();
  }

  /** Resolves after the current scan (tests: wait until new interfaces are attached). */
  async settle(loader: Attacher): Promise<void> {
    await this.running;
    await this.sync(loader);
  }

  /** One scan now, or one more right after the running one; then the next poll is armed. */
  private scan(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    const loader = this.loader;
    if (!loader) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.sync(loader).catch((e: unknown) => this.log(`interface scan failed: ${String(e)}`)).finally(() => {
      this.running = undefined;
      if (this.loader !== loader) return;
      if (this.again) {
        this.again = false;
        this.scan();
        return;
      }
      this.timer = setTimeout(() => this.scan(), this.monitor ? this.pollMs : this.fallbackMs);
    });
  }

  /** `ip -o monitor link`: one line per link event, each a reason to scan. */
  private watchLinks(): void {
    let m: ChildProcess;
    try {
      m = spawn('ip', ['-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (e) {
      this.log(`ip monitor link unavailable (${String(e)}): polling interfaces every ${this.fallbackMs} ms`);
      return;
    }
    this.monitor = m;
    m.stdout?.on('data', () => this.scan());
    const lost = (why: string): void => {
      if (this.monitor !== m) return;
      this.monitor = undefined;
      this.log(`ip monitor link ${why}: polling interfaces every ${this.fallbackMs} ms`);
      this.scan();
    };
    m.on('error', (e) => lost(`failed (${e.message})`));
    m.on('exit', (code, sig) => lost(`exited (${sig ?? code})`));
  }

  private async sync(loader: Attacher): Promise<void> {
    const { veths: now, bridges } = await listVeths(this.pattern, this.bridgeEgress);
    const want = new Map(now.map((l) => [l.ifindex, l.bridge ? `${l.ifname}@${l.bridge}` : l.ifname]));
    for (const ifindex of [...this.attached.keys()]) {
      if (want.get(ifindex) === this.attached.get(ifindex)) continue;
      // gone, or now attached another way: the loader forgets it (and what it learned for it)
      await loader.command(`detach ${ifindex}`);
      this.attached.delete(ifindex);
      for (const k of [...this.learned]) if (k.startsWith(`${ifindex} `)) this.learned.delete(k);
    }
    for (const l of now) {
      const as = want.get(l.ifindex) as string;
      if (this.attached.get(l.ifindex) === as) continue;
      const r = await loader.command(l.bridge ? `attach ${l.ifindex} ${l.bridge}` : `attach ${l.ifindex}`);
      if (r.err === 0) this.attached.set(l.ifindex, as);
      else if (r.err !== -19) { // ENODEV: gone meanwhile
        this.failures++;
        this.log(`tc attach to ${l.ifname} (${l.ifindex}${l.bridge ? `, a port of bridge ${l.bridge}` : ''}) failed: errno ${-r.err}`);
      }
    }
    await this.seed(loader, now, bridges);
  }

  /** Tells the loader the pod addresses behind our bridge ports that it has not been told yet. */
  private async seed(loader: Attacher, links: Link[], bridges: ReadonlyMap<string, number>): Promise<void> {
    const byBridge = new Map<number, Map<string, number>>();
    for (const l of links) {
      if (!l.bridge || this.attached.get(l.ifindex) !== `${l.ifname}@${l.bridge}`) continue;
      const ports = byBridge.get(l.bridge) ?? new Map<string, number>();
      ports.set(l.ifname, l.ifindex);
      byBridge.set(l.bridge, ports);
    }
    const names = new Map([...bridges].map(([name, ifindex]) => [ifindex, name]));
    for (const [bridge, ports] of byBridge) {
      const name = names.get(bridge);
      if (!name) continue;
      let addrs: PodAddr[];
      try {
        addrs = await listPodAddrs(name, ports);
      } catch (e) {
        this.log(`pod addresses behind ${name}: ${String(e)}`);
        continue;
      }
      for (const a of addrs) {
        const key = `${a.ifindex} ${a.addr}`;
        if (this.learned.has(key)) continue;
        const r = await loader.command(`learn ${key}`);
        if (r.err === 0) this.learned.add(key);
      }
    }
  }
}

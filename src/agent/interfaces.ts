// Which interfaces the tc programs watch: the host-side end of every veth whose peer lives in
// another network namespace (what bridge, ptp, Calico and Cilium CNIs all give a pod), found
// by the agent itself from `ip -j -d link show type veth`, re-read on every link event. New ones
// are attached, gone ones forgotten (the kernel removes their programs with them).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Link { ifindex: number; ifname: string }

interface IpLink { ifindex?: unknown; ifname?: unknown; link_netnsid?: unknown; link_type?: unknown }

/** Host-side veths from `ip -j -d link show type veth` output (peers in another netns only). */
export function parseVeths(json: string, pattern?: RegExp): Link[] {
  const links = JSON.parse(json) as unknown;
  if (!Array.isArray(links)) throw new Error('ip -j link: not a JSON array');
  const out: Link[] = [];
  for (const l of links as IpLink[]) {
    if (typeof l.ifindex !== 'number' || typeof l.ifname !== 'string' || l.link_netnsid === undefined) continue;
    if (pattern && !pattern.test(l.ifname)) continue;
    out.push({ ifindex: l.ifindex, ifname: l.ifname });
  }
  return out;
}

export async function listVeths(pattern?: RegExp): Promise<Link[]> {
  const { stdout } = await run('ip', ['-j', '-d', 'link', 'show', 'type', 'veth'], { maxBuffer: 64 * 1024 * 1024 });
  return parseVeths(stdout || '[]', pattern);
}

export interface Attacher { command(line: string): Promise<{ err: number }> }

/**
 * Keeps the tc programs on every pod interface. A scan runs at start, whenever `ip monitor link`
 * reports a link change (a new pod is watched within milliseconds, and an idle node costs no
 * process spawns), and every `pollMs` as a safety net. Without `ip monitor` it polls every second.
 */
export class InterfaceWatcher {
  private attached = new Map<number, string>();
  private timer: NodeJS.Timeout | undefined;
  private monitor: ChildProcess | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private loader: Attacher | undefined;
  failures = 0;

  constructor(private readonly log: (m: string) => void, private readonly pattern?: RegExp, private readonly pollMs = 30_000, private readonly fallbackMs = 1000) {}

  get interfaces(): Link[] {
    return [...this.attached].map(([ifindex, ifname]) => ({ ifindex, ifname }));
  }

  /** Starts (or restarts, after a new loader) watching; attaches through `loader`. */
  start(loader: Attacher): void {
    this.stop();
    this.attached.clear();
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
    const now = await listVeths(this.pattern);
    const want = new Map(now.map((l) => [l.ifindex, l.ifname]));
    for (const [ifindex, ifname] of want) {
      if (this.attached.get(ifindex) === ifname) continue;
      const r = await loader.command(`attach ${ifindex}`);
      if (r.err === 0) this.attached.set(ifindex, ifname);
      else if (r.err !== -19) { // ENODEV: gone meanwhile
        this.failures++;
        this.log(`tc attach to ${ifname} (${ifindex}) failed: errno ${-r.err}`);
      }
    }
    for (const ifindex of [...this.attached.keys()]) if (!want.has(ifindex)) this.attached.delete(ifindex);
  }
}

// Applies the kube-proxy-style rule set atomically (iptables-restore --noflush), coalescing bursts
// of service/endpoint changes into one apply; and removes every chain and jump we own.
import { run, runOk, runOkIn } from './exec';
import { buildRestore, parseChains } from './iptables';
import type { ServicePortRule } from './iptables';
import { CHAIN_PREFIX } from './names';
import type { SandboxNode } from './node';

const OURS = (chain: string): boolean => chain.startsWith('KUBE-') || chain.startsWith(CHAIN_PREFIX);
const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

async function existingChains(netns?: string): Promise<{ nat: string[]; filter: string[] }> {
  const nat = await runOkIn(netns, 'iptables-save', ['-t', 'nat']);
  const filter = await runOkIn(netns, 'iptables-save', ['-t', 'filter']);
  return { nat: parseChains(nat).nat, filter: parseChains(filter).filter };
}

/** The empty base chains (so the jump rules can reference them). */
export function baseRestore(node: SandboxNode): string {
  return buildRestore({ podCidr: node.podCidr, clusterCidr: node.clusterCidr, services: [] });
}

export class Proxier {
  private pending: ServicePortRule[] | undefined;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  applyCount = 0;
  lastError: string | undefined;

  constructor(private readonly node: SandboxNode, private readonly log: (msg: string) => void, private readonly delayMs = 20) {}

  /** Schedules an apply of this complete set of service ports (coalesced). */
  update(services: ServicePortRule[]): void {
    this.pending = services;
    if (!this.timer) this.timer = setTimeout(() => { this.timer = undefined; void this.kick(); }, this.delayMs);
  }

  /** Resolves once everything scheduled so far has been applied. */
  async flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    await this.kick();
    while (this.running) await this.running;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private async kick(): Promise<void> {
    if (this.running) return this.running.then(() => this.kick());
    const services = this.pending;
    if (!services) return;
    this.pending = undefined;
    this.running = this.apply(services).finally(() => { this.running = undefined; });
    return this.running;
  }

  private async apply(services: ServicePortRule[]): Promise<void> {
    try {
      const text = buildRestore({ podCidr: this.node.podCidr, clusterCidr: this.node.clusterCidr, services, existing: await existingChains(this.node.netns) });
      await runOkIn(this.node.netns, 'iptables-restore', ['-w', '--noflush'], text);
      this.applyCount++;
      this.lastError = undefined;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.log(`iptables apply failed: ${this.lastError}`);
    }
  }
}

/** Splits an iptables-save rule line into arguments (handles double-quoted comments). */
export function splitRule(line: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) args.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return args;
}

/** Jump rules in built-in chains that target our chains, as `-D` argument lists. */
export function ourJumps(save: string): string[][] {
  const out: string[][] = [];
  for (const line of save.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    const args = splitRule(line);
    const j = args.indexOf('-j');
    const target = j >= 0 ? args[j + 1] : undefined;
    if (args[1] && BUILTIN.has(args[1]) && target && OURS(target)) out.push(['-D', ...args.slice(1)]);
  }
  return out;
}

/** Deletes every jump into, and every chain named KUBE-* or FLOWLENS-* in nat and filter. */
export async function removeAllRules(): Promise<number> {
  let removed = 0;
  for (const table of ['nat', 'filter']) {
    const save = (await run('iptables-save', ['-t', table])).stdout;
    for (const args of ourJumps(save)) {
      if ((await run('iptables', ['-w', '-t', table, ...args])).code === 0) removed++;
    }
    const chains = (table === 'nat' ? parseChains(save).nat : parseChains(save).filter).filter(OURS);
    if (chains.length === 0) continue;
    const text = [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
    await runOk('iptables-restore', ['-w', '--noflush'], text);
    removed += chains.length;
  }
  return removed;
}

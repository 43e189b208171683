// Applies the kube-proxy-style rule set atomically (iptables-restore --noflush), coalescing bursts
// of service/endpoint changes into one apply; and removes every chain and jump we own.
import { CoalescingApplier } from './coalesce';
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

export class Proxier extends CoalescingApplier<ServicePortRule[]> {
  constructor(private readonly node: SandboxNode, log: (msg: string) => void, delayMs = 20) {
    super(log, 'iptables apply', delayMs);
  }

  protected async apply(services: ServicePortRule[]): Promise<void> {
    const text = buildRestore({ podCidr: this.node.podCidr, clusterCidr: this.node.clusterCidr, services, existing: await existingChains(this.node.netns) });
    await runOkIn(this.node.netns, 'iptables-restore', ['-w', '--noflush'], text);
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

// Removes everything a sandbox run created, whether it stopped cleanly or crashed. It only touches
// what is provably ours: processes whose environment carries OWNER_ENV=<state dir>, netns named
// flpod-* and flnode-* (multi-node), links named flv*/flbr* (the underlay flbru/flvu0 too), iptables chains KUBE-*/FLOWLENS-* (the sandbox is the only
// kube-proxy on this host) and the jumps into them, /etc/netns/flpod-*, bpffs pins /sys/fs/bpf/flowlens*.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { run } from './net/exec';
import { join } from 'node:path';
import { BRIDGE_PREFIX, NETNS_PREFIX, NODE_NETNS_PREFIX, OWNER_ENV, VETH_PREFIX } from './net/names';
import { removeAllRules } from './net/proxier';
import type { StatePaths } from './state';
import { isAlive, readPid } from './state';

export interface CleanupReport {
  daemon?: number; processes: number[]; netns: string[]; links: string[]; chains: number; etc: string[]; pins: string[];
  /** Set when host-wide cleanup was skipped because another sandbox is running. */
  skipped?: string;
}

/** PIDs whose environment has OWNER_ENV=owner (never this process). */
export function ownedProcesses(owner: string): number[] {
  const needle = Buffer.from(`\0${OWNER_ENV}=${owner}\0`);
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const env = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${entry}/environ`), Buffer.from([0])]);
      if (env.includes(needle)) out.push(Number(entry));
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

/** Live sandbox daemons on this host (any state dir): [pid, state dir]. */
export function runningDaemons(): { pid: number; stateDir: string }[] {
  const out: { pid: number; stateDir: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const d = args.indexOf('daemon');
      const s = args.indexOf('--state-dir');
      const isDaemon = d > 0 && (args[d - 1] === 'sandbox' || (args[d - 1] ?? '').endsWith('daemon-main.ts'));
      if (isDaemon && s > d && args[s + 1]) out.push({ pid: Number(entry), stateDir: args[s + 1] ?? '' });
    } catch {
      // gone
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL whatever is left. */
export async function terminate(pids: number[], graceMs = 2000): Promise<void> {
  pids.forEach((p) => signal(p, 'SIGTERM'));
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  pids.filter(isAlive).forEach((p) => signal(p, 'SIGKILL'));
  const hard = Date.now() + 2000;
  while (pids.some(isAlive) && Date.now() < hard) await new Promise((r) => setTimeout(r, 20));
}

export async function listNetns(): Promise<string[]> {
  const out = (await run('ip', ['netns', 'list'])).stdout;
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(NETNS_PREFIX) || n.startsWith(NODE_NETNS_PREFIX));
}

export async function listLinks(): Promise<string[]> {
  const out = (await run('ip', ['-o', 'link', 'show'])).stdout;
  return out.split('\n').map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '')
    .filter((n) => n.startsWith(VETH_PREFIX) || n.startsWith(BRIDGE_PREFIX));
}

async function removeNetns(names: string[]): Promise<void> {
  for (const ns of names) {
    const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
    await terminate(pids, 1000); // anything still inside one of our pods is ours
    await run('ip', ['netns', 'del', ns]);
  }
}

function removeEtcNetns(): string[] {
  const dir = '/etc/netns';
  if (!existsSync(dir)) return [];
  const ours = readdirSync(dir).filter((n) => n.startsWith(NETNS_PREFIX));
  for (const n of ours) rmSync(`${dir}/${n}`, { recursive: true, force: true });
  return ours;
}

function removePins(): string[] {
  const dir = '/sys/fs/bpf';
  if (!existsSync(dir)) return [];
  const ours = readdirSync(dir).filter((n) => n.startsWith('flowlens'));
  for (const n of ours) rmSync(`${dir}/${n}`, { recursive: true, force: true });
  return ours;
}

/** Stops the daemon (graceful first) and removes every leftover. Idempotent. */
export async function cleanupSandbox(paths: StatePaths): Promise<CleanupReport> {
  let daemon = readPid(paths.pidfile);
  if (daemon !== undefined && isAlive(daemon) && ownedProcesses(paths.dir).includes(daemon)) await terminate([daemon], 15000);
  else daemon = undefined;
  const processes = ownedProcesses(paths.dir);
  await terminate(processes);
  const other = runningDaemons().find((d) => d.stateDir !== paths.dir);
  if (other) {
    // the host-wide names belong to that live sandbox now: only our own processes and files go
    for (const f of [paths.pidfile, paths.state, paths.kubeconfig]) rmSync(f, { force: true });
    return { daemon, processes, netns: [], links: [], chains: 0, etc: [], pins: [], skipped: `sandbox ${other.stateDir} (pid ${other.pid}) is running` };
  }
  const netns = await listNetns();
  await removeNetns(netns);
  const links = await listLinks();
  for (const l of links) await run('ip', ['link', 'del', l]);
  const chains = await removeAllRules();
  const etc = removeEtcNetns();
  const pins = removePins();
  for (const f of [paths.pidfile, paths.state, paths.kubeconfig, join(paths.dir, 'api.sock'), join(paths.dir, 'nodes')]) rmSync(f, { force: true, recursive: true });
  return { daemon, processes, netns, links, chains, etc, pins };
}

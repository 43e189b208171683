// What the `flowlens sandbox` subcommands do, as functions (the CLI only parses and prints).
// Commands other than up/down read the daemon's state.json (not the API), so they work even
// when the emulator is busy or broken.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupSandbox, ownedProcesses, runningDaemons } from './cleanup';
import type { CleanupReport } from './cleanup';
import { collectManifests } from './daemon';
import { OWNER_ENV } from './net/names';
import { cliBundlePath, poddPath, repoRoot, runningFromBundle } from './paths';
import { isAlive, readPid, readState, statePaths } from './state';
import type { PodState, SandboxState, StatePaths } from './state';

export interface UpOptions {
  stateDir: string; apiPort: number; files: string[]; agents: boolean; timeoutMs: number;
  /** Nodes (default 1). */
  nodes?: number;
  progress: (line: string) => void;
}

export interface UpResult { ok: boolean; message: string; elapsedMs: number; state?: SandboxState; cleaned: CleanupReport; notReady: PodState[] }

export function describeCleanup(r: CleanupReport): string {
  const parts = [[r.processes.length, 'processes'], [r.netns.length, 'netns'], [r.links.length, 'links'], [r.chains, 'iptables chains/rules'], [r.etc.length, '/etc/netns entries'], [r.pins.length, 'bpffs pins']] as const;
  const found = parts.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`);
  const left = found.length > 0 ? `leftovers removed: ${found.join(', ')}` : 'nothing left behind';
  const skipped = r.skipped ? ` (host-wide cleanup skipped: ${r.skipped})` : '';
  return (r.daemon !== undefined ? `daemon ${r.daemon} stopped; ${left}` : left) + skipped;
}

function daemonCommand(root: string, stateDir: string, opts: UpOptions): string[] {
  const args = ['daemon', '--state-dir', stateDir, '--port', String(opts.apiPort), ...opts.files.flatMap((f) => ['-f', f]), ...(opts.agents ? [] : ['--no-agent']), ...((opts.nodes ?? 1) > 1 ? ['--nodes', String(opts.nodes)] : [])];
  if (runningFromBundle()) return [cliBundlePath(root), 'sandbox', ...args];
  return ['--import', 'tsx', join(root, 'src/sandbox/daemon-main.ts'), ...args];
}

function ensurePodd(root: string): void {
  if (existsSync(poddPath(root))) return;
  const r = spawnSync('make', ['-s', '-C', join(root, 'src/sandbox/native')], { stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(poddPath(root))) throw new Error(`cannot build flowlens-podd (make -C src/sandbox/native failed)`);
}

export function daemonAlive(paths: StatePaths): number | undefined {
  const pid = readPid(paths.pidfile);
  return pid !== undefined && isAlive(pid) && ownedProcesses(paths.dir).includes(pid) ? pid : undefined;
}

function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function spawnDaemon(root: string, paths: StatePaths, opts: UpOptions): number {
  mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
  const fd = openSync(paths.daemonLog, 'a');
  const child = spawn(process.execPath, daemonCommand(root, paths.dir, opts), {
    cwd: root, detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, [OWNER_ENV]: paths.dir },
  });
  child.unref();
  return child.pid ?? -1;
}

/** Cleans leftovers, starts the daemon, waits until every pod is Ready (or failed, or timeout). */
export async function sandboxUp(opts: UpOptions): Promise<UpResult> {
  const started = Date.now();
  const paths = statePaths(opts.stateDir);
  const root = repoRoot();
  const base = { elapsedMs: 0, notReady: [] as PodState[], cleaned: { processes: [], netns: [], links: [], chains: 0, etc: [], pins: [] } as CleanupReport };
  const running = daemonAlive(paths);
  if (running !== undefined) return { ...base, ok: false, message: `a sandbox is already running (daemon pid ${running}); run \`flowlens sandbox down\` first` };
  const other = runningDaemons().find((d) => d.stateDir !== paths.dir);
  if (other) return { ...base, ok: false, message: `another sandbox is running on this host (daemon pid ${other.pid}, state dir ${other.stateDir}); stop it first: flowlens sandbox down --state-dir ${other.stateDir}` };
  collectManifests(opts.files, opts.agents, root); // validation errors surface before anything starts
  ensurePodd(root);
  const cleaned = await cleanupSandbox(paths);
  if (describeCleanup(cleaned) !== 'nothing left behind' || cleaned.skipped) opts.progress(`cleaned up after an earlier run: ${describeCleanup(cleaned)}`);
  const pid = spawnDaemon(root, paths, opts);
  opts.progress(`daemon started (pid ${pid}), log ${paths.daemonLog}`);
  const r = await waitReady(paths, pid, opts, started);
  return { ...r, cleaned, elapsedMs: Date.now() - started };
}

async function waitReady(paths: StatePaths, pid: number, opts: UpOptions, started: number): Promise<Omit<UpResult, 'cleaned' | 'elapsedMs'>> {
  let last = '';
  for (;;) {
    const state = readState(paths);
    if (state?.phase === 'failed') return { ok: false, message: `sandbox failed to start: ${state.message ?? ''}\n${logTail(paths.daemonLog)}`, notReady: [] };
    if (!isAlive(pid)) return { ok: false, message: `the sandbox daemon exited; last lines of ${paths.daemonLog}:\n${logTail(paths.daemonLog)}`, notReady: [] };
    if (state?.phase === 'running' && state.daemonPid === pid) {
      const notReady = state.pods.filter((p) => !p.ready);
      const failed = notReady.filter((p) => p.phase === 'Failed');
      const line = `pods ready ${state.pods.length - notReady.length}/${state.pods.length}`;
      if (line !== last) { opts.progress(line); last = line; }
      if (notReady.length === 0) return { ok: true, message: 'ready', state, notReady };
      if (failed.length > 0 && failed.length === notReady.length) {
        return { ok: false, message: `pods failed: ${failed.map((p) => `${p.namespace}/${p.name}: ${p.message ?? ''}`).join('; ')}`, state, notReady };
      }
    }
    if (Date.now() - started > opts.timeoutMs) {
      return { ok: false, message: `timed out after ${opts.timeoutMs} ms waiting for pods: ${(state?.pods ?? []).filter((p) => !p.ready).map((p) => `${p.namespace}/${p.name}`).join(', ')}`, state, notReady: state?.pods.filter((p) => !p.ready) ?? [] };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function sandboxDown(stateDir: string): Promise<CleanupReport> {
  return cleanupSandbox(statePaths(stateDir));
}

export function requireState(stateDir: string): SandboxState {
  const paths = statePaths(stateDir);
  const state = readState(paths);
  if (!state || daemonAlive(paths) === undefined) throw new Error('no sandbox is running (start one with `flowlens sandbox up`)');
  return state;
}

export function findPod(state: SandboxState, ref: string): PodState {
  const [ns, name] = ref.includes('/') ? ref.split('/', 2) : ['default', ref];
  const pod = state.pods.find((p) => p.namespace === ns && p.name === name);
  if (!pod) throw new Error(`pod ${ns}/${name} not found (pods: ${state.pods.map((p) => `${p.namespace}/${p.name}`).join(', ')})`);
  return pod;
}

/** Command prefix that runs inside the pod's network namespace (nothing for hostNetwork pods). */
export function podPrefix(pod: PodState): string[] {
  if (pod.hostNetwork) return [];
  if (!pod.netns) throw new Error(`pod ${pod.namespace}/${pod.name} has no network namespace (phase ${pod.phase})`);
  return ['ip', 'netns', 'exec', pod.netns];
}

export function execInPod(state: SandboxState, ref: string, cmd: string[]): Promise<number> {
  const full = [...podPrefix(findPod(state, ref)), ...cmd];
  return new Promise((resolve) => {
    const child = spawn(full[0] ?? '', full.slice(1), { stdio: 'inherit' });
    child.on('error', (e) => { process.stderr.write(`flowlens sandbox exec: ${e.message}\n`); resolve(127); });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
  });
}

export interface ProbeOptions { from: string; to: string; port: number; protocol: 'TCP' | 'UDP'; timeoutMs: number }
export type ProbeResult = Record<string, unknown> & { connected: boolean; from: string; to: string };

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** NS/POD -> pod IP, NS/SVC -> ClusterIP, IP as is, NAME -> resolved by DNS inside the pod. */
export function resolveTarget(state: SandboxState, to: string): string {
  if (IPV4.test(to)) return to;
  if (!to.includes('/')) return to;
  const [ns, name] = to.split('/', 2);
  const pod = state.pods.find((p) => p.namespace === ns && p.name === name);
  if (pod?.ip) return pod.ip;
  const svc = state.services.find((s) => s.namespace === ns && s.name === name);
  if (svc?.clusterIP && svc.clusterIP !== 'None') return svc.clusterIP;
  throw new Error(`${to} is neither a pod nor a service with a ClusterIP`);
}

export function probe(state: SandboxState, o: ProbeOptions): Promise<ProbeResult> {
  const pod = findPod(state, o.from);
  const host = resolveTarget(state, o.to);
  const args = [...podPrefix(pod), poddPath(), 'probe', '--host', host, '--port', String(o.port), '--protocol', o.protocol.toLowerCase(), '--timeout-ms', String(o.timeoutMs)];
  return new Promise((resolve, reject) => {
    const child = spawn(args[0] ?? '', args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    child.on('error', reject);
    child.on('close', () => {
      try {
        const parsed = JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, unknown>;
        if (typeof parsed.connected !== 'boolean') throw new Error('no "connected" field');
        resolve({ ...parsed, connected: parsed.connected, from: `${pod.namespace}/${pod.name}`, to: o.to });
      } catch (e) {
        reject(new Error(`probe failed: ${(e as Error).message}: ${err.trim() || out.trim()}`));
      }
    });
  });
}

// Polls an agent's /readyz until it says `want` (exit 0) or the time is up (exit 1); run in the
// agent's network namespace (each node of a multi-node sandbox has its own 127.0.0.1).
const READYZ_POLL = `const [port, want, ms] = process.argv.slice(1).map(Number); const end = Date.now() + ms;
(async () => { for (;;) {
  const ok = await fetch('http://127.0.0.1:' + port + '/readyz', { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
  if (ok === (want === 1)) process.exit(0); if (Date.now() > end) process.exit(1); await new Promise((r) => setTimeout(r, 100));
} })();`;

/**
 * `sandbox agent stop|start [--node NAME]`: each node's agent (or that node's) detaches every
 * eBPF program (its loader exits) or attaches them again, keeping its process, store and
 * listener: the same traffic can be compared with and without the datapath. Resolves once each
 * agent's /readyz agrees (ready false after timeoutMs).
 */
export async function agentDatapath(state: SandboxState, action: 'stop' | 'start', opts: { node?: string; port?: number; timeoutMs?: number } = {}): Promise<{ pid: number; node: string; ready: boolean }[]> {
  const { port = 4260, timeoutMs = 15_000 } = opts;
  const all = state.pods.filter((p) => p.role === 'agent' && p.pid);
  if (!all.length) throw new Error('the sandbox runs no agent (started with --no-agent, or it failed: see sandbox status)');
  const agents = opts.node ? all.filter((p) => (p.node ?? state.node.name) === opts.node) : all;
  if (!agents.length) throw new Error(`no agent on node "${opts.node}" (nodes: ${[...new Set(all.map((p) => p.node ?? state.node.name))].sort().join(', ')})`);
  for (const a of agents) process.kill(a.pid!, action === 'stop' ? 'SIGUSR2' : 'SIGUSR1');
  const want = action === 'start';
  return Promise.all(agents.map(async (a) => {
    const node = a.node ?? state.node.name;
    const netns = state.nodes?.find((n) => n.name === node)?.netns;
    const argv = ['-e', READYZ_POLL, String(port), want ? '1' : '0', String(timeoutMs)];
    const r = netns ? await run('ip', ['netns', 'exec', netns, process.execPath, ...argv]) : await run(process.execPath, argv);
    // Stopped means its loader is gone too (the programs go with it), not only /readyz saying so.
    if (r === 0 && !want) for (const end = Date.now() + timeoutMs; hasLoaderChild(a.pid!) && Date.now() < end;) await new Promise((res) => setTimeout(res, 20));
    return { pid: a.pid!, node, ready: r === 0 && (want || !hasLoaderChild(a.pid!)) ? want : !want };
  }));
}

function hasLoaderChild(pid: number): boolean {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.some((k) => { try { return readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'flowlens-loader'; } catch { return false; } });
  } catch {
    return false;
  }
}

function run(cmd: string, argv: string[]): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(cmd, argv, { stdio: 'ignore' });
    p.on('error', () => resolve(1));
    p.on('close', (code) => resolve(code ?? 1));
  });
}

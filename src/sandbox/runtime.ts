// Processes that stand in for containers: flowlens-podd inside a pod's netns, the Flowlens agent
// for a DaemonSet pod on the host network. Every process carries OWNER_ENV so cleanup can find it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { OWNER_ENV } from './net/names';

export interface ProcHandle {
  pid: number;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<string>;
  stop(): Promise<void>;
}

function handle(child: ChildProcess): ProcHandle {
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => { done = true; resolve(signal ?? String(code)); });
    child.on('error', (e) => { done = true; resolve(`error: ${e.message}`); });
  });
  const stop = async (): Promise<void> => {
    if (done) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => { if (!done) child.kill('SIGKILL'); }, 3000);
    await exited;
    clearTimeout(timer);
  };
  return { pid: child.pid ?? -1, exited, stop };
}

function baseEnv(owner: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', [OWNER_ENV]: owner, ...extra };
}

export interface PoddSpec {
  poddPath: string; netns: string; namespace: string; name: string;
  tcp: { port: number; http: boolean }[]; udp: number[]; owner: string; logFd: number;
}

export function poddArgs(spec: Pick<PoddSpec, 'tcp' | 'udp'>): string[] {
  return [...spec.tcp.flatMap((t) => ['--tcp', t.http ? `${t.port}:http` : String(t.port)]), ...spec.udp.flatMap((u) => ['--udp', String(u)])];
}

/** Starts podd in the pod's netns and waits until it has bound every port. */
export async function startPodd(spec: PoddSpec): Promise<ProcHandle> {
  const child = spawn('ip', ['netns', 'exec', spec.netns, spec.poddPath, 'serve', ...poddArgs(spec)], {
    env: baseEnv(spec.owner, { POD_NAME: spec.name, POD_NAMESPACE: spec.namespace }),
    stdio: ['ignore', 'pipe', spec.logFd],
  });
  const h = handle(child);
  const ready = new Promise<boolean>((resolve) => {
    let seen = '';
    child.stdout?.on('data', (b: Buffer) => { seen += b.toString(); if (seen.includes('ready\n')) resolve(true); });
    child.stdout?.on('error', () => undefined);
    void h.exited.then(() => resolve(false));
    setTimeout(() => resolve(false), 5000).unref();
  });
  if (!(await ready)) {
    await h.stop();
    throw new Error(`flowlens-podd for ${spec.namespace}/${spec.name} did not start (see the pods log)`);
  }
  return h;
}

export interface AgentSpec {
  cliPath: string; node: string; listen: string; kubeconfig: string; owner: string; logFd: number;
  /** The node's netns (multi-node): the agent runs there (nsenter, so /sys and bpffs stay the host's) and reports only that node's traffic. */
  netns?: string;
}

/**
 * A larger young generation for the agent: short-lived per-flow objects die young instead of being
 * copied and promoted, which cut the agent's CPU at 50,000 flows/s by about a fifth (`npm run bench
 * -- decode`). The DaemonSet sets the same through NODE_OPTIONS (deploy/flowlens.yaml).
 */
const AGENT_NODE_FLAG = '--max-semi-space-size=32';

export function startAgent(spec: AgentSpec): ProcHandle {
  const argv = [process.execPath, AGENT_NODE_FLAG, spec.cliPath, 'agent', '--node', spec.node, '--listen', spec.listen];
  const [cmd, ...args] = spec.netns ? ['nsenter', `--net=/run/netns/${spec.netns}`, '--', ...argv] : argv;
  const scope = spec.netns ? { FLOWLENS_AGENT_NETNS_SCOPE: 'node' } : {};
  const child = spawn(cmd ?? process.execPath, args, {
    env: { ...process.env, KUBECONFIG: spec.kubeconfig, [OWNER_ENV]: spec.owner, ...scope },
    stdio: ['ignore', spec.logFd, spec.logFd],
  });
  return handle(child);
}

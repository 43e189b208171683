// Files of a running sandbox. The state dir holds: daemon.pid, kubeconfig, state.json (pods with
// their netns, services, agent; rewritten on every change), logs/.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const DEFAULT_STATE_DIR = '/run/flowlens/sandbox';
export const DEFAULT_API_PORT = 6550;
export const NODE_NAME = 'flowlens-sandbox';

export interface StatePaths { dir: string; pidfile: string; kubeconfig: string; state: string; logs: string; daemonLog: string }

export function statePaths(dir = DEFAULT_STATE_DIR): StatePaths {
  const logs = join(dir, 'logs');
  return { dir, pidfile: join(dir, 'daemon.pid'), kubeconfig: join(dir, 'kubeconfig'), state: join(dir, 'state.json'), logs, daemonLog: join(logs, 'daemon.log') };
}

export interface PodState {
  namespace: string; name: string; ip?: string; netns?: string; veth?: string; hostNetwork: boolean;
  phase: string; ready: boolean; pid?: number; role: 'podd' | 'agent' | 'dns' | 'none'; message?: string;
  /** spec.nodeName (absent in state files written before multi-node). */
  node?: string;
}
/** A node of the sandbox: `netns` is absent for the single node (the host's root netns). */
export interface NodeState { name: string; ip: string; podCidr: string; bridge: string; netns?: string }
export interface ServiceState { namespace: string; name: string; clusterIP?: string; ports: { name?: string; port: number; protocol: string; nodePort?: number }[]; endpoints: string[] }

export interface SandboxState {
  version: 1;
  phase: 'starting' | 'running' | 'stopping' | 'failed';
  message?: string;
  daemonPid: number;
  startedAt: string;
  apiUrl?: string;
  kubeconfig: string;
  node: { name: string; ip: string; podCidr: string; serviceCidr: string; bridge: string; dnsIp: string };
  /** Every node (one entry in a single-node sandbox; absent in older state files). */
  nodes?: NodeState[];
  pods: PodState[];
  services: ServiceState[];
  iptables: { applies: number; lastError?: string };
  dns: { queries: number; malformed: number; refused: number; nxdomain: number };
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = join(dirname(path), `.${Date.now()}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** The state of the running sandbox, or undefined when none is running/readable. */
export function readState(paths: StatePaths): SandboxState | undefined {
  if (!existsSync(paths.state)) return undefined;
  try {
    const v = JSON.parse(readFileSync(paths.state, 'utf8')) as SandboxState;
    return v && v.version === 1 && Array.isArray(v.pods) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function readPid(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

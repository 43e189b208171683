// The kubelet of the sandbox: makes one pod real (netns + podd, or the agent for a hostNetwork
// Flowlens DaemonSet pod) and describes it as a PodStatus.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import type { KubeObject } from './apiserver/types';
import type { Ipam } from './net/ipam';
import { podNetnsName, podVethName } from './net/names';
import type { SandboxNode } from './net/node';
import { setupPodNetwork, teardownPodNetwork } from './net/pod';
import { startAgent, startPodd } from './runtime';
import type { ProcHandle } from './runtime';

export type PodRole = 'podd' | 'agent' | 'dns' | 'none';

export interface RunningPod {
  key: string; uid: string; namespace: string; name: string; ip: string; hostNetwork: boolean; role: PodRole;
  netns?: string; veth?: string; proc?: ProcHandle; phase: 'Pending' | 'Running' | 'Failed';
  ready: boolean; message?: string; startTime: string; restarts: number; stopping: boolean;
}

export interface RunnerDeps {
  node: SandboxNode; ipam: Ipam; owner: string; poddPath: string; cliPath: string; kubeconfig: string;
  podLogFd: number; agentLogFd: number; agents: boolean; log: (msg: string) => void;
  /** Whether something accepts connections on 127.0.0.1:port in the node's netns (default: a TCP connect here). */
  canConnect?: (port: number) => Promise<boolean>;
  /** podIP of the cluster DNS pod (default: the node's InternalIP). */
  dnsIp?: string;
  /** Called when a pod's runtime state changes on its own (process exit, agent became ready). */
  changed: (key: string) => void;
}

interface ContainerPort { name?: string; containerPort: number; protocol?: string }

export function podKey(pod: KubeObject): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
}

export function podPorts(pod: KubeObject): { tcp: { port: number; http: boolean }[]; udp: number[] } {
  const ports: ContainerPort[] = (pod.spec?.containers ?? []).flatMap((c: { ports?: ContainerPort[] }) => c.ports ?? []);
  const tcp = new Map<number, boolean>();
  const udp = new Set<number>();
  for (const p of ports) {
    if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) continue;
    if ((p.protocol ?? 'TCP') === 'UDP') udp.add(p.containerPort);
    else if ((p.protocol ?? 'TCP') === 'TCP') tcp.set(p.containerPort, (p.name ?? '').startsWith('http') || p.containerPort === 80 || p.containerPort === 8080);
  }
  return { tcp: [...tcp].map(([port, http]) => ({ port, http })), udp: [...udp] };
}

export function isAgentPod(pod: KubeObject): boolean {
  const images: string[] = (pod.spec?.containers ?? []).map((c: { image?: string }) => c.image ?? '');
  return pod.spec?.hostNetwork === true && images.some((i) => i.includes('flowlens'));
}

function agentListen(pod: KubeObject): string {
  const port = (pod.spec?.containers ?? []).flatMap((c: { ports?: ContainerPort[] }) => c.ports ?? [])[0]?.containerPort;
  return `127.0.0.1:${Number.isInteger(port) ? port : 4260}`;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export class PodRunner {
  private readonly pods = new Map<string, RunningPod>();

  constructor(private readonly deps: RunnerDeps) {}

  get(key: string): RunningPod | undefined { return this.pods.get(key); }
  all(): RunningPod[] { return [...this.pods.values()]; }

  /** Makes the pod real unless it already is (same uid). */
  async ensure(pod: KubeObject): Promise<RunningPod> {
    const key = podKey(pod);
    const have = this.pods.get(key);
    if (have && have.uid === (pod.metadata.uid ?? '')) {
      if (have.role === 'podd' && !have.proc && !have.stopping && have.phase !== 'Failed') await this.restart(have, pod);
      return have;
    }
    if (have) await this.remove(key);
    const hostNetwork = pod.spec?.hostNetwork === true;
    const dns = hostNetwork && pod.metadata.namespace === 'kube-system' && pod.metadata.labels?.['k8s-app'] === 'kube-dns';
    const role: PodRole = dns ? 'dns' : isAgentPod(pod) ? 'agent' : hostNetwork ? 'none' : 'podd';
    const ns = pod.metadata.namespace ?? 'default';
    const run: RunningPod = {
      key, uid: pod.metadata.uid ?? '', namespace: ns, name: pod.metadata.name, hostNetwork, role, ip: role === 'dns' ? (this.deps.dnsIp ?? this.deps.node.internalIp) : this.deps.node.internalIp,
      phase: 'Pending', ready: false, startTime: new Date().toISOString(), restarts: 0, stopping: false,
    };
    this.pods.set(key, run);
    try {
      if (!hostNetwork) {
        run.ip = this.deps.ipam.allocate(key);
        run.netns = podNetnsName(ns, run.name);
        run.veth = podVethName(ns, run.name);
        await setupPodNetwork(this.deps.node, { namespace: ns, name: run.name, netns: run.netns, veth: run.veth, ip: run.ip });
      }
      await this.startProcess(run, pod);
    } catch (e) {
      run.phase = 'Failed';
      run.message = (e as Error).message;
      this.deps.log(`pod ${key}: ${run.message}`);
    }
    return run;
  }

  /** Restarts a pod's process; rebuilds its network first if the netns went away. */
  private async restart(run: RunningPod, pod: KubeObject): Promise<void> {
    if (run.netns && run.veth && !existsSync(`/run/netns/${run.netns}`)) {
      this.deps.log(`pod ${run.key}: netns ${run.netns} is gone, rebuilding it`);
      await setupPodNetwork(this.deps.node, { namespace: run.namespace, name: run.name, netns: run.netns, veth: run.veth, ip: run.ip });
    }
    await this.startProcess(run, pod);
  }

  private async startProcess(run: RunningPod, pod: KubeObject): Promise<void> {
    if (run.role === 'podd' && run.netns) {
      const ports = podPorts(pod);
      run.proc = await startPodd({ poddPath: this.deps.poddPath, netns: run.netns, namespace: run.namespace, name: run.name, ...ports, owner: this.deps.owner, logFd: this.deps.podLogFd });
      this.watchExit(run, run.proc);
      run.phase = 'Running';
      run.ready = true;
    } else if (run.role === 'agent') {
      this.startAgentFor(run, pod);
    } else {
      run.phase = 'Running';
      run.ready = true;
    }
  }

  private startAgentFor(run: RunningPod, pod: KubeObject): void {
    if (!this.deps.agents) { run.phase = 'Failed'; run.message = 'agents disabled (--no-agent)'; return; }
    if (!existsSync(this.deps.cliPath)) { run.phase = 'Failed'; run.message = `agent not built: ${this.deps.cliPath} is missing (npm run build:ts)`; return; }
    const listen = agentListen(pod);
    const proc = startAgent({ cliPath: this.deps.cliPath, node: pod.spec?.nodeName ?? this.deps.node.name, listen, kubeconfig: this.deps.kubeconfig, owner: this.deps.owner, logFd: this.deps.agentLogFd, netns: this.deps.node.netns });
    const probe = this.deps.canConnect ?? canConnect;
    const port = Number(listen.split(':')[1]);
    run.proc = proc;
    run.phase = 'Running';
    this.watchExit(run, proc);
    const started = Date.now();
    const poll = async (): Promise<void> => {
      if (run.proc !== proc || run.stopping) return;
      if (Date.now() - started >= 1000 && (await probe(port))) { run.ready = true; this.deps.changed(run.key); return; }
      setTimeout(() => void poll(), 250).unref();
    };
    setTimeout(() => void poll(), 1000).unref();
  }

  private watchExit(run: RunningPod, proc: ProcHandle): void {
    void proc.exited.then((how) => {
      if (run.proc !== proc || run.stopping) return;
      run.proc = undefined;
      run.ready = false;
      run.restarts++;
      run.message = `process exited (${how})`;
      this.deps.log(`pod ${run.key}: ${run.message}`);
      if (run.role === 'agent' || run.restarts > 5) run.phase = 'Failed';
      setTimeout(() => this.deps.changed(run.key), 1000).unref();
    });
  }

  async remove(key: string): Promise<void> {
    const run = this.pods.get(key);
    if (!run) return;
    run.stopping = true;
    await run.proc?.stop();
    if (run.netns && run.veth) await teardownPodNetwork({ netns: run.netns, veth: run.veth }, this.deps.node);
    if (!run.hostNetwork) this.deps.ipam.release(key);
    this.pods.delete(key);
  }

  async removeAll(): Promise<void> {
    const keys = [...this.pods.keys()];
    for (let i = 0; i < keys.length; i += 8) await Promise.all(keys.slice(i, i + 8).map((k) => this.remove(k)));
  }
}

/** The PodStatus the API shows for a running pod (times are stable so re-renders compare equal). */
export function podStatus(run: RunningPod, node: SandboxNode, pod: KubeObject): Record<string, unknown> {
  const t = run.startTime;
  const cond = (type: string, ok: boolean): Record<string, unknown> => ({ type, status: ok ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: t });
  const running = run.phase === 'Running';
  const containers = (pod.spec?.containers ?? []) as { name: string; image?: string }[];
  return {
    phase: run.phase,
    ...(run.message && !run.ready ? { message: run.message, reason: run.phase === 'Failed' ? 'Error' : 'NotReady' } : {}),
    hostIP: node.internalIp,
    hostIPs: [{ ip: node.internalIp }],
    podIP: run.ip,
    podIPs: [{ ip: run.ip }],
    startTime: t,
    qosClass: 'BestEffort',
    conditions: [cond('PodReadyToStartContainers', running), cond('Initialized', true), cond('Ready', run.ready), cond('ContainersReady', run.ready), cond('PodScheduled', true)],
    containerStatuses: containers.map((c) => ({
      name: c.name, image: c.image ?? '', imageID: '', containerID: `flowlens://${run.uid}/${c.name}`,
      ready: run.ready, started: running, restartCount: run.restarts,
      state: running ? { running: { startedAt: t } } : { terminated: { exitCode: 1, reason: 'Error', message: run.message ?? '' } },
    })),
  };
}

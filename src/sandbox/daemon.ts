// The sandbox daemon: one process that owns the object store, the API-server emulator, the
// cluster DNS, the controller (pods, services, iptables) and writes state.json for the CLI.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startApiServer } from './apiserver/server';
import type { ApiServer } from './apiserver/server';
import { MemoryStore } from './apiserver/store';
import { writeKubeconfig } from './apiserver/kubeconfig';
import { SandboxController } from './controller';
import { startDnsServer } from './dns/server';
import type { DnsServer } from './dns/server';
import { applyManifests, loadManifestFiles, parseManifests } from './manifests';
import type { ManifestObject } from './manifests';
import { defaultNode, setupNode, teardownNode } from './net/node';
import type { SandboxNode } from './net/node';
import { baseRestore, Proxier, removeAllRules } from './net/proxier';
import { cliBundlePath, poddPath, repoRoot } from './paths';
import { DEMO_SCENARIO } from './scenarios/demo';
import { statePaths, writeJsonAtomic } from './state';
import type { SandboxState, StatePaths } from './state';

export interface DaemonOptions {
  stateDir: string;
  apiPort: number;
  files: string[];
  /** Load <repo>/deploy/flowlens.yaml and run agents (default true). */
  agents: boolean;
  /** Require a bearer token (kubectl only sends it over TLS; default false). */
  token?: boolean;
  /** Where logs go; the daemon's own stdout/stderr are expected to point at paths.daemonLog. */
  log?: (msg: string) => void;
}

export interface Daemon { paths: StatePaths; controller: SandboxController; api: ApiServer; stop(): Promise<void>; writeState(): void }

function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

/** Manifests to load: the files (or the demo) plus the agent's deploy manifest. */
export function collectManifests(files: string[], agents: boolean, root: string): ManifestObject[] {
  const objs = files.length > 0 ? loadManifestFiles(files) : parseManifests(DEMO_SCENARIO, 'built-in demo scenario');
  const deploy = join(root, 'deploy/flowlens.yaml');
  if (agents && existsSync(deploy)) objs.push(...loadManifestFiles([deploy]));
  return objs;
}

function snapshot(d: { paths: StatePaths; node: SandboxNode; controller: SandboxController; proxier: Proxier; dns: DnsServer; api?: ApiServer; phase: SandboxState['phase']; startedAt: string; store: MemoryStore }): SandboxState {
  const pods = d.store.list('pods').map((p) => {
    const run = d.controller.runner.get(`${p.metadata.namespace}/${p.metadata.name}`);
    return {
      namespace: p.metadata.namespace ?? '', name: p.metadata.name, ip: run?.ip ?? p.status?.podIP, netns: run?.netns, veth: run?.veth,
      hostNetwork: p.spec?.hostNetwork === true, phase: run?.phase ?? (p.status?.phase as string | undefined) ?? 'Pending',
      ready: run?.ready ?? false, pid: run?.proc?.pid, role: run?.role ?? 'none', message: run?.message,
    };
  });
  const slices = d.store.list('endpointslices');
  const services = d.store.list('services').map((s) => ({
    namespace: s.metadata.namespace ?? '', name: s.metadata.name, clusterIP: s.spec?.clusterIP,
    ports: ((s.spec?.ports ?? []) as { name?: string; port: number; protocol?: string; nodePort?: number }[]).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP', nodePort: p.nodePort })),
    endpoints: slices.filter((x) => x.metadata.namespace === s.metadata.namespace && x.metadata.labels?.['kubernetes.io/service-name'] === s.metadata.name)
      .flatMap((x) => ((x.endpoints ?? []) as { addresses: string[]; conditions?: { ready?: boolean } }[]).filter((e) => e.conditions?.ready !== false).map((e) => e.addresses[0] ?? '')),
  }));
  const n = d.node;
  return {
    version: 1, phase: d.phase, daemonPid: process.pid, startedAt: d.startedAt, apiUrl: d.api?.url, kubeconfig: d.paths.kubeconfig,
    node: { name: n.name, ip: n.nodeIp, podCidr: n.podCidr, serviceCidr: n.serviceCidr, bridge: n.bridge, dnsIp: n.clusterDnsIp },
    pods, services, iptables: { applies: d.proxier.applyCount, lastError: d.proxier.lastError }, dns: { ...d.dns.stats },
  };
}

/** Starts everything; throws (after undoing what it did) when a part cannot start. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const say = opts.log ?? log;
  const paths = statePaths(opts.stateDir);
  const root = repoRoot();
  mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
  writeFileSync(paths.pidfile, `${process.pid}\n`);
  const manifests = collectManifests(opts.files, opts.agents, root);
  const node = defaultNode();
  const startedAt = new Date().toISOString();
  const store = new MemoryStore({ serviceCIDR: node.serviceCidr });
  const proxier = new Proxier(node, say);
  await setupNode(node, baseRestore(node));
  say(`node ${node.name}: bridge ${node.bridge} ${node.nodeIp}, pods ${node.podCidr}, services ${node.serviceCidr}`);
  const podLogFd = openSync(join(paths.logs, 'pods.log'), 'a');
  const agentLogFd = openSync(join(paths.logs, 'agent.log'), 'a');
  const controller = new SandboxController({
    store, node, proxier, owner: paths.dir, poddPath: poddPath(root), cliPath: cliBundlePath(root), kubeconfig: paths.kubeconfig,
    podLogFd, agentLogFd, agents: opts.agents, log: say, onChange: () => scheduleWrite(),
  });
  let phase: SandboxState['phase'] = 'starting';
  let api: ApiServer | undefined;
  const dns = await startDnsServer({ host: node.nodeIp, port: 53, records: controller.records });
  let timer: NodeJS.Timeout | undefined;
  const writeState = (): void => {
    if (timer) { clearTimeout(timer); timer = undefined; }
    writeJsonAtomic(paths.state, snapshot({ paths, node, controller, proxier, dns, api, phase, startedAt, store }));
  };
  function scheduleWrite(): void {
    if (!timer) timer = setTimeout(writeState, 100);
  }
  const stop = async (): Promise<void> => {
    phase = 'stopping';
    writeState();
    await controller.stop();
    proxier.stop();
    await api?.close();
    await dns.close();
    await removeAllRules();
    await teardownNode(node);
    if (timer) clearTimeout(timer);
  };
  try {
    controller.start();
    // kubectl never sends a bearer token over plain http://, so a token only works once the
    // emulator serves TLS; until then access control is the 127.0.0.1 bind (opt in: opts.token).
    const token = opts.token ? randomBytes(24).toString('hex') : undefined;
    api = await startApiServer({ store, host: '127.0.0.1', port: opts.apiPort, dialPod: controller.dialPod, token });
    writeKubeconfig(paths.kubeconfig, api.url, token ? { token } : {});
    say(`API server ${api.url}, kubeconfig ${paths.kubeconfig}`);
    applyManifests(store, manifests, say);
    say(`loaded ${manifests.length} objects`);
    await controller.idle(); // every pod of every workload exists and has its network
    await proxier.flush();
    await controller.netpol.flush(); // policies are enforced before `up` reports ready
    phase = 'running';
    writeState();
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return { paths, controller, api, stop, writeState };
}

/** `flowlens sandbox daemon`: runs until SIGTERM/SIGINT, then removes what it created. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const paths = statePaths(opts.stateDir);
  let daemon: Daemon;
  try {
    daemon = await startDaemon(opts);
  } catch (e) {
    log(`startup failed: ${(e as Error).message}`);
    writeJsonAtomic(paths.state, { version: 1, phase: 'failed', message: (e as Error).message, daemonPid: process.pid, pods: [], services: [] });
    return 1;
  }
  log('running');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log('stopping');
  await daemon.stop();
  log('stopped');
  return 0;
}

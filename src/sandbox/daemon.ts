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
import type { NodeParts } from './controller';
import { startDnsServer } from './dns/server';
import type { DnsServer } from './dns/server';
import { applyManifests, loadManifestFiles, parseManifests } from './manifests';
import type { ManifestObject } from './manifests';
import { clusterNodes, setupNode, teardownNode, UNDERLAY_HOST_IP } from './net/node';
import type { SandboxNode } from './net/node';
import { baseRestore, Proxier, removeAllRules } from './net/proxier';
import { setupUnderlay, teardownUnderlay } from './net/underlay';
import { dialSocketPath, dialThroughRelay, startApiSocket, startNodeRelay } from './noderelay';
import type { ProcHandle } from './runtime';
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
  /** Number of nodes (default 1: the host's root netns; more: one netns per node, see net/underlay.ts). */
  nodes?: number;
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

function snapshot(d: { paths: StatePaths; node: SandboxNode; nodes: SandboxNode[]; controller: SandboxController; proxier: Proxier; dns: DnsServer; api?: ApiServer; phase: SandboxState['phase']; startedAt: string; store: MemoryStore }): SandboxState {
  const pods = d.store.list('pods').map((p) => {
    const run = d.controller.podRun(`${p.metadata.namespace}/${p.metadata.name}`);
    return {
      namespace: p.metadata.namespace ?? '', name: p.metadata.name, ip: run?.ip ?? p.status?.podIP, netns: run?.netns, veth: run?.veth,
      hostNetwork: p.spec?.hostNetwork === true, phase: run?.phase ?? (p.status?.phase as string | undefined) ?? 'Pending',
      ready: run?.ready ?? false, pid: run?.proc?.pid, role: run?.role ?? 'none', message: run?.message, node: p.spec?.nodeName as string | undefined,
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
    nodes: d.nodes.map((x) => ({ name: x.name, ip: x.internalIp, podCidr: x.podCidr, bridge: x.bridge, ...(x.netns ? { netns: x.netns } : {}) })),
    pods, services, iptables: { applies: d.proxier.applyCount, lastError: d.proxier.lastError }, dns: { ...d.dns.stats },
  };
}

interface NodeNet { parts: NodeParts[]; stop(): Promise<void> }

/**
 * Each node's network and kube-proxy. One node: the host's root netns, as before. More: a netns
 * per node on the underlay, and per node a relay (API in, port-forward out; see noderelay.ts).
 */
async function buildNodes(nodes: SandboxNode[], paths: StatePaths, apiPort: number, say: (m: string) => void): Promise<NodeNet> {
  for (const n of nodes) {
    await setupNode(n, baseRestore(n));
    say(`node ${n.name}: ${n.netns ? `netns ${n.netns}, InternalIP ${n.internalIp}, ` : ''}bridge ${n.bridge} ${n.nodeIp}, pods ${n.podCidr}, services ${n.serviceCidr}`);
  }
  const parts: NodeParts[] = nodes.map((node) => ({ node, proxier: new Proxier(node, say) }));
  if (nodes.length === 1) return { parts, stop: async () => undefined };
  await setupUnderlay(nodes);
  const apiSock = await startApiSocket(paths.dir, apiPort);
  const relays: ProcHandle[] = [];
  const stop = async (): Promise<void> => {
    for (const r of relays) await r.stop();
    await new Promise((r) => apiSock.close(() => r(undefined)));
  };
  try {
    mkdirSync(join(paths.dir, 'nodes'), { recursive: true, mode: 0o700 });
    const logFd = openSync(paths.daemonLog, 'a');
    for (const p of parts) {
      relays.push(await startNodeRelay({ netns: p.node.netns as string, node: p.node.name, stateDir: paths.dir, apiPort, owner: paths.dir, logFd }));
      const sock = dialSocketPath(paths.dir, p.node.name);
      p.dial = (port) => dialThroughRelay(sock, port);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { parts, stop };
}

/** Starts everything; throws (after undoing what it did) when a part cannot start. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const say = opts.log ?? log;
  const paths = statePaths(opts.stateDir);
  const root = repoRoot();
  mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
  writeFileSync(paths.pidfile, `${process.pid}\n`);
  const manifests = collectManifests(opts.files, opts.agents, root);
  const nodes = clusterNodes(opts.nodes ?? 1);
  const node = nodes[0] as SandboxNode;
  const multi = nodes.length > 1;
  const startedAt = new Date().toISOString();
  const store = new MemoryStore({ serviceCIDR: node.serviceCidr });
  const net = await buildNodes(nodes, paths, opts.apiPort, say);
  const proxier = net.parts[0]?.proxier as Proxier;
  const podLogFd = openSync(join(paths.logs, 'pods.log'), 'a');
  const agentLogFd = openSync(join(paths.logs, 'agent.log'), 'a');
  const dnsIp = multi ? UNDERLAY_HOST_IP : node.nodeIp; // multi-node: the DNS server is on the host, reached over the underlay
  const controller = new SandboxController({
    store, node, proxier, nodes: net.parts, owner: paths.dir, poddPath: poddPath(root), cliPath: cliBundlePath(root), kubeconfig: paths.kubeconfig,
    // --no-agent only skips installing deploy/: a DaemonSet installed later (flowlens install) still
    // gets its agent run for each node, as a kubelet would.
    podLogFd, agentLogFd, agents: true, log: say, onChange: () => scheduleWrite(), dnsIp,
  });
  let phase: SandboxState['phase'] = 'starting';
  let api: ApiServer | undefined;
  const dns = await startDnsServer({ host: dnsIp, port: 53, records: controller.records });
  let timer: NodeJS.Timeout | undefined;
  const writeState = (): void => {
    if (timer) { clearTimeout(timer); timer = undefined; }
    writeJsonAtomic(paths.state, snapshot({ paths, node, nodes, controller, proxier, dns, api, phase, startedAt, store }));
  };
  function scheduleWrite(): void {
    if (!timer) timer = setTimeout(writeState, 100);
  }
  const stop = async (): Promise<void> => {
    phase = 'stopping';
    writeState();
    await controller.stop();
    for (const p of net.parts) (p.proxier as Proxier).stop();
    await net.stop();
    await api?.close();
    await dns.close();
    await removeAllRules();
    for (const n of nodes) await teardownNode(n);
    if (multi) await teardownUnderlay();
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
    await controller.flushRules(); // services and policies are enforced on every node before `up` reports ready
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

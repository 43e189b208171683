// The node agent: supervises the eBPF loader, decodes its records into flows, attaches the
// identity of pods on its node, keeps recent flows in a bounded ring and serves them.
import type { ClusterAccess } from '../cluster/kubeconfig';
import { Informer } from '../cluster/informer';
import { enrichFlow, type IdentityIndex } from '../flows/enrich';
import type { Flow } from '../flows/flow';
import { FlowRing } from '../flows/store';
import type { KubeObject } from '../sandbox/apiserver/types';
import { readFileSync } from 'node:fs';
import { ConntrackLookups, ConntrackNetlink, defaultCtqueryPath } from './ctquery';
import { Datapath } from './datapath';
import { readDataplane } from './dataplane';
import type { Dataplane } from './dataplane';
import { InterfaceWatcher } from './interfaces';
import { AgentMetrics } from './metrics';
import { LoaderProcess } from './loader';
import { NetnsScope } from './netns-scope';
import type { DecodedRecord, HelloRecord, RecordFrames } from './records';
import { AgentServer } from './server';
import { TcpFlowBuilder } from './tcpflows';
import type { Maybe } from './tcpflows';

export interface AgentOptions {
  node: string;
  access?: ClusterAccess;
  host: string;
  port: number;
  storeSize: number;
  loaderPath?: string;
  /**
   * The conntrack lookup helper (bpf/ctquery.c; default $FLOWLENS_CTQUERY, else the build's);
   * null: read /proc/net/nf_conntrack instead.
   */
  ctqueryPath?: string | null;
  log?: (msg: string) => void;
  /** WebSocket token; default: the file named by $FLOWLENS_AGENT_TOKEN_FILE, else $FLOWLENS_AGENT_TOKEN, else none. */
  token?: string;
  /** Process metrics (CPU, memory, GC) in /metrics; default true. */
  processMetrics?: boolean;
  /** Only host-side veths whose name matches get the tc programs (default: every veth with a peer in another netns). */
  interfaces?: RegExp;
  /**
   * Bridge ports get tc ingress only and their bridge one egress program (default; saves a hook
   * run per packet between pods of a bridge). false: ingress and egress on every veth. Default
   * from $FLOWLENS_AGENT_BRIDGE_EGRESS (0 = off).
   */
  bridgeEgress?: boolean;
  /** Extra loader arguments (e.g. --no-http). */
  loaderArgs?: string[];
  /**
   * 'node': report only sockets and drops of this node's network namespaces (its own and its pods',
   * see netns-scope.ts), for agents that share a kernel; 'all' (default): every netns.
   * Default from $FLOWLENS_AGENT_NETNS_SCOPE.
   */
  netnsScope?: 'node' | 'all';
}

/** Records waiting in the agent beyond this are dropped and counted as lost (source agent_backlog). */
const MAX_BACKLOG_RECORDS = 1_000_000;

/** The agent's token from its environment (the DaemonSet mounts the optional Secret as a file). */
export function tokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.FLOWLENS_AGENT_TOKEN_FILE) {
    try {
      return readFileSync(env.FLOWLENS_AGENT_TOKEN_FILE, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }
  return env.FLOWLENS_AGENT_TOKEN || undefined;
}

/** Delay before restarting a crashed loader: immediate at first, capped at 1 s, so a restart takes well under 2 s. */
export function restartDelayMs(consecutive: number): number {
  return Math.min(1000, 100 * Math.max(0, consecutive - 1));
}

class LocalPods implements IdentityIndex {
  private index = new Map<string, KubeObject>();
  constructor(readonly informer: Informer | undefined) {
    informer?.onChange(() => this.rebuild());
  }
  private rebuild(): void {
    this.index.clear();
    for (const p of this.informer?.list() ?? []) {
      if (!p.spec?.hostNetwork && p.status?.podIP) this.index.set(p.status.podIP as string, p);
    }
  }
  podByIP(ip: string): KubeObject | undefined {
    return this.index.get(ip);
  }
}

export class Agent {
  readonly store: FlowRing;
  private server: AgentServer;
  private loader: LoaderProcess | undefined;
  private builder: TcpFlowBuilder;
  private readonly conntrack: ConntrackLookups;
  private pods: LocalPods;
  private stopping = false;
  private loaderReady = false;
  private restarts = 0;
  private consecutiveCrashes = 0;
  private exitedAt: number | undefined;
  private startedAt = Date.now();
  private lostBySource = new Map<string, number>();
  readonly metrics: AgentMetrics;
  private chain: Promise<void> = Promise.resolve();
  private backlog = 0;
  readonly datapath: Datapath;
  private readonly ifaces: InterfaceWatcher;
  private hello: HelloRecord | undefined;
  private paused = false;
  /** Set when only this node's network namespaces are reported. */
  readonly netns: NetnsScope | undefined;
  private dataplaneNow: (Dataplane & { read_at: string }) | undefined;
  private dataplaneTimer: NodeJS.Timeout | undefined;
  lost = 0;

  constructor(private readonly opts: AgentOptions) {
    this.store = new FlowRing(opts.storeSize);
    this.conntrack = new ConntrackLookups(opts.ctqueryPath === null ? undefined : new ConntrackNetlink(opts.ctqueryPath ?? defaultCtqueryPath(), (m) => this.log(m)),
      undefined, (ip) => this.pods.podByIP(ip) !== undefined);
    this.datapath = new Datapath(opts.node);
    this.builder = new TcpFlowBuilder(opts.node, this.conntrack, this.datapath);
    this.builder.onRewrite = (client, sent, seen) => this.datapath.rewritten(client, sent, seen);
    const informer = opts.access ? new Informer(opts.access, { path: '/api/v1/pods', fieldSelector: `spec.nodeName=${opts.node}` }) : undefined;
    this.pods = new LocalPods(informer);
    const scope = opts.netnsScope ?? (process.env.FLOWLENS_AGENT_NETNS_SCOPE === 'node' ? 'node' : 'all');
    this.netns = scope === 'node' ? new NetnsScope((m) => this.log(m)) : undefined;
    this.ifaces = new InterfaceWatcher((m) => this.log(m), opts.interfaces, undefined, undefined, opts.bridgeEgress ?? process.env.FLOWLENS_AGENT_BRIDGE_EGRESS !== '0');
    this.metrics = new AgentMetrics(opts.node, { processMetrics: opts.processMetrics });
    this.server = new AgentServer({
      host: opts.host, port: opts.port, node: opts.node, store: this.store, ready: () => this.loaderReady, token: opts.token ?? tokenFromEnv(),
      metrics: () => {
        this.metrics.clients.set(this.server.clientCount);
        this.metrics.stored.set(this.store.size);
        this.metrics.ready.set(this.loaderReady ? 1 : 0);
        return this.metrics.text();
      },
      onClientLost: (n) => this.countLost('agent_client_queue', n),
      status: () => ({
        node: opts.node, ready: this.loaderReady, loader_restarts: this.restarts, flows_stored: this.store.size, store_capacity: this.store.capacity,
        lost: Object.fromEntries(this.lostBySource), uptime_seconds: Math.round((Date.now() - this.startedAt) / 1000),
        ...this.datapathStatus(),
      }),
    });
  }

  private log(msg: string): void {
    (this.opts.log ?? ((m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`)))(msg);
  }

  async start(): Promise<{ host: string; port: number }> {
    const addr = await this.server.listen();
    this.log(`agent for node ${this.opts.node} listening on ${addr.host}:${addr.port}`);
    if (this.pods.informer) {
      this.pods.informer.start().catch((e: unknown) => this.log(`pod metadata unavailable for now: ${String(e)}`));
    }
    this.conntrack.netlink?.start();
    this.startLoader();
    this.watchDataplane();
    return addr;
  }

  /** The node's programmed Service frontends and backends (kube-proxy iptables/nftables), re-read every 10 s. */
  get dataplane(): (Dataplane & { read_at: string }) | undefined {
    return this.dataplaneNow;
  }

  private watchDataplane(): void {
    const tick = (): void => {
      void readDataplane().then((d) => {
        const changed = JSON.stringify(d) !== JSON.stringify(this.dataplaneNow && { ...this.dataplaneNow, read_at: undefined });
        this.dataplaneNow = { ...d, read_at: new Date().toISOString() };
        // Clients compare programmed with declared backends: tell them when the programming changes.
        if (changed) this.server.broadcastStatus();
      }).finally(() => {
        if (!this.stopping) this.dataplaneTimer = setTimeout(tick, 10_000);
      });
    };
    tick();
  }

  /** Kernel features, programs, interfaces and datapath counters for the status message. */
  datapathStatus(): Record<string, unknown> {
    const h = this.hello;
    return {
      datapath: this.paused ? 'paused' : h ? 'running' : 'starting',
      ...(h ? { kernel: h.kernelRelease, features: h.features, programs: h.attachedPrograms } : {}),
      interfaces: this.ifaces.interfaces.length,
      ...(this.dataplaneNow ? { dataplane: this.dataplaneNow } : {}),
      records: Object.fromEntries(this.datapath.counts),
      unparsed: this.datapath.unparsed,
      conntrack: { lookups: this.conntrack.source, netlink_answers: this.conntrack.netlink?.answered ?? 0, netlink_restarts: this.conntrack.netlink?.restarts ?? 0, table_reads: this.conntrack.table.reads,
        port_rewrites: this.datapath.portRewrites, tc_view_answers: this.builder.seenAnswers,
        ...(this.conntrack.netlink?.failed && this.conntrack.netlink.failed !== 'stopped' ? { netlink_off: this.conntrack.netlink.failed } : {}) },
      ...(this.netns ? { netns_scope: { inodes: this.netns.inodes.length, other_node_records: this.netns.dropped } } : {}),
    };
  }

  /** `sandbox agent stop`: detach every program (the loader exits) but keep serving stored flows. */
  async pauseDatapath(): Promise<void> {
    this.paused = true;
    this.ifaces.stop();
    const loader = this.loader;
    this.loader = undefined;
    this.loaderReady = false;
    await loader?.stop();
    this.server.broadcastStatus();
    this.log('datapath paused: programs detached');
  }

  resumeDatapath(): void {
    if (!this.paused) return;
    this.paused = false;
    this.startLoader();
    this.log('datapath resumed');
  }

  private startLoader(): void {
    // Lazy: batches queued behind a record that waits (a conntrack lookup) stay bytes until handled.
    const loader = new LoaderProcess(this.opts.loaderPath, { args: this.opts.loaderArgs, lazy: true });
    this.lostTotals.clear();
    this.loader = loader;
    loader.on('frames', (frames: RecordFrames) => {
      let records: DecodedRecord[] | undefined;
      if (this.backlog + frames.count > MAX_BACKLOG_RECORDS) {
        records = loader.discard(frames); // shed, but keep its control records (LOST, command results)
        const shed = frames.count - records.length;
        this.lost += shed;
        this.countLost('agent_backlog', shed);
        this.server.reportLost('agent_backlog', shed);
      }
      const count = records?.length ?? frames.count;
      this.backlog += count;
      // Keep order across records: each batch is decoded and handled after the previous one.
      this.chain = this.chain.then(() => this.onRecords(records ?? loader.decode(frames), loader)).catch((e: unknown) => this.log(`record handling failed: ${String(e)}`))
        .finally(() => { this.backlog -= count; });
    });
    const started = Date.now();
    loader.on('exit', (code: number | null, signal: string | null, stderr: string) => {
      if (this.loader !== loader) return; // paused: stopped on purpose
      this.loaderReady = false;
      this.ifaces.stop();
      if (this.stopping) return;
      this.restarts++;
      this.metrics.loaderRestarts.inc();
      this.exitedAt ??= Date.now();
      this.consecutiveCrashes = Date.now() - started > 30_000 ? 1 : this.consecutiveCrashes + 1;
      this.server.broadcastStatus();
      this.log(`loader exited (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}; restarting`);
      setTimeout(() => { if (!this.stopping) this.startLoader(); }, restartDelayMs(this.consecutiveCrashes));
    });
    loader.start();
  }

  private async onRecords(all: DecodedRecord[], loader: LoaderProcess): Promise<void> {
    const records = this.netns ? await this.netns.filter(all) : all; // other nodes' sockets and drops
    const socket: Maybe<Flow | undefined>[] = [];
    for (const r of records) {
      if (r.type === 'hello') {
        this.hello = r;
        this.loaderReady = true;
        this.ifaces.start(loader);
        this.onAttached();
        continue;
      }
      if (r.type === 'lost') {
        this.onLost(r.source, r.total);
        continue;
      }
      if (r.type === 'flow' || r.type === 'http' || r.type === 'dns') this.datapath.observe(r); // tc views and L7 messages joined as the ring ordered them
      else if (r.type === 'tcp_state') socket.push(this.builder.onRecord(r));
      else if (r.type === 'sock_addr') this.builder.onSockAddr(r); // before its socket's SYN_SENT, in record order
    }
    // A batch's lookups went out together; its socket flows are delivered in record order.
    for (const f of socket) {
      const flow = f instanceof Promise ? await f : f;
      if (flow) this.deliver(flow);
    }
    for (const flow of this.datapath.onBatch(records, true)) this.deliver(flow);
  }

  private deliver(flow: Flow): void {
    enrichFlow(flow, this.pods);
    this.store.push(flow);
    this.metrics.observe(flow);
    this.server.publish(flow);
  }

  private lostTotals = new Map<string, bigint>();

  /** Loader counters are cumulative per loader process; report the increase. */
  private onLost(source: string, total: bigint): void {
    const prev = this.lostTotals.get(source) ?? 0n;
    const delta = total >= prev ? total - prev : total;
    this.lostTotals.set(source, total);
    if (delta === 0n) return;
    this.lost += Number(delta);
    this.countLost(source, Number(delta));
    this.server.reportLost(source, Number(delta));
  }

  private countLost(source: string, n: number): void {
    this.lostBySource.set(source, (this.lostBySource.get(source) ?? 0) + n);
    this.metrics.lostEvents(source, n);
  }

  /**
   * The loader (re)attached. After a crash, the time without programs attached is a gap nobody
   * observed: it is reported as one `loader_restart` lost event with its length in `gap_ms`.
   */
  private onAttached(): void {
    this.server.broadcastStatus();
    if (this.exitedAt === undefined) return;
    const gapMs = Date.now() - this.exitedAt;
    this.exitedAt = undefined;
    this.lost += 1;
    this.countLost('loader_restart', 1);
    this.server.reportLost('loader_restart', 1, gapMs);
    this.log(`loader attached again after a ${gapMs} ms gap`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.ifaces.stop();
    clearTimeout(this.dataplaneTimer);
    this.conntrack.netlink?.stop();
    this.pods.informer?.stop();
    await this.loader?.stop();
    await this.server.close();
  }
}

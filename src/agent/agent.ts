// The node agent: supervises the eBPF loader, decodes its records into flows, attaches the
// identity of pods on its node, keeps recent flows in a bounded ring and serves them.
import type { ClusterAccess } from '../cluster/kubeconfig';
import { Informer } from '../cluster/informer';
import { enrichFlow, type IdentityIndex } from '../flows/enrich';
import { FlowRing } from '../flows/store';
import type { KubeObject } from '../sandbox/apiserver/types';
import { ConntrackTable } from './conntrack';
import { LoaderProcess } from './loader';
import type { DecodedRecord } from './records';
import { AgentServer } from './server';
import { TcpFlowBuilder } from './tcpflows';

export interface AgentOptions {
  node: string;
  access?: ClusterAccess;
  host: string;
  port: number;
  storeSize: number;
  loaderPath?: string;
  log?: (msg: string) => void;
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
  private pods: LocalPods;
  private stopping = false;
  private loaderReady = false;
  private restarts = 0;
  private chain: Promise<void> = Promise.resolve();
  lost = 0;

  constructor(private readonly opts: AgentOptions) {
    this.store = new FlowRing(opts.storeSize);
    const ct = new ConntrackTable();
    this.builder = new TcpFlowBuilder(opts.node, {
      translated: (s, sp, d, dp) => ct.lookup('tcp', s, sp, d, dp),
      original: (p, pp, l, lp) => ct.originalDestination('tcp', p, pp, l, lp),
    });
    const informer = opts.access ? new Informer(opts.access, { path: '/api/v1/pods', fieldSelector: `spec.nodeName=${opts.node}` }) : undefined;
    this.pods = new LocalPods(informer);
    this.server = new AgentServer({ host: opts.host, port: opts.port, node: opts.node, store: this.store, ready: () => this.loaderReady });
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
    this.startLoader();
    return addr;
  }

  private startLoader(): void {
    const loader = new LoaderProcess(this.opts.loaderPath);
    this.lostTotals.clear();
    this.loader = loader;
    loader.on('records', (records: DecodedRecord[]) => {
      // Keep order across records: each batch is handled after the previous one.
      this.chain = this.chain.then(() => this.onRecords(records)).catch((e: unknown) => this.log(`record handling failed: ${String(e)}`));
    });
    loader.on('exit', (code: number | null, signal: string | null, stderr: string) => {
      this.loaderReady = false;
      if (this.stopping) return;
      this.restarts++;
      this.log(`loader exited (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}; restarting`);
      setTimeout(() => this.startLoader(), Math.min(2000, 200 * this.restarts));
    });
    loader.start();
  }

  private async onRecords(records: DecodedRecord[]): Promise<void> {
    for (const r of records) {
      if (r.type === 'hello') {
        this.loaderReady = true;
        continue;
      }
      if (r.type === 'lost') {
        this.onLost(r.source, r.total);
        continue;
      }
      const flow = await this.builder.onRecord(r);
      if (!flow) continue;
      enrichFlow(flow, this.pods);
      this.store.push(flow);
      this.server.publish(flow);
    }
  }

  private lostTotals = new Map<string, bigint>();

  /** Loader counters are cumulative per loader process; report the increase. */
  private onLost(source: string, total: bigint): void {
    const prev = this.lostTotals.get(source) ?? 0n;
    const delta = total >= prev ? total - prev : total;
    this.lostTotals.set(source, total);
    if (delta === 0n) return;
    this.lost += Number(delta);
    this.server.reportLost(source, Number(delta));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.pods.informer?.stop();
    await this.loader?.stop();
    await this.server.close();
  }
}

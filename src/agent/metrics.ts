// Prometheus metrics of one agent (prom-client, one Registry per agent so several agents can live
// in one process in tests). Names follow Hubble's metrics where one exists (hubble_flows_processed_total
// → flowlens_flows_processed_total, hubble_drop_total → flowlens_drop_total, ...).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Flow, TcpFlags } from '../flows/flow';

const TCP_FLAGS: (keyof TcpFlags)[] = ['SYN', 'FIN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'];

interface Cell { n: number }
type Level = Map<string, Level | Cell>;

function child(m: Level, k: string): Level {
  let c = m.get(k) as Level | undefined;
  if (!c) m.set(k, (c = new Map()));
  return c;
}

function leaf(m: Level, k: string): Cell {
  let c = m.get(k) as Cell | undefined;
  if (!c) m.set(k, (c = { n: 0 }));
  return c;
}

/**
 * A counter whose hot path allocates nothing: prom-client hashes the label object on every inc()
 * (about 1 µs a flow for five counters), so the counts are kept here in maps nested by label value
 * (one to three labels) and handed to prom-client when it is scraped (its collect hook).
 */
class Tally<L extends string> {
  private readonly root: Level = new Map();
  private readonly depth: number;

  constructor(cfg: { name: string; help: string; labelNames: L[]; registers: Registry[] }) {
    if (cfg.labelNames.length < 1 || cfg.labelNames.length > 3) throw new Error(`${cfg.name}: one to three labels`);
    this.depth = cfg.labelNames.length;
    const root = this.root;
    new Counter<L>({
      ...cfg,
      collect(this: Counter<L>) {
        this.reset();
        const walk = (m: Level, values: string[]): void => {
          for (const [k, v] of m) {
            if (values.length + 1 < cfg.labelNames.length) walk(v as Level, [...values, k]);
            else {
              const labels = {} as Record<L, string>;
              [...values, k].forEach((value, i) => (labels[cfg.labelNames[i]!] = value));
              this.inc(labels, (v as Cell).n);
            }
          }
        };
        walk(root, []);
      },
    });
  }

  /** The label values in the order of labelNames (those past its length are ignored). */
  inc(a: string, b = '', c = '', n = 1): void {
    const d = this.depth;
    const cell = d === 1 ? leaf(this.root, a) : d === 2 ? leaf(child(this.root, a), b) : leaf(child(child(this.root, a), b), c);
    cell.n += n;
  }
}

function protocolOf(f: Flow): string {
  const l4 = f.l4;
  return l4.TCP ? 'TCP' : l4.UDP ? 'UDP' : l4.ICMPv4 ? 'ICMPv4' : l4.ICMPv6 ? 'ICMPv6' : 'unknown';
}

export class AgentMetrics {
  readonly registry = new Registry();
  private flows: Tally<'type' | 'subtype' | 'verdict'>;
  private drops: Tally<'reason' | 'protocol'>;
  private dns: Tally<'rcode' | 'qtypes'>;
  private http: Tally<'method' | 'status'>;
  private tcpFlags: Tally<'flag' | 'family'>;
  private lost: Tally<'source'>;
  readonly loaderRestarts: Counter;
  readonly clients: Gauge;
  readonly stored: Gauge;
  readonly ready: Gauge;

  constructor(node: string, opts: { processMetrics?: boolean } = {}) {
    const r = [this.registry];
    this.registry.setDefaultLabels({ node });
    this.flows = new Tally({ name: 'flowlens_flows_processed_total', help: 'Flows processed, by type, subtype and verdict', labelNames: ['type', 'subtype', 'verdict'], registers: r });
    this.drops = new Tally({ name: 'flowlens_drop_total', help: 'Dropped flows, by drop reason and protocol', labelNames: ['reason', 'protocol'], registers: r });
    this.dns = new Tally({ name: 'flowlens_dns_queries_total', help: 'DNS queries and responses, by response code', labelNames: ['rcode', 'qtypes'], registers: r });
    this.http = new Tally({ name: 'flowlens_http_requests_total', help: 'HTTP requests, by method and response status', labelNames: ['method', 'status'], registers: r });
    this.tcpFlags = new Tally({ name: 'flowlens_tcp_flags_total', help: 'TCP flags seen on flows', labelNames: ['flag', 'family'], registers: r });
    this.lost = new Tally({ name: 'flowlens_lost_events_total', help: 'Events lost, by where they were lost', labelNames: ['source'], registers: r });
    this.loaderRestarts = new Counter({ name: 'flowlens_loader_restarts_total', help: 'eBPF loader restarts', registers: r });
    this.clients = new Gauge({ name: 'flowlens_clients', help: 'Connected WebSocket clients', registers: r });
    this.stored = new Gauge({ name: 'flowlens_store_flows', help: 'Flows in the store', registers: r });
    this.ready = new Gauge({ name: 'flowlens_ready', help: '1 when the eBPF loader is attached', registers: r });
    // The event-loop lag histogram samples every 100 ms, not prom-client's 10 ms: 100 wakeups a second
    // are most of an idle agent's CPU.
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'flowlens_', eventLoopMonitoringPrecision: 100 });
  }

  /** Counts one flow in every metric it concerns. */
  observe(f: Flow): void {
    this.flows.inc(f.Type, f.extensions?.tcp_event ?? '', f.verdict);
    if (f.verdict === 'DROPPED') this.drops.inc(f.drop_reason_desc ?? 'UNKNOWN', protocolOf(f));
    const l7 = f.l7 as { dns?: { rcode?: number; qtypes?: string[] }; http?: { method?: string; code?: number } } | undefined;
    if (l7?.dns) this.dns.inc(String(l7.dns.rcode ?? ''), (l7.dns.qtypes ?? []).join(','));
    if (l7?.http) this.http.inc(l7.http.method ?? '', l7.http.code ? String(l7.http.code) : '');
    const flags = f.l4.TCP?.flags;
    if (flags) for (const k of TCP_FLAGS) if (flags[k]) this.tcpFlags.inc(k, f.IP.ipVersion);
  }

  lostEvents(source: string, count: number): void {
    if (count > 0) this.lost.inc(source, '', '', count);
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

// `flowlens observe`: flows from every agent, reached through port-forward like the extension, with
// `hubble observe`'s filter flags (parsed in order by src/flows/filter-args.ts, so `--not` applies
// to the next filter) and selection flags (--since/--until/--last/--first/--follow/--all).
import { AgentHub, type HubRequest } from '../agents/hub';
import { loadClusterAccess } from '../cluster/kubeconfig';
import { ClusterModel } from '../cluster/model';
import { type Errorable, fail, ok } from '../cluster/errorable';
import { type FilterSet, validateFlowFilter } from '../flows/filter';
import { FILTER_FLAGS, FilterBuilder, filterFlagOf } from '../flows/filter-args';
import { parseTimeArg } from '../flows/filter-time';
import type { Endpoint, FlowResponse, PolicyRef } from '../flows/flow';
import { usageFailure } from './args';

const OUTPUTS = ['compact', 'json', 'jsonpb', 'table', 'tab'] as const;
type Output = (typeof OUTPUTS)[number];
const VALUE_OPTS = new Set(['kubeconfig', 'kube-context', 'since', 'until', 'last', 'first', 'output', 'node', 'allowlist', 'denylist']);
const BOOL_OPTS = new Set(['follow', 'all', 'print-policy-names', 'print-node-name', 'print-raw-filters']);
const SHORT: Record<string, string> = { f: 'follow', o: 'output' };

export interface ObserveArgs { request: HubRequest; output: Output; kubeconfig?: string; context?: string; policyNames: boolean; nodeNames: boolean; printRawFilters: boolean }

function count(v: string | undefined, name: string): Errorable<number | undefined> {
  if (v === undefined) return ok(undefined);
  return /^\d{1,15}$/.test(v) ? ok(Number(v)) : fail(`--${name} must be a non-negative integer, got "${v}"`);
}

function rawFilters(values: string[], name: string): Errorable<FilterSet['allowlist']> {
  const out: FilterSet['allowlist'] = [];
  for (const v of values) {
    let parsed: unknown;
    try { parsed = JSON.parse(v); } catch { return fail(`invalid --${name} flag: not JSON: ${v.slice(0, 80)}`); }
    const f = validateFlowFilter(parsed, `--${name}`);
    if (!f.ok) return f;
    out.push(f.value);
  }
  return ok(out);
}

/** Splits argv into filter flags (in order, through the one filter parser) and observe options. */
export function parseObserveArgs(argv: string[], now = Date.now()): Errorable<ObserveArgs> {
  const b = new FilterBuilder();
  const opts = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i] as string;
    const ff = filterFlagOf(w);
    if (ff) {
      let value = ff.inline;
      if (FILTER_FLAGS.get(ff.flag) && value === undefined) {
        if (i + 1 >= argv.length) return fail(`--${ff.flag} needs a value`);
        value = argv[++i];
      }
      const err = b.set(ff.flag, value);
      if (err) return fail(err);
      continue;
    }
    const m = /^(?:--([a-z-]+)|-([a-z]))(?:=(.*))?$/s.exec(w);
    const name = m ? m[1] ?? SHORT[m[2] as string] : undefined;
    if (!name || (!VALUE_OPTS.has(name) && !BOOL_OPTS.has(name))) return fail(m ? `unknown flag ${w.split('=')[0]}` : `unexpected argument "${w}"`);
    let value = m?.[3];
    if (VALUE_OPTS.has(name) && value === undefined) {
      if (i + 1 >= argv.length) return fail(`--${name} needs a value`);
      value = argv[++i];
    }
    opts.set(name, [...(opts.get(name) ?? []), value ?? 'true']);
  }
  const filters = b.finish();
  if (!filters.ok) return filters;
  return buildArgs(opts, filters.value, now);
}

function buildArgs(opts: Map<string, string[]>, filters: FilterSet, now: number): Errorable<ObserveArgs> {
  const one = (k: string) => opts.get(k)?.at(-1);
  const output = (one('output') ?? 'compact') as Output;
  if (!OUTPUTS.includes(output)) return fail(`invalid output format "${output}" (expected ${OUTPUTS.join(', ')})`);
  const last = count(one('last'), 'last');
  const first = count(one('first'), 'first');
  if (!last.ok) return last;
  if (!first.ok) return first;
  const follow = opts.has('follow');
  const all = opts.has('all');
  if (first.value && last.value) return fail('cannot set both --first and --last');
  if (first.value && all) return fail('cannot set both --first and --all');
  if (first.value && follow) return fail('cannot set both --first and --follow');
  if (last.value && all) return fail('cannot set both --last and --all');
  if ((output === 'table' || output === 'tab') && follow) return fail('table output format is not compatible with follow mode');
  const allow = rawFilters(opts.get('allowlist') ?? [], 'allowlist');
  const deny = rawFilters(opts.get('denylist') ?? [], 'denylist');
  if (!allow.ok) return allow;
  if (!deny.ok) return deny;
  const request: HubRequest = { follow };
  const fs: FilterSet = { allowlist: [...filters.allowlist, ...allow.value], denylist: [...filters.denylist, ...deny.value] };
  if (fs.allowlist.length || fs.denylist.length) request.filters = fs;
  for (const k of ['since', 'until'] as const) {
    const v = one(k);
    if (v === undefined || (k === 'until' && follow)) continue;
    const t = parseTimeArg(v, now);
    if (!t.ok) return fail(`failed to parse the ${k} time: ${t.error}`);
    request[k] = t.value;
  }
  if (first.value) request.first = first.value;
  else if (last.value) request.last = last.value;
  else if (all) request.last = Number.MAX_SAFE_INTEGER;
  else if (!request.since && !request.until && !follow) request.last = 20;
  else if (follow && !request.since) request.last = 0;
  const nodes = opts.get('node');
  if (nodes) request.nodes = nodes;
  return ok({ request, output, kubeconfig: one('kubeconfig'), context: one('kube-context'), policyNames: opts.has('print-policy-names'), nodeNames: opts.has('print-node-name'), printRawFilters: opts.has('print-raw-filters') });
}

function endpointText(e: Endpoint, ip: string, port: number | undefined): string {
  const who = e.pod_name ? `${e.namespace}/${e.pod_name}` : ip;
  return port === undefined ? who : `${who}:${port}`;
}

function policyText(refs: PolicyRef[] | undefined, what: string): string {
  return refs?.length ? ` ${what}: ${refs.map((r) => `${r.namespace}/${r.name}`).join(', ')}` : '';
}

/** The policies that decided this flow, as `--print-policy-names` shows them. */
export function policyNames(r: FlowResponse): string {
  const f = r.flow;
  const t = policyText(f.ingress_denied_by, 'ingress denied by') + policyText(f.egress_denied_by, 'egress denied by')
    + policyText(f.ingress_allowed_by, 'ingress allowed by') + policyText(f.egress_allowed_by, 'egress allowed by');
  return t ? ` [${t.trim()}]` : '';
}

/**
 * One connection observed by several nodes' agents (its two ends on different nodes) is one
 * conversation: same protocol and, after translation, the same pair of ip:port ends (either
 * direction). Remembers where each conversation was observed (bounded, oldest forgotten first).
 */
export class Conversations {
  private readonly points = new Map<string, Set<string>>();
  private readonly nodes = new Set<string>();
  constructor(private readonly max = 50_000) {}

  static key(r: FlowResponse): string | undefined {
    const f = r.flow;
    const l4 = f.l4.TCP ? ['tcp', f.l4.TCP] as const : f.l4.UDP ? ['udp', f.l4.UDP] as const : undefined;
    if (!l4) return undefined;
    const ends = [`${f.IP.source}:${l4[1].source_port}`, `${f.IP.destination}:${l4[1].destination_port}`].sort();
    return `${l4[0]}|${ends.join('|')}`;
  }

  static point(r: FlowResponse): string {
    return `${r.flow.traffic_direction === 'INGRESS' ? 'to-endpoint' : 'from-endpoint'}@${r.node_name}`;
  }

  /** Learn a batch first, so that both ends delivered together name each other. */
  learn(rows: readonly FlowResponse[]): void {
    for (const r of rows) {
      this.nodes.add(r.node_name);
      const k = Conversations.key(r);
      if (!k) continue;
      let set = this.points.get(k);
      if (!set) {
        if (this.points.size >= this.max) this.points.delete(this.points.keys().next().value as string);
        set = new Set();
        this.points.set(k, set);
      }
      set.add(Conversations.point(r));
    }
  }

  /** More than one node has been seen: observation points carry their node. */
  get multiNode(): boolean { return this.nodes.size > 1; }

  /** Where else (another node) this flow's conversation was observed. */
  elsewhere(r: FlowResponse): string[] {
    const k = Conversations.key(r);
    const set = k ? this.points.get(k) : undefined;
    return set ? [...set].filter((p) => !p.endsWith(`@${r.node_name}`)).sort() : [];
  }
}

export function compactLine(r: FlowResponse, opts: { policyNames?: boolean; nodeName?: boolean; conversations?: Conversations } = {}): string {
  const f = r.flow;
  const l4 = f.l4.TCP ?? f.l4.UDP;
  const t = new Date(f.time);
  const time = `${t.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' })} ${String(t.getUTCDate()).padStart(2, '0')} ${f.time.slice(11, 23)}`;
  const svc = f.destination_service ? ` (svc ${f.destination_service.namespace}/${f.destination_service.name})` : '';
  const conv = opts.conversations;
  const arrow = conv?.multiNode ? Conversations.point(r) : f.traffic_direction === 'INGRESS' ? 'to-endpoint' : 'from-endpoint';
  const also = conv?.elsewhere(r) ?? [];
  const node = opts.nodeName ? ` [${r.node_name}]` : '';
  const drop = f.verdict === 'DROPPED' && f.drop_reason_desc ? ` ${f.drop_reason_desc}` : '';
  return `${time}${node}: ${endpointText(f.source, f.IP.source, l4?.source_port)} -> ${endpointText(f.destination, f.IP.destination, l4?.destination_port)}${svc} ${arrow} ${f.verdict}${drop} (${f.Summary ?? f.Type})${also.length > 0 ? ` [conversation: also ${also.join(', ')}]` : ''}${opts.policyNames ? policyNames(r) : ''}`;
}

/** `-o table` (Hubble's tab output): aligned columns, printed once all flows arrived. */
export function tableText(rows: FlowResponse[]): string {
  const lines = [['TIMESTAMP', 'SOURCE', 'DESTINATION', 'TYPE', 'VERDICT', 'SUMMARY']];
  for (const r of rows) {
    const f = r.flow;
    const l4 = f.l4.TCP ?? f.l4.UDP;
    lines.push([f.time, endpointText(f.source, f.IP.source, l4?.source_port), endpointText(f.destination, f.IP.destination, l4?.destination_port), f.Type, f.verdict, f.Summary ?? '']);
  }
  const widths = lines[0]?.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length))) ?? [];
  return lines.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd()).join('\n') + '\n';
}

const OBSERVE_HELP = `flowlens observe — flows from every node's agent, through the API server's port-forward

Options:
  --kubeconfig F, --kube-context C     cluster access (default: $KUBECONFIG or ~/.kube/config, current context)
  --last N | --first N | --all         stored flows to print (default --last 20 unless --follow)
  -f, --follow                         keep printing new flows
  --since T, --until T                 RFC 3339 or relative (5m, 1h30m)
  --node NAME                          only this node's agent
  -o json|jsonpb|compact|table         json = one hubble-observe-shaped object per line
  --print-policy-names, --print-node-name, --print-raw-filters

Filters (as hubble observe: values of one flag are OR'ed, different flags AND'ed; --not negates the next):
  ${[...FILTER_FLAGS.keys()].sort().map((f) => `--${f}`).join(' ')}
`;

export async function observeCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(OBSERVE_HELP);
    return 0;
  }
  const parsed = parseObserveArgs(argv);
  if (!parsed.ok) return usageFailure('observe', parsed.error);
  const a = parsed.value;
  if (a.printRawFilters) {
    process.stdout.write(JSON.stringify(a.request.filters ?? { allowlist: [], denylist: [] }, null, 2) + '\n');
    return 0;
  }
  const acc = loadClusterAccess({ kubeconfig: a.kubeconfig, context: a.context });
  if (!acc.ok) return usageFailure('observe', acc.error);
  const model = new ClusterModel(acc.value);
  try {
    await model.start();
  } catch (e) {
    process.stderr.write(`flowlens observe: cannot reach the cluster at ${acc.value.server}: ${e instanceof Error ? e.message : String(e)}\n`);
    model.stop();
    return 1;
  }
  const table: FlowResponse[] = [];
  const conversations = new Conversations();
  let lastError: string | undefined;
  const sub = new AgentHub(acc.value, model).subscribe(
    a.request,
    (flows) => {
      if (a.output === 'table' || a.output === 'tab') return void table.push(...flows);
      if (a.output === 'compact') conversations.learn(flows);
      const text = flows.map((r) => (a.output === 'compact' ? compactLine(r, { policyNames: a.policyNames, nodeName: a.nodeNames, conversations }) : JSON.stringify(r))).join('\n');
      if (text) process.stdout.write(text + '\n');
    },
    (s) => {
      if (s.error && s.error !== lastError) process.stderr.write(`flowlens observe: ${s.error}\n`);
      lastError = s.error;
    },
  );
  const stop = () => sub.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await sub.done;
  if (table.length) process.stdout.write(tableText(table));
  model.stop();
  return lastError && !a.request.follow ? 1 : 0;
}

// The extension's use of the policy engine (src/policy): a Cluster built from the cluster model's
// objects (plus drafts from the editor), policy explanations for flows, What-if (flows whose
// verdict a draft would change) and CodeLens counts. Pure: no vscode.
import type { Flow } from '../../flows/flow';
import type { KubeObject } from '../../sandbox/apiserver/types';
import { PolicyEngine } from '../../policy/engine';
import { parseNamespace, parsePod, parsePolicy } from '../../policy/parse';
import type { Cluster, Direction, DirectionVerdict, Policy, Protocol, Query, Verdict } from '../../policy/types';
import type { Explanation, PolicyLink } from '../../panels/flows/protocol';

export interface ClusterObjects { namespaces: KubeObject[]; pods: KubeObject[]; policies: KubeObject[] }

function tryParse<T>(items: KubeObject[], parse: (o: KubeObject) => T): T[] {
  const out: T[] = [];
  for (const o of items) {
    try {
      out.push(parse(o));
    } catch {
      // an object the engine cannot read is left out (it names the field when asked directly)
    }
  }
  return out;
}

/** The engine's cluster; `drafts` replace live policies of the same namespace/name. */
export function buildCluster(objs: ClusterObjects, drafts: Policy[] = []): Cluster {
  const where = (o: KubeObject) => ({ where: `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}` });
  const draftKeys = new Set(drafts.map((p) => `${p.namespace}/${p.name}`));
  const live = tryParse(objs.policies, (o) => parsePolicy(where(o), o as Record<string, unknown>)).filter((p) => !draftKeys.has(`${p.namespace}/${p.name}`));
  return {
    namespaces: tryParse(objs.namespaces, (o) => parseNamespace(where(o), o as Record<string, unknown>)),
    pods: tryParse(objs.pods, (o) => parsePod(where(o), o as Record<string, unknown>)),
    policies: [...live, ...drafts],
  };
}

/** The engine query a flow stands for: source address → destination address:port/protocol. */
export function queryOf(f: Flow): Query | undefined {
  const l4 = f.l4?.TCP ?? f.l4?.UDP;
  if (!l4 || !f.IP?.source || !f.IP?.destination) return undefined;
  const protocol: Protocol = f.l4.TCP ? 'TCP' : 'UDP';
  // A reply (is_reply, e.g. an HTTP response) belongs to the connection its destination opened:
  // policies are stateful, so its verdict is the request's, never one towards an ephemeral port.
  if (f.is_reply === true) return { from: { ip: f.IP.destination }, to: { ip: f.IP.source }, port: l4.source_port, protocol };
  return { from: { ip: f.IP.source }, to: { ip: f.IP.destination }, port: l4.destination_port, protocol };
}

/** Resolves pods by IP through the engine (a bare-address query would never select a pod). */
function resolved(engine: PolicyEngine, q: Query): Query {
  const ref = (r: Query['from']) => ('ip' in r && !('pod' in r) ? (engine.podByIP(r.ip) ? { pod: engine.podByIP(r.ip) as NonNullable<ReturnType<PolicyEngine['podByIP']>>, ip: r.ip } : r) : r);
  return { ...q, from: ref(q.from), to: ref(q.to) };
}

export function verdictOf(engine: PolicyEngine, f: Flow): Verdict | undefined {
  const q = queryOf(f);
  return q ? engine.verdict(resolved(engine, q)) : undefined;
}

function sideLine(dir: Direction, v: DirectionVerdict, subject: string): string {
  if (!v.evaluated) return `${dir}: not checked (${subject} is not a pod policies can select)`;
  if (!v.isolated) return `${dir}: allowed — no NetworkPolicy selects ${subject} for ${dir}`;
  if (v.allowed) {
    const by = v.allowedBy.map((r) => `${r.namespace}/${r.name} rule ${r.ruleIndex + 1}`).join(', ');
    return `${dir}: allowed by ${by}`;
  }
  return `${dir}: denied — ${v.deniedBy.map((p) => `${p.namespace}/${p.name}`).join(', ')} select${v.deniedBy.length === 1 ? 's' : ''} ${subject} and no rule allows this traffic`;
}

function endName(f: Flow, side: 'source' | 'destination'): string {
  const e = f[side];
  return e?.pod_name ? `${e.namespace ?? ''}/${e.pod_name}` : (side === 'source' ? f.IP.source : f.IP.destination);
}

/** The explanation of one flow's verdict, with links to the rules that decided. */
export function explainFlow(engine: PolicyEngine, f: Flow): Explanation {
  const v = verdictOf(engine, f);
  if (!v) return { lines: [], links: [], unavailable: 'no policy verdict for this flow (not TCP or UDP)' };
  const links: PolicyLink[] = [];
  for (const dir of ['egress', 'ingress'] as const) {
    const d = v[dir];
    for (const r of d.allowedBy) links.push({ namespace: r.namespace, name: r.name, direction: dir, ruleIndex: r.ruleIndex });
    for (const p of d.deniedBy) links.push({ namespace: p.namespace, name: p.name });
  }
  const port = `${v.port}/${v.protocol}`;
  return {
    lines: [`${v.allowed ? 'allowed' : 'denied'}: ${endName(f, 'source')} → ${endName(f, 'destination')}:${port}`, sideLine('egress', v.egress, endName(f, 'source')), sideLine('ingress', v.ingress, endName(f, 'destination'))],
    links,
  };
}

export interface Change { flow: Flow; before: boolean; after: boolean; policy?: { namespace: string; name: string; direction: Direction; ruleIndex?: number } }

const flowKey = (q: Query) => `${('ip' in q.from ? q.from.ip : undefined) ?? ''}>${('ip' in q.to ? q.to.ip : undefined) ?? ''}:${q.port}/${q.protocol}`;

/** Recent flows whose verdict changes when `drafts` replace (or join) the live policies; one per connection tuple. */
export function whatIf(objs: ClusterObjects, drafts: Policy[], flows: readonly Flow[]): Change[] {
  const before = new PolicyEngine(buildCluster(objs));
  const after = new PolicyEngine(buildCluster(objs, drafts));
  const seen = new Set<string>();
  const out: Change[] = [];
  for (const f of flows) {
    const q = queryOf(f);
    if (!q) continue;
    const k = flowKey(q);
    if (seen.has(k)) continue;
    seen.add(k);
    const b = verdictOf(before, f);
    const a = verdictOf(after, f);
    if (!a || !b || a.allowed === b.allowed) continue;
    out.push({ flow: f, before: b.allowed, after: a.allowed, policy: deciding(a, drafts) });
  }
  return out;
}

function deciding(v: Verdict, drafts: Policy[]): Change['policy'] {
  const isDraft = (ns: string, name: string) => drafts.some((p) => p.namespace === ns && p.name === name);
  for (const dir of ['ingress', 'egress'] as const) {
    const r = v[dir].allowedBy.find((x) => isDraft(x.namespace, x.name));
    if (r) return { namespace: r.namespace, name: r.name, direction: dir, ruleIndex: r.ruleIndex };
    const p = v[dir].deniedBy.find((x) => isDraft(x.namespace, x.name));
    if (p) return { namespace: p.namespace, name: p.name, direction: dir };
  }
  return undefined;
}

/** Per policy: recent flows it selects an end of (matched), and those it denies. */
export function policyCounts(engine: PolicyEngine, policy: Policy, flows: readonly Flow[]): { matched: number; denied: number } {
  let matched = 0;
  let denied = 0;
  const is = (p: { namespace: string; name: string }) => p.namespace === policy.namespace && p.name === policy.name;
  for (const f of flows) {
    const q = queryOf(f);
    const v = q && engine.verdict(resolved(engine, q));
    if (!q || !v) continue;
    let m = false;
    let d = false;
    for (const dir of ['ingress', 'egress'] as const) {
      const side = dir === 'ingress' ? v.ingress : v.egress;
      if (!side.evaluated || !side.isolated) continue;
      const end = dir === 'ingress' ? q.to : q.from;
      const sel = ('ip' in end ? end.ip : undefined) ?? '';
      const pod = engine.podByIP(sel);
      if (!pod || !engine.selecting(pod, dir).some(is)) continue;
      m = true;
      if (!side.allowed && side.deniedBy.some(is)) d = true;
    }
    if (m) matched++;
    if (d) denied++;
  }
  return { matched, denied };
}

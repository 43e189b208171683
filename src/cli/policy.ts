// `flowlens policy check|whatif|advise`: the NetworkPolicy engine on files. Malformed objects,
// queries or flows exit 2 with a message naming the file, document (or query/line) and field.
import { readFileSync } from 'node:fs';
import { advise, adviceYaml } from '../policy/advise';
import { PolicyEngine } from '../policy/engine';
import { clusterFromFlows, parseFlows } from '../policy/flows';
import { InputError } from '../policy/parse';
import { endpointLabel, parseQueries } from '../policy/queries';
import { readObjects, toCluster } from '../policy/source';
import type { ObjectSet } from '../policy/source';
import type { Cluster, DirectionVerdict, Verdict } from '../policy/types';
import { applyDraft, whatIf } from '../policy/whatif';
import { parse, usageFailure } from './args';

const USAGE = `Usage:
  flowlens policy check --objects FILE [--objects FILE ...] --queries FILE [-o json|text]
  flowlens policy whatif --flows FLOWS.jsonl [--objects FILE ...] --with DRAFT.yaml [-o json|text]
  flowlens policy advise --flows FLOWS.jsonl [-n NAMESPACE]`;

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(file, '', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function loadObjects(files: string[]): ObjectSet {
  const set: ObjectSet = { namespaces: [], pods: [], policies: [] };
  for (const f of files) readObjects(read(f), f, set);
  return set;
}

function sideText(name: string, d: DirectionVerdict): string {
  if (!d.evaluated) return `${name}: not a pod`;
  if (!d.isolated) return `${name}: not isolated`;
  if (d.allowed) return `${name}: allowed by ${d.allowedBy.map((m) => `${m.policy} rule ${m.ruleIndex}`).join(', ')}`;
  return `${name}: denied (selected by ${d.deniedBy.map((p) => p.policy).join(', ')}; no rule matches)`;
}

function verdictText(from: unknown, to: unknown, v: Verdict): string {
  const s = (x: unknown) => (typeof x === 'string' ? x : (x as { ip: string }).ip);
  return `${s(from)} -> ${s(to)} ${v.port}/${v.protocol}: ${v.allowed ? 'ALLOWED' : 'DENIED'} (${sideText('egress', v.egress)}; ${sideText('ingress', v.ingress)})`;
}

function check(v: Record<string, string | boolean | string[] | undefined>): number {
  const objects = (v.objects as string[] | undefined) ?? [];
  if (objects.length === 0 || !v.queries) return usageFailure('policy check', `--objects and --queries are required\n${USAGE}`);
  const cluster = toCluster(loadObjects(objects));
  const engine = new PolicyEngine(cluster);
  const pods = new Map(cluster.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const queries = parseQueries(read(v.queries as string), v.queries as string, { pod: (ns, n) => pods.get(`${ns}/${n}`), podByIP: (ip) => engine.podByIP(ip) });
  const results = queries.map((q) => ({ from: endpointLabel(q.from), to: endpointLabel(q.to), ...engine.verdict(q) }));
  if (v.output === 'text') process.stdout.write(results.map((r) => verdictText(r.from, r.to, r)).join('\n') + (results.length ? '\n' : ''));
  else process.stdout.write(JSON.stringify(results) + '\n');
  return 0;
}

function whatif(v: Record<string, string | boolean | string[] | undefined>): number {
  if (!v.flows || !v.with) return usageFailure('policy whatif', `--flows and --with are required\n${USAGE}`);
  const flows = parseFlows(read(v.flows as string), v.flows as string);
  const objects = (v.objects as string[] | undefined) ?? [];
  const base: Cluster = objects.length > 0 ? toCluster(loadObjects(objects)) : clusterFromFlows(flows);
  const after = applyDraft(base, readObjects(read(v.with as string), v.with as string));
  const changes = whatIf(flows, base, after);
  const lines = changes.map((c) => (v.output === 'text'
    ? `line ${c.flow.line}: ${c.before.allowed ? 'ALLOWED' : 'DENIED'} -> ${verdictText(c.flow.src.pod ? `${c.flow.src.namespace}/${c.flow.src.pod}` : c.flow.src.ip, c.flow.dst.pod ? `${c.flow.dst.namespace}/${c.flow.dst.pod}` : c.flow.dst.ip, c.after)}`
    : JSON.stringify({ ...c.flow.raw, whatif: { line: c.flow.line, before: c.before, after: c.after } })));
  if (lines.length) process.stdout.write(lines.join('\n') + '\n');
  process.stderr.write(`flowlens policy whatif: ${changes.length} of ${flows.length} flows would change\n`);
  return 0;
}

function adviseCmd(v: Record<string, string | boolean | string[] | undefined>): number {
  if (!v.flows) return usageFailure('policy advise', `--flows is required\n${USAGE}`);
  const flows = parseFlows(read(v.flows as string), v.flows as string);
  const list = advise(flows, v.namespace as string | undefined);
  process.stdout.write(adviceYaml(list, flows.length));
  return 0;
}

export async function policyCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const a = parse(rest, {
    objects: { type: 'string', multiple: true }, queries: { type: 'string' }, flows: { type: 'string' }, with: { type: 'string' },
    namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' },
  });
  if (!a.ok) return usageFailure('policy', `${a.error}\n${USAGE}`);
  const v = a.value.values;
  if (v.output !== undefined && v.output !== 'json' && v.output !== 'text') return usageFailure('policy', `-o must be json or text, got "${String(v.output)}"`);
  const run = sub === 'check' ? check : sub === 'whatif' ? whatif : sub === 'advise' ? adviseCmd : undefined;
  if (!run) return usageFailure('policy', sub ? `unknown subcommand "${sub}"\n${USAGE}` : USAGE);
  try {
    return await Promise.resolve(run(v));
  } catch (e) {
    if (e instanceof InputError) return usageFailure(`policy ${sub ?? ''}`, e.message);
    throw e;
  }
}

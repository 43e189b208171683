// Benchmark: policy verdicts at 10,000 NetworkPolicies and 100,000 pods. Indexed engine (cold
// cache and warm, on a flow-like stream with locality and on uniformly random pairs) against the
// straightforward linear evaluator in the same run; memory of the engine.
// Run: npm run bench -- policy   (or npx tsx test/bench/policy.bench.ts [--pods 100000] [--policies 10000])
import { PolicyEngine } from '../../src/policy/engine';
import { LinearEvaluator } from '../../src/policy/linear';
import { parsePolicy } from '../../src/policy/parse';
import type { Cluster, Pod, Policy, Protocol, Query } from '../../src/policy/types';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const PODS = arg('pods', 100_000);
const POLICIES = arg('policies', 10_000);
const NAMESPACES = 100;
const APPS = 50; // workloads per namespace
let seed = 42;
const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };

function buildCluster(): Cluster {
  const namespaces = Array.from({ length: NAMESPACES }, (_, n) => ({ name: `ns-${n}`, labels: { team: `t${n % 10}`, env: n % 2 ? 'prod' : 'dev' } }));
  const pods: Pod[] = [];
  for (let i = 0; i < PODS; i++) {
    const n = i % NAMESPACES;
    const app = Math.floor(i / NAMESPACES) % APPS;
    pods.push({
      namespace: `ns-${n}`, name: `app-${app}-${i}`, labels: { app: `app-${app}`, tier: app % 3 ? 'web' : 'db', 'pod-template-hash': `h${app}` },
      ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`], hostNetwork: false, ports: [{ name: 'http', containerPort: 8080 + (app % 3), protocol: 'TCP' }],
    });
  }
  const policies: Policy[] = [];
  for (let k = 0; k < POLICIES; k++) {
    const n = k % NAMESPACES;
    const i = Math.floor(k / NAMESPACES);
    const peer = i % 3 === 0 ? { namespaceSelector: { matchLabels: { team: `t${i % 10}` } }, podSelector: { matchLabels: { app: `app-${(i * 7) % APPS}` } } }
      : i % 3 === 1 ? { podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] } } : { ipBlock: { cidr: `10.${i % 2}.0.0/16`, except: [`10.${i % 2}.${i % 256}.0/24`] } };
    const ports = i % 4 === 0 ? [{ port: 'http' }] : i % 4 === 1 ? [{ port: 8080, endPort: 8081 }] : [{ port: 8082 }, { port: 53, protocol: 'UDP' }];
    const egress = i % 5 === 0;
    policies.push(parsePolicy({ where: 'bench' }, {
      metadata: { namespace: `ns-${n}`, name: `p-${i}` },
      spec: { podSelector: { matchLabels: { app: `app-${i % APPS}` } }, policyTypes: egress ? ['Ingress', 'Egress'] : ['Ingress'], ingress: [{ from: [peer], ports }], ...(egress ? { egress: [{ to: [peer] }] } : {}) },
    }));
  }
  return { namespaces, pods, policies };
}

const PORTS: [number, Protocol][] = [[8080, 'TCP'], [8081, 'TCP'], [8082, 'TCP'], [53, 'UDP']];

function randomQueries(c: Cluster, n: number): Query[] {
  return Array.from({ length: n }, () => { const [port, protocol] = PORTS[rnd(PORTS.length)] as [number, Protocol]; return { from: { pod: c.pods[rnd(c.pods.length)] as Pod }, to: { pod: c.pods[rnd(c.pods.length)] as Pod }, port, protocol }; });
}

/** Flow-like: 20,000 (client workload, server workload, port) conversations, replicas picked at random. */
function flowQueries(c: Cluster, n: number): Query[] {
  const byWorkload = new Map<string, Pod[]>();
  for (const p of c.pods) { const k = `${p.namespace}/${p.labels.app}`; const l = byWorkload.get(k); if (l) l.push(p); else byWorkload.set(k, [p]); }
  const wl = [...byWorkload.values()];
  const convs = Array.from({ length: 20_000 }, () => ({ a: wl[rnd(wl.length)] as Pod[], b: wl[rnd(wl.length)] as Pod[], pp: PORTS[rnd(PORTS.length)] as [number, Protocol] }));
  return Array.from({ length: n }, () => { const cv = convs[rnd(convs.length)] as (typeof convs)[number]; return { from: { pod: cv.a[rnd(cv.a.length)] as Pod }, to: { pod: cv.b[rnd(cv.b.length)] as Pod }, port: cv.pp[0], protocol: cv.pp[1] }; });
}

function rate(f: (q: Query) => unknown, qs: Query[]): { perSec: number; ms: number; allowed: number } {
  let allowed = 0;
  const t0 = process.hrtime.bigint();
  for (const q of qs) if ((f(q) as { allowed: boolean }).allowed) allowed++;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { perSec: Math.round(qs.length / (ms / 1000)), ms: Math.round(ms), allowed };
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(0)} MB`;
}

function main(): void {
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = Date.now();
  const cluster = buildCluster();
  const heapCluster = process.memoryUsage().heapUsed;
  const engine = new PolicyEngine(cluster);
  const buildMs = Date.now() - t0;
  const linearSample = flowQueries(cluster, 2_000);
  const linear = new LinearEvaluator(cluster);
  const lin = rate((q) => linear.verdict(q), linearSample); // first, on a quiet heap
  global.gc?.();
  const heapEngine = process.memoryUsage().heapUsed;
  let flows = flowQueries(cluster, 2_000_000);
  let randoms = randomQueries(cluster, 200_000);
  const cold = rate((q) => engine.verdict(q), flows.slice(0, 200_000));
  const warm = rate((q) => engine.verdict(q), flows);
  const rand = rate((q) => engine.verdict(q), randoms);
  for (const q of linearSample) if (engine.verdict(q).allowed !== linear.verdict(q).allowed) throw new Error('engine and linear disagree');
  const counts = { flows: flows.length, randoms: randoms.length };
  flows = [];
  randoms = [];
  global.gc?.();
  const heap1 = process.memoryUsage().heapUsed;
  const s = engine.stats();
  const rows: [string, string][] = [
    ['cluster', `${NAMESPACES} namespaces, ${cluster.pods.length} pods, ${cluster.policies.length} policies (model ${mb(heapCluster - heap0)} heap, built in ${buildMs} ms)`],
    ['linear evaluator', `${lin.perSec.toLocaleString('en-US')} verdicts/s (${linearSample.length} flow-like queries in ${lin.ms} ms)`],
    ['engine, cold cache', `${cold.perSec.toLocaleString('en-US')} verdicts/s (first 200,000 flow-like queries) = ${Math.round(cold.perSec / lin.perSec)}x linear`],
    ['engine, warm (flow-like)', `${warm.perSec.toLocaleString('en-US')} verdicts/s (${counts.flows.toLocaleString('en-US')} queries, 20,000 conversations) = ${Math.round(warm.perSec / lin.perSec)}x linear`],
    ['engine, uniform random pairs', `${rand.perSec.toLocaleString('en-US')} verdicts/s (${counts.randoms.toLocaleString('en-US')} queries, mostly cache misses) = ${Math.round(rand.perSec / lin.perSec)}x linear`],
    ['engine memory', `${mb(heap1 - heapEngine)} heap for indexes, identities and caches after the runs (model + empty engine ${mb(heapEngine - heap0)}) (${s.identities} identities, ${s.cached.toLocaleString('en-US')} cached direction verdicts); RSS ${mb(process.memoryUsage().rss)}`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`policy engine benchmark (node ${process.version})\n` + rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n') + '\n');
}

main();

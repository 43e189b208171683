// The upstream e2e netpol model for real: namespaces x, y, z (label ns=<name>), pods a, b, c
// (label pod=<name>) each serving TCP and UDP on 80 and 81, in the sandbox. Policies are applied
// one after another with the real kubectl; after each change every pair is probed for real on
// every port/protocol and the observed reachability must equal the engine's verdicts (computed
// from the objects the API server returns). With the agent on, every denied TCP probe must show
// up as a DROPPED flow naming the isolating policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentHub } from '../../src/agents/hub';
import { loadClusterAccess } from '../../src/cluster/kubeconfig';
import { ClusterModel } from '../../src/cluster/model';
import type { Flow } from '../../src/flows/flow';
import { PolicyEngine } from '../../src/policy/engine';
import { readObjects, toCluster } from '../../src/policy/source';
import type { Pod, Protocol, Verdict } from '../../src/policy/types';
import { runningDaemons } from '../../src/sandbox/cleanup';
import { run } from '../../src/sandbox/net/exec';
import { probe, sandboxDown, sandboxUp } from '../../src/sandbox/ops';
import { repoRoot } from '../../src/sandbox/paths';
import type { SandboxState } from '../../src/sandbox/state';

const STATE_DIR = '/run/flowlens/sandbox-policy-test';
const root = repoRoot();
const agents = process.env.FLOWLENS_TEST_NO_AGENT !== '1' && existsSync(join(root, 'dist/cli.js')) && existsSync(join(root, 'bpf/.output/flowlens-loader'));
const skip = process.getuid?.() !== 0 ? 'needs root: network namespaces, veths, iptables'
  : runningDaemons().length > 0 ? `a sandbox is running on this host (${JSON.stringify(runningDaemons())}); flowlens sandbox down first` : false;
const NS = ['x', 'y', 'z'];
const PODS = ['a', 'b', 'c'];
const COMBOS: [number, Protocol][] = [[80, 'TCP'], [81, 'TCP'], [80, 'UDP'], [81, 'UDP']];

function model(): string {
  const ports = COMBOS.map(([p, proto]) => `{ name: serve-${p}-${proto.toLowerCase()}, containerPort: ${p}, protocol: ${proto} }`).join(', ');
  return NS.flatMap((n) => [
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${n}, labels: { ns: ${n} } }\n`,
    ...PODS.map((p) => `apiVersion: v1\nkind: Pod\nmetadata: { name: ${p}, namespace: ${n}, labels: { pod: ${p} } }\nspec:\n  containers:\n    - name: cont-${p}\n      image: agnhost\n      ports: [${ports}]\n`),
  ]).join('---\n');
}

function netpol(ns: string, name: string, spec: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: "${ns}" }\nspec:\n${spec}`;
}

/** The steps: each is the complete set of policies (applied with kubectl; the previous ones deleted). */
function steps(ip: (pod: string) => string): { name: string; policies: string[] }[] {
  return [
    { name: 'deny all ingress in x', policies: [netpol('x', 'deny-all', '  podSelector: {}\n  policyTypes: [Ingress]\n')] },
    { name: 'allow x/a from namespace y', policies: [netpol('x', 'allow-from-y', '  podSelector: { matchLabels: { pod: "a" } }\n  ingress:\n    - from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }]\n')] },
    { name: 'allow x/a from y/b only (namespace AND pod), replacing the previous policy', policies: [netpol('x', 'allow-from-y', '  podSelector: { matchLabels: { pod: "a" } }\n  ingress:\n    - from: [{ namespaceSelector: { matchLabels: { ns: "y" } }, podSelector: { matchLabels: { pod: "b" } } }]\n')] },
    { name: 'deny egress from y except DNS', policies: [netpol('y', 'egress-dns-only', '  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n    - ports: [{ port: 53, protocol: UDP }, { port: 53, protocol: TCP }]\n')] },
    { name: 'x/a ingress on TCP 80 only, plus deny in z', policies: [
      netpol('x', 'port-80', '  podSelector: { matchLabels: { pod: "a" } }\n  ingress:\n    - from: [{ namespaceSelector: {} }]\n      ports: [{ port: 80 }]\n'),
      netpol('z', 'deny-all', '  podSelector: {}\n  ingress: []\n')] },
    { name: 'named port serve-81-udp to x/a and egress from z to named serve-80-tcp', policies: [
      netpol('x', 'named-81-udp', '  podSelector: { matchLabels: { pod: "a" } }\n  ingress:\n    - ports: [{ port: serve-81-udp, protocol: UDP }]\n'),
      netpol('z', 'egress-named', '  podSelector: { matchLabels: { pod: "c" } }\n  policyTypes: [Egress]\n  egress:\n    - to: [{ namespaceSelector: {} }]\n      ports: [{ port: serve-80-tcp }]\n')] },
    { name: 'endPort 80-81 TCP into z from x', policies: [netpol('z', 'range', '  podSelector: {}\n  ingress:\n    - from: [{ namespaceSelector: { matchLabels: { ns: "x" } } }]\n      ports: [{ port: 80, endPort: 81, protocol: TCP }]\n')] },
    { name: 'ipBlock with except (pod addresses)', policies: [
      netpol('x', 'ipblock', `  podSelector: { matchLabels: { pod: "a" } }\n  ingress:\n    - from: [{ ipBlock: { cidr: 10.244.0.0/16, except: [${ip('y/b')}/32, ${ip('z/c')}/32] } }]\n`),
      netpol('y', 'egress-ipblock', `  podSelector: { matchLabels: { pod: "c" } }\n  policyTypes: [Egress]\n  egress:\n    - to: [{ ipBlock: { cidr: 10.244.0.0/24, except: [${ip('x/b')}/32] } }]\n      ports: [{ port: 81 }, { port: 80, protocol: UDP }]\n`)] },
    { name: 'everything deleted', policies: [] },
  ];
}

function kubectl(kc: string, args: string[], input?: string): string {
  const r = spawnSync('kubectl', ['--kubeconfig', kc, ...args], { encoding: 'utf8', input, timeout: 30_000 });
  assert.equal(r.status, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The engine over what the API server holds now (Namespaces, Pods, NetworkPolicies). */
function engineFromApi(kc: string): { engine: PolicyEngine; pods: Map<string, Pod> } {
  const set = { namespaces: [], pods: [], policies: [] };
  for (const kind of ['namespaces', 'pods', 'networkpolicies']) readObjects(kubectl(kc, ['get', kind, '-A', '-o', 'json']), `kubectl get ${kind}`, set);
  const cluster = toCluster(set);
  return { engine: new PolicyEngine(cluster), pods: new Map(cluster.pods.map((p) => [`${p.namespace}/${p.name}`, p])) };
}

async function pool<T, R>(items: T[], width: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) { const i = next++; out[i] = await f(items[i] as T); }
  }));
  return out;
}

interface Case { from: string; to: string; port: number; protocol: Protocol; expected: Verdict }

async function probeAll(state: SandboxState, cases: Case[]): Promise<string[]> {
  const ipOf = (ref: string) => state.pods.find((p) => `${p.namespace}/${p.name}` === ref)?.ip ?? '';
  const results = await pool(cases, 64, async (c) => {
    const r = await probe(state, { from: c.from, to: ipOf(c.to), port: c.port, protocol: c.protocol as 'TCP' | 'UDP', timeoutMs: 1500 });
    return r.connected && Number(r.reply_bytes) > 0;
  });
  return cases.flatMap((c, i) => (results[i] === c.expected.allowed ? [] : [`${c.from} -> ${c.to} ${c.port}/${c.protocol}: real ${results[i] ? 'connected' : 'blocked'}, engine ${c.expected.allowed ? 'allowed' : 'denied'}`]));
}

async function recentFlows(kc: string, since: string): Promise<Flow[]> {
  const acc = loadClusterAccess({ kubeconfig: kc });
  assert.ok(acc.ok, acc.ok ? '' : acc.error);
  const m = new ClusterModel(acc.value);
  await m.start();
  const flows: Flow[] = [];
  const sub = new AgentHub(acc.value, m).subscribe({ last: 20_000, follow: false }, (batch) => flows.push(...batch.map((r) => r.flow)));
  await sub.done;
  m.stop();
  return flows.filter((f) => f.time >= since);
}

function deniedTcpFlowMissing(flows: Flow[], cases: Case[], state: SandboxState): string[] {
  const ipOf = (ref: string) => state.pods.find((p) => `${p.namespace}/${p.name}` === ref)?.ip ?? '';
  const missing: string[] = [];
  for (const c of cases.filter((x) => !x.expected.allowed && x.protocol === 'TCP')) {
    const [sns, spod] = c.from.split('/');
    const f = flows.find((x) => x.source.namespace === sns && x.source.pod_name === spod && x.IP.destination === ipOf(c.to) && x.l4.TCP?.destination_port === c.port && x.extensions?.tcp_event === 'connect_failed');
    const want = !c.expected.egress.allowed ? { field: 'egress_denied_by' as const, names: c.expected.egress.deniedBy.map((p) => p.name) } : { field: 'ingress_denied_by' as const, names: c.expected.ingress.deniedBy.map((p) => p.name) };
    const ok = f && f.verdict === 'DROPPED' && want.names.every((n) => (f[want.field] ?? []).some((r) => r.name === n && r.kind === 'NetworkPolicy'));
    if (!ok) missing.push(`${c.from} -> ${c.to}:${c.port}: ${f ? `verdict ${f.verdict}, ${want.field} ${JSON.stringify(f[want.field])}` : 'no connect_failed flow'} (want ${want.names.join(',')})`);
  }
  return missing;
}

test('netpol model x/y/z a/b/c: real reachability equals the engine, policy after policy', { skip, timeout: 420_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flowlens-netpol-'));
  t.after(async () => { await sandboxDown(STATE_DIR); rmSync(dir, { recursive: true, force: true }); });
  writeFileSync(join(dir, 'model.yaml'), model());
  const up = await sandboxUp({ stateDir: STATE_DIR, apiPort: 6557, files: [join(dir, 'model.yaml')], agents, timeoutMs: 90_000, progress: () => undefined });
  assert.ok(up.ok, up.message);
  const state = up.state as SandboxState;
  const kc = state.kubeconfig;
  t.diagnostic(`agents ${agents ? 'on' : 'off (dist/cli.js or the loader is not built)'}`);
  const ipOf = (ref: string) => state.pods.find((p) => `${p.namespace}/${p.name}` === ref)?.ip ?? '';
  const refs = NS.flatMap((n) => PODS.map((p) => `${n}/${p}`));
  let previous: string[] = [];
  for (const step of steps(ipOf)) {
    const started = new Date().toISOString();
    const names = step.policies.map((p) => `${/namespace: "(\w+)" }/.exec(p)?.[1]}/${/name: (\S+),/.exec(p)?.[1]}`);
    for (const name of previous.filter((n) => !names.includes(n))) { const [ns, n] = name.split('/'); kubectl(kc, ['delete', 'networkpolicy', '-n', ns ?? '', n ?? '']); }
    if (step.policies.length) kubectl(kc, ['apply', '-f', '-'], step.policies.join('---\n')); // same name: replaced
    previous = names;
    await new Promise((r) => setTimeout(r, 1000)); // enforcement must follow within one second
    const { engine, pods } = engineFromApi(kc);
    const cases: Case[] = refs.flatMap((from) => refs.flatMap((to) => COMBOS.map(([port, protocol]) => ({
      from, to, port, protocol, expected: engine.verdict({ from: { pod: pods.get(from) as Pod }, to: { pod: pods.get(to) as Pod }, port, protocol }),
    }))));
    const t0 = Date.now();
    const wrong = await probeAll(state, cases);
    const denied = cases.filter((c) => !c.expected.allowed).length;
    t.diagnostic(`${step.name}: ${cases.length} probes in ${Date.now() - t0} ms, ${denied} denied by the engine, ${wrong.length} mismatches`);
    assert.deepEqual(wrong, [], `step "${step.name}": real reachability differs from the engine`);
    if (agents && denied > 0) {
      // the last probes closed just now: their records reach the agent within the loader's wake (<= 100 ms)
      let missing: string[] = [];
      for (const end = Date.now() + 5000; ; await new Promise((r) => setTimeout(r, 250))) {
        missing = deniedTcpFlowMissing(await recentFlows(kc, started), cases, state);
        if (!missing.length || Date.now() > end) break;
      }
      assert.deepEqual(missing, [], `step "${step.name}": denied TCP probes as DROPPED flows naming the policy`);
    }
  }
  const save = (await run('iptables-save', ['-t', 'filter'])).stdout;
  assert.match(save, /FLOWLENS-NP-FWD/, 'the enforcement chains exist while the sandbox runs');
  await sandboxDown(STATE_DIR);
  assert.doesNotMatch((await run('iptables-save', ['-t', 'filter'])).stdout, /FLOWLENS-NP/, 'sandbox down removes the enforcement chains');
});

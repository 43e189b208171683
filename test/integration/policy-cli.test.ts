// `flowlens policy check|whatif|advise` as a process: 10,000 queries against 1,000 policies
// (checked against the linear evaluator, wall time reported), field-level errors with exit 2,
// and advise -> whatif: the advice denies none of the observed flows but denies unseen traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinearEvaluator } from '../../src/policy/linear';
import { readObjects, toCluster } from '../../src/policy/source';

const ROOT = join(__dirname, '..', '..');

function cli(args: string[]): { status: number; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 30 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

const dir = mkdtempSync(join(tmpdir(), 'flowlens-policy-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function objectsYaml(namespaces: number, podsPerNs: number, policiesPerNs: number): string {
  const docs: string[] = [];
  for (let n = 0; n < namespaces; n++) {
    docs.push(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}`, labels: { team: `t${n % 5}` } } }));
    for (let p = 0; p < podsPerNs; p++) {
      docs.push(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod${p}`, namespace: `ns${n}`, labels: { app: `app${p % 10}`, tier: p % 2 ? 'web' : 'db' } },
        spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8000 + (p % 3) }] }] }, status: { podIP: `10.${n}.${p >> 8}.${p & 255}` } }));
    }
    for (let i = 0; i < policiesPerNs; i++) {
      const peer = i % 3 === 0 ? { namespaceSelector: { matchLabels: { team: `t${i % 5}` } }, podSelector: { matchLabels: { app: `app${i % 7}` } } }
        : i % 3 === 1 ? { podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] } } : { ipBlock: { cidr: `10.${i % 20}.0.0/16`, except: [`10.${i % 20}.0.0/24`] } };
      const ports = i % 4 === 0 ? [{ port: 'http' }] : i % 4 === 1 ? [{ port: 80, endPort: 8001 }] : [{ port: 8002, protocol: 'TCP' }];
      docs.push(JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `p${i}`, namespace: `ns${n}` },
        spec: { podSelector: { matchLabels: { app: `app${i % 5}` } }, policyTypes: i % 5 === 0 ? ['Ingress', 'Egress'] : ['Ingress'], ingress: [{ from: [peer], ports }], ...(i % 5 === 0 ? { egress: [{ to: [peer] }] } : {}) } }));
    }
  }
  return docs.join('\n---\n');
}

test('policy check: 10,000 queries against 1,000 policies, same answers as the linear evaluator', (t) => {
  const objects = file('objects.yaml', objectsYaml(20, 50, 50));
  let seed = 1;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const queries = Array.from({ length: 10_000 }, () => ({ from: `ns${rnd(20)}/pod${rnd(50)}`, to: `ns${rnd(20)}/pod${rnd(50)}`, port: [8000, 8001, 8002, 80][rnd(4)], protocol: rnd(10) ? 'TCP' : 'UDP' }));
  const qfile = file('queries.json', JSON.stringify(queries));
  const r = cli(['policy', 'check', '--objects', objects, '--queries', qfile, '-o', 'json']);
  assert.equal(r.status, 0, r.stderr);
  t.diagnostic(`policy check: 10,000 queries x 1,000 policies (1,000 pods): ${r.ms} ms wall time (including tsx startup)`);
  const out = JSON.parse(r.stdout) as { allowed: boolean; from: string; to: string }[];
  assert.equal(out.length, 10_000);
  const cluster = toCluster(readObjects(readFileSync(objects, 'utf8'), objects));
  const pods = new Map(cluster.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const linear = new LinearEvaluator(cluster);
  let allowed = 0;
  queries.forEach((q, i) => {
    const v = linear.verdict({ from: { pod: pods.get(q.from)! }, to: { pod: pods.get(q.to)! }, port: q.port as number, protocol: q.protocol as 'TCP' });
    assert.equal(out[i]?.allowed, v.allowed, `query ${i}`);
    assert.equal(out[i]?.from, q.from);
    if (v.allowed) allowed++;
  });
  assert.ok(allowed > 500 && allowed < 9500, `a mix of verdicts (${allowed} allowed)`);
});

test('policy check: malformed objects and queries exit 2 naming the document and field', () => {
  const good = file('good.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nstatus: {podIP: 10.0.0.1}\n');
  const q = file('q.json', '[{"from": "x/a", "to": {"ip": "1.2.3.4"}, "port": 80}]');
  const bad = file('bad.yaml', `apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/33}\n`);
  let r = cli(['policy', 'check', '--objects', bad, '--queries', q]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.yaml: document 2 \(NetworkPolicy x\/p\): spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr: invalid CIDR "10\.0\.0\.0\/33"/);
  const cases: [string, RegExp][] = [
    ['spec:\n  podSelector: {}\n  ingress: [{ports: [{port: named, endPort: 90}]}]', /document 1 .*spec\.ingress\[0\]\.ports\[0\]\.endPort: may not be specified/],
    ['spec:\n  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]', /spec\.egress\[0\]\.to\[0\]\.ipBlock\.except\[0\]: must be a strict subset/],
    ['spec:\n  podSelector: {matchExpressions: [{key: a, operator: In}]}', /spec\.podSelector\.matchExpressions\[0\]\.values: must be non-empty/],
    ['spec:\n  podSelector: {}\n  policyTypes: [Both]', /spec\.policyTypes\[0\]: unsupported value "Both"/],
    ['spec:\n  podSelector: {}\n  ingress: [{from: [{}]}]', /spec\.ingress\[0\]\.from\[0\]: must specify a peer/],
    ['spec:\n  podSelector: {}\n  ingress: [{ports: [{port: 80, protocol: ICMP}]}]', /spec\.ingress\[0\]\.ports\[0\]\.protocol: unsupported value "ICMP"/],
    ['spec:\n  ingress: []', /spec\.podSelector: required/],
  ];
  for (const [spec, re] of cases) {
    const f = file('case.yaml', `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n${spec}\n`);
    r = cli(['policy', 'check', '--objects', f, '--queries', q]);
    assert.equal(r.status, 2, spec);
    assert.match(r.stderr, re);
  }
  const queryCases: [string, RegExp][] = [
    ['[{"from": "x/a", "to": "x/nope", "port": 80}]', /q2\.json: query 0: to: pod x\/nope is not among the objects/],
    ['[{"from": "x/a", "to": {"ip": "1.2.3.4"}, "port": 80}, {"from": "x/a", "to": "x/a", "port": 80, "protocol": "ICMP"}]', /query 1: protocol: unsupported value "ICMP"/],
    ['[{"from": "x/a", "to": {"ip": "1.2.3.4"}, "port": "http"}]', /query 0: port: named port "http" needs a destination pod/],
    ['[{"from": "x/a", "to": "x/a", "port": 70000}]', /query 0: port: must be between 1 and 65535/],
    ['{"from": "x/a"}', /q2\.json: must be a JSON array/],
  ];
  for (const [text, re] of queryCases) {
    r = cli(['policy', 'check', '--objects', good, '--queries', file('q2.json', text)]);
    assert.equal(r.status, 2, text);
    assert.match(r.stderr, re);
  }
});

function flowLine(src: [string, string, string, Record<string, string>] | string, dst: [string, string, string, Record<string, string>] | string, port: number): string {
  const ep = (e: typeof src) => (typeof e === 'string' ? {} : { namespace: e[0], pod_name: e[1], labels: Object.entries(e[3]).map(([k, v]) => `k8s:${k}=${v}`).concat(`k8s:io.kubernetes.pod.namespace=${e[0]}`) });
  const ip = (e: typeof src) => (typeof e === 'string' ? e : e[2]);
  return JSON.stringify({ flow: { time: '2025-01-01T00:00:00Z', verdict: 'FORWARDED', IP: { source: ip(src), destination: ip(dst), ipVersion: 'IPv4' }, l4: { TCP: { source_port: 40000, destination_port: port } }, source: ep(src), destination: ep(dst), Type: 'SOCK', node_name: 'n', traffic_direction: 'EGRESS' }, node_name: 'n', time: '2025-01-01T00:00:00Z' });
}

test('policy advise -> whatif: the advice denies no observed flow and denies traffic never observed', () => {
  const web: [string, string, string, Record<string, string>] = ['shop', 'web-1', '10.1.0.1', { app: 'web', 'pod-template-hash': 'abc' }];
  const web2: [string, string, string, Record<string, string>] = ['shop', 'web-2', '10.1.0.2', { app: 'web', 'pod-template-hash': 'abc' }];
  const api: [string, string, string, Record<string, string>] = ['shop', 'api-1', '10.1.0.3', { app: 'api' }];
  const db: [string, string, string, Record<string, string>] = ['data', 'db-1', '10.2.0.1', { app: 'db' }];
  const observed = [flowLine(web, api, 8080), flowLine(web2, api, 8080), flowLine(api, db, 5432), flowLine('192.0.2.10', web, 80), flowLine(api, '203.0.113.5', 443)];
  const flows = file('flows.jsonl', observed.join('\n') + '\n');
  const advice = cli(['policy', 'advise', '--flows', flows]);
  assert.equal(advice.status, 0, advice.stderr);
  assert.equal((advice.stdout.match(/kind: NetworkPolicy/g) ?? []).length, 3, advice.stdout);
  const draft = file('advice.yaml', advice.stdout);
  const same = cli(['policy', 'whatif', '--flows', flows, '--with', draft, '-o', 'json']);
  assert.equal(same.status, 0, same.stderr);
  assert.equal(same.stdout, '', 'no observed flow changes verdict');
  assert.match(same.stderr, /0 of 5 flows would change/);
  const unseen = [flowLine(web, db, 5432), flowLine(api, web, 80), flowLine(api, db, 22), flowLine('192.0.2.10', api, 8080), flowLine(db, '203.0.113.5', 443)];
  const other = file('unseen.jsonl', [...observed, ...unseen].join('\n') + '\n');
  const changed = cli(['policy', 'whatif', '--flows', other, '--with', draft, '-o', 'json']);
  assert.equal(changed.status, 0, changed.stderr);
  const lines = changed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { whatif: { line: number; before: { allowed: boolean }; after: { allowed: boolean } } });
  assert.deepEqual(lines.map((l) => l.whatif.line), [6, 7, 8, 9, 10], 'every unseen flow, and only those, would be denied');
  assert.ok(lines.every((l) => l.whatif.before.allowed && !l.whatif.after.allowed));
  const ns = cli(['policy', 'advise', '--flows', flows, '-n', 'data']);
  assert.equal((ns.stdout.match(/kind: NetworkPolicy/g) ?? []).length, 1);
  const badFlows = cli(['policy', 'advise', '--flows', file('bad.jsonl', `${observed[0]}\n{"flow": {"IP": {"source": "x", "destination": "10.0.0.1"}, "l4": {"TCP": {"destination_port": 80}}}}\n`)]);
  assert.equal(badFlows.status, 2);
  assert.match(badFlows.stderr, /bad\.jsonl: line 2: flow\.IP\.source: invalid IP address "x"/);
});

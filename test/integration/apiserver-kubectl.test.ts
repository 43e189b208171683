// Fidelity test: the real kubectl (v1.32) against the emulator, in-process on an ephemeral port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { MemoryStore } from '../../src/sandbox/apiserver/store';
import { startApiServer } from '../../src/sandbox/apiserver/server';
import type { ApiServer } from '../../src/sandbox/apiserver/server';
import { writeKubeconfig } from '../../src/sandbox/apiserver/kubeconfig';
import { generateSelfSignedCert } from '../../src/sandbox/apiserver/tls';

const HAVE_KUBECTL = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const skip = HAVE_KUBECTL ? false : 'kubectl is not installed: the fidelity test needs the real kubectl v1.32';

let dir: string;
let store: MemoryStore;
let server: ApiServer;
let echo: net.Server;
const children: ChildProcess[] = [];

function env(): NodeJS.ProcessEnv {
  return { ...process.env, KUBECONFIG: join(dir, 'kubeconfig'), KUBECACHEDIR: join(dir, 'cache'), HOME: dir };
}

function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('kubectl', args, { env: env(), timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
  assert.equal(r.stderr, '', `kubectl ${args.join(' ')} wrote to stderr: ${r.stderr}`);
  return r.stdout;
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const MANIFEST = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: shop
  labels: {app: api}
spec:
  nodeName: n1
  containers:
  - name: api
    image: nginx
    ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: shop
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: api-x1
  namespace: shop
  labels: {kubernetes.io/service-name: api}
addressType: IPv4
ports: [{name: "", port: 80, protocol: TCP}]
endpoints:
- addresses: ["10.244.1.7"]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
`;

before(async () => {
  if (!HAVE_KUBECTL) return;
  dir = mkdtempSync(join(tmpdir(), 'flowlens-kubectl-'));
  store = new MemoryStore();
  echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
  await new Promise((r) => echo.once('listening', r));
  const echoPort = (echo.address() as net.AddressInfo).port;
  server = await startApiServer({
    // No token: client-go does not send bearer tokens over plain HTTP (see the README).
    store,
    dialPod: async (_pod, port) => {
      const s = net.connect(port === 80 ? echoPort : 1, '127.0.0.1');
      await new Promise((res, rej) => { s.once('connect', res); s.once('error', rej); });
      return s;
    },
  });
  writeKubeconfig(join(dir, 'kubeconfig'), server.url);
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await server?.close();
  echo?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('get ns; discovery is clean at -v=8', { skip }, async () => {
  const out = await ok('get', 'ns');
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.match(out, new RegExp(`^${ns}\\s+Active`, 'm'));
  const verbose = await kubectl('get', 'pods', '-A', '-v=8');
  assert.equal(verbose.code, 0);
  const bad = verbose.stderr.split('\n').filter((l) => /^[EW]\d{4}/.test(l) || /warning|error/i.test(l) && !/round_trippers|request.go|Response Body/.test(l));
  assert.deepEqual(bad, []);
});

test('create -f, apply -f, get with columns, selectors', { skip }, async () => {
  const manifest = file('shop.yaml', MANIFEST);
  const created = await ok('create', '-f', manifest);
  assert.match(created, /namespace\/shop created/);
  assert.match(created, /networkpolicy.networking.k8s.io\/deny-all created/);
  const pod = store.get('pods', 'shop', 'api')!;
  store.update('pods', { ...pod, status: { phase: 'Running', podIP: '10.244.1.7' } });
  const wide = await ok('get', 'pods', '-A', '-o', 'wide');
  assert.match(wide, /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES/);
  assert.match(wide, /^shop\s+api\s+0\/1\s+Running\s+0\s+\S+\s+10\.244\.1\.7\s+n1\s+<none>\s+<none>/m);
  const svc = await ok('get', 'svc,endpointslices', '-A');
  assert.match(svc, /shop\s+service\/api\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+80\/TCP/);
  assert.match(svc, /shop\s+endpointslice.discovery.k8s.io\/api-x1\s+IPv4\s+80\s+10\.244\.1\.7/);
  assert.match(await ok('get', 'netpol', '-n', 'shop'), /deny-all\s+<none>/);
  assert.match(await ok('get', 'deploy', '-n', 'shop'), /web\s+0\/2/);
  assert.match(await ok('get', 'pods', '-n', 'shop', '-l', 'app=api', '-o', 'name'), /^pod\/api$/m);
  assert.equal(await ok('get', 'pods', '-n', 'shop', '-l', 'app=nope', '-o', 'name'), '');
  assert.match(await ok('get', 'pods', '-A', '--field-selector', 'spec.nodeName=n1', '-o', 'name'), /pod\/api/);
  assert.equal(await ok('get', 'pods', '-A', '--field-selector', 'spec.nodeName=n2', '-o', 'name'), '');
  const fresh = file('apply.yaml', MANIFEST.replaceAll('shop', 'shop2'));
  assert.match(await ok('apply', '-f', fresh), /deployment.apps\/web created/);
  assert.match(await ok('apply', '-f', fresh), /deployment.apps\/web unchanged/);
  file('apply.yaml', MANIFEST.replaceAll('shop', 'shop2').replace('replicas: 2', 'replicas: 3'));
  assert.match(await ok('apply', '-f', fresh), /deployment.apps\/web configured/);
  assert.equal(store.get('deployments', 'shop2', 'web')?.spec.replicas, 3);
  assert.equal(store.get('deployments', 'shop2', 'web')?.metadata.generation, 2);
  assert.match(await ok('apply', '--server-side', '-f', fresh), /serverside-applied/);
});

test('-o json and -o yaml round-trip through replace', { skip }, async () => {
  const json = JSON.parse(await ok('get', 'pod', 'api', '-n', 'shop', '-o', 'json'));
  assert.deepEqual([json.kind, json.metadata.name, json.status.podIP], ['Pod', 'api', '10.244.1.7']);
  json.metadata.labels.extra = 'yes';
  assert.match(await ok('replace', '-f', file('pod.json', JSON.stringify(json))), /pod\/api replaced/);
  const yaml = await ok('get', 'pod', 'api', '-n', 'shop', '-o', 'yaml');
  assert.match(yaml, /extra: "yes"/);
  const stale = await kubectl('replace', '-f', join(dir, 'pod.json'));
  assert.notEqual(stale.code, 0);
  assert.match(stale.stderr, /Conflict|the object has been modified/);
  const err = await kubectl('get', 'pod', 'missing', '-n', 'shop');
  assert.match(err.stderr, /Error from server \(NotFound\): pods "missing" not found/);
});

function watchKubectl(args: string[]): { out: () => string; proc: ChildProcess } {
  let out = '';
  const proc = spawn('kubectl', args, { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { out += `STDERR: ${d.toString()}`; });
  return { out: () => out, proc };
}

async function until(cond: () => boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('get pods -w sees pods created through the store and through kubectl, and deletes', { skip }, async () => {
  const w = watchKubectl(['get', 'pods', '-n', 'shop', '-w']);
  await until(() => /api\s+0\/1\s+Running/.test(w.out()), 'initial list');
  store.create('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'from-store', namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'i' }] } });
  await until(() => /from-store\s+0\/1\s+Pending/.test(w.out()), 'store-created pod');
  await ok('run', 'from-kubectl', '--image=busybox', '-n', 'shop');
  await until(() => /from-kubectl\s+0\/1\s+Pending/.test(w.out()), 'kubectl-created pod');
  assert.match(await ok('delete', 'pod', 'from-kubectl', '-n', 'shop'), /pod "from-kubectl" deleted/);
  await until(() => (w.out().match(/from-kubectl/g) ?? []).length >= 2, 'deletion event');
  assert.doesNotMatch(w.out(), /STDERR/);
  w.proc.kill();
});

function roundTrip(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error(`timeout, got ${JSON.stringify(got)}`)); }, 5000);
    s.on('data', (d) => { got += d.toString(); if (got.length >= payload.length) s.end(); });
    s.on('close', () => { clearTimeout(t); resolve(got); });
    s.on('error', reject);
    s.write(payload);
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('port-forward: sequential and concurrent connections through real kubectl', { skip }, async () => {
  const local = await freePort();
  const pf = watchKubectl(['port-forward', '-n', 'shop', 'pod/api', `${local}:80`]);
  await until(() => pf.out().includes(`Forwarding from 127.0.0.1:${local} -> 80`), 'port-forward ready');
  for (let i = 0; i < 3; i++) assert.equal(await roundTrip(local, `hello ${i}\n`), `hello ${i}\n`);
  const big = 'x'.repeat(200_000);
  const results = await Promise.all([roundTrip(local, 'a\n'), roundTrip(local, 'b\n'), roundTrip(local, big)]);
  assert.deepEqual(results.map((r) => r.length), [2, 2, big.length]);
  assert.doesNotMatch(pf.out(), /STDERR/);
  pf.proc.kill();
  const missing = await kubectl('port-forward', '-n', 'shop', 'pod/nope', `${local}:80`);
  assert.match(missing.stderr, /pods "nope" not found/);
});

test('delete -f removes everything', { skip }, async () => {
  const out = await kubectl('delete', '-f', join(dir, 'apply.yaml'));
  assert.match(out.stdout, /namespace "shop2" deleted/);
  assert.equal(store.list('deployments', 'shop2').length, 0);
  assert.equal(store.get('namespaces', undefined, 'shop2'), undefined);
});

test('HTTPS with a bearer token: kubectl authenticates; a wrong token is refused', { skip }, async () => {
  const tls = generateSelfSignedCert();
  const secure = await startApiServer({ store, token: 'right', tls, dialPod: () => Promise.reject(new Error('unused')) });
  try {
    assert.match(secure.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    writeKubeconfig(join(dir, 'kubeconfig'), secure.url, { token: 'right', caCert: tls.cert });
    assert.match(await ok('get', 'ns'), /^default\s+Active/m);
    writeKubeconfig(join(dir, 'kubeconfig'), secure.url, { token: 'wrong', caCert: tls.cert });
    const refused = await kubectl('get', 'ns');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /must be logged in|Unauthorized|provide credentials/);
  } finally {
    writeKubeconfig(join(dir, 'kubeconfig'), server.url);
    await secure.close();
  }
});

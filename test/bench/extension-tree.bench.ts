// Benchmark: the Services tree's first render and the extension host's memory with 10,000
// services and 100,000 pods. The API-server emulator runs in a child process (seeded in its
// MemoryStore, no network namespaces); this process plays the extension host: the real
// ClusterModel (informers over HTTP, paged lists), the tree's index, and every node a user sees
// after expanding every namespace (presentation included: description, badges, warnings).
// `npm run bench -- extension-tree [-- --services N --pods-per-service M]`
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SERVICES = arg('services', 10_000);
const PER_SERVICE = arg('pods-per-service', 10);
const NAMESPACES = 100;

async function serve(kubeconfig: string): Promise<void> {
  const { MemoryStore } = await import('../../src/sandbox/apiserver/store');
  const { startApiServer } = await import('../../src/sandbox/apiserver/server');
  const { writeKubeconfig } = await import('../../src/sandbox/apiserver/kubeconfig');
  // The emulator pages from a sorted key index and clones only each page's objects.
  const store = new MemoryStore({ historySize: 1000 });
  for (let n = 0; n < NAMESPACES; n++) store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}` } });
  let ip = 0;
  for (let s = 0; s < SERVICES; s++) {
    const ns = `ns-${s % NAMESPACES}`;
    const app = `app-${s}`;
    const clusterIP = `10.96.${(s >> 8) & 255}.${s & 255}`;
    store.create('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: app, namespace: ns }, spec: { clusterIP, clusterIPs: [clusterIP], selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] } });
    const endpoints = [];
    for (let p = 0; p < PER_SERVICE; p++) {
      const podIP = `10.${100 + (ip >> 16)}.${(ip >> 8) & 255}.${ip & 255}`;
      ip++;
      const name = `${app}-${p}`;
      store.create('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app, 'pod-template-hash': 'abc' } },
        spec: { nodeName: `node-${p % 20}`, containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
        status: { phase: 'Running', podIP, podIPs: [{ ip: podIP }], hostIP: '10.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] } });
      endpoints.push({ addresses: [podIP], conditions: { ready: true }, nodeName: `node-${p % 20}`, targetRef: { kind: 'Pod', name, namespace: ns } });
    }
    store.create('endpointslices', { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${app}-x`, namespace: ns, labels: { 'kubernetes.io/service-name': app } }, addressType: 'IPv4', endpoints, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] });
  }
  const api = await startApiServer({ store, dialPod: () => Promise.reject(new Error('no pods here')) });
  writeKubeconfig(kubeconfig, api.url);
  console.log(`READY ${api.url}`);
  process.stdin.resume();
  process.stdin.on('end', () => void api.close().then(() => process.exit(0)));
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;

async function measure(kubeconfig: string): Promise<void> {
  const { loadClusterAccess } = await import('../../src/cluster/kubeconfig');
  const { ClusterModel } = await import('../../src/cluster/model');
  const { ServicesIndex } = await import('../../src/extension/services/index');
  const { childrenOf, present, rootNodes } = await import('../../src/extension/services/nodes');
  const { LiveStats } = await import('../../src/extension/live/stats');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = process.memoryUsage();
  const access = loadClusterAccess({ kubeconfig });
  if (!access.ok) throw new Error(access.error);
  const t0 = performance.now();
  const model = new ClusterModel(access.value);
  // As the extension's session: connected once namespaces and services are listed.
  await model.start(['namespaces', 'services']);
  const t1 = performance.now();
  const p = model.parts;
  const indexNow = () => new ServicesIndex({ namespaces: () => p.namespaces.list(), services: () => p.services.list(), pods: () => p.pods.list(), endpointslices: () => p.endpointslices.list() });
  let idx = indexNow();
  const stats = new LiveStats();
  const loading = () => !(model.synced('pods') && model.synced('endpointslices'));
  const src = { contexts: () => [access.value.context], currentContext: () => access.value.context, connection: () => 'connected' as const, index: () => idx, backendsLoading: loading, stats: (k: string) => stats.stats(k, 0), allNamespaces: false, filter: '' };
  const renderAll = () => {
    let nodes = 0;
    for (const root of rootNodes(src)) {
      present(src, root);
      for (const ns of childrenOf(src, root)) {
        present(src, ns);
        for (const svc of childrenOf(src, ns)) { present(src, svc); nodes++; }
      }
    }
    return nodes;
  };
  const firstNodes = renderAll();
  const t2 = performance.now();
  const firstLoading = loading();
  const synced = new Promise<void>((r) => { const check = () => { if (!loading()) r(); }; model.onDidChange(check); check(); });
  await synced;
  const t3 = performance.now();
  idx = indexNow();
  const t4 = performance.now();
  const nodes = renderAll();
  const t5 = performance.now();
  const all = { ...src, allNamespaces: true };
  const flat = childrenOf(all, rootNodes(all)[0] as Parameters<typeof childrenOf>[1]);
  for (const n of flat) present(all, n);
  const t6 = performance.now();
  gc?.();
  const mem = process.memoryUsage();
  console.log(`| measure | value |\n| --- | --- |`);
  console.log(`| objects | ${p.namespaces.list().length} namespaces, ${p.services.list().length} services, ${p.pods.list().length} pods, ${p.endpointslices.list().length} endpointslices |`);
  console.log(`| connected: namespaces + services listed (paged, HTTP) | ${(t1 - t0).toFixed(0)} ms |`);
  console.log(`| first render: every namespace expanded, ${firstNodes} service items${firstLoading ? ', backends "loading…"' : ''} | ${(t2 - t1).toFixed(0)} ms |`);
  console.log(`| connect → first render | ${(t2 - t0).toFixed(0)} ms |`);
  console.log(`| connect → pods and EndpointSlices listed too | ${(t3 - t0).toFixed(0)} ms |`);
  console.log(`| index build (everything listed) | ${(t4 - t3).toFixed(0)} ms |`);
  console.log(`| full render: ${nodes} service items with warnings and badges | ${(t5 - t4).toFixed(0)} ms |`);
  console.log(`| all-namespaces view: ${flat.length} service items | ${(t6 - t5).toFixed(0)} ms |`);
  console.log(`| heap used after (delta) | ${mb(mem.heapUsed)} (+${mb(mem.heapUsed - base.heapUsed)}) |`);
  console.log(`| RSS after (delta) | ${mb(mem.rss)} (+${mb(mem.rss - base.rss)}) |`);
  model.stop();
}

async function main(): Promise<void> {
  if (process.argv.includes('--serve')) return serve(process.argv[process.argv.indexOf('--serve') + 1] as string);
  const dir = mkdtempSync(join(tmpdir(), 'flowlens-bench-tree-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const child = spawn(process.execPath, ['--import', 'tsx', '--max-old-space-size=4096', __filename, '--serve', kubeconfig, '--services', String(SERVICES), '--pods-per-service', String(PER_SERVICE)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout });
    const seedStart = performance.now();
    for await (const line of lines) if (line.startsWith('READY')) break;
    console.log(`emulator seeded with ${SERVICES} services / ${SERVICES * PER_SERVICE} pods in ${((performance.now() - seedStart) / 1000).toFixed(1)} s (child process)\n`);
    await measure(kubeconfig);
  } finally {
    child.stdin?.end();
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().then(() => { if (!process.argv.includes('--serve')) process.exit(0); }, (e: unknown) => { console.error(e); process.exit(1); });

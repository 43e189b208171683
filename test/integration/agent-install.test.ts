// `flowlens install` against the API emulator (the test plays the node: it runs the DaemonSet's pod
// as an in-process AgentServer and reports it Ready), the real kubectl sees the objects, and
// `flowlens observe` (the CLI, as a process) reads the agent through port-forward with filters.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentServer } from '../../src/agent/server';
import { loadClusterAccess, type ClusterAccess } from '../../src/cluster/kubeconfig';
import type { Flow } from '../../src/flows/flow';
import { FlowRing } from '../../src/flows/store';
import { installAgents, uninstallAgents, type InstallProgress } from '../../src/install/install';
import { writeKubeconfig } from '../../src/sandbox/apiserver/kubeconfig';
import { startApiServer, type ApiServer } from '../../src/sandbox/apiserver/server';
import { MemoryStore } from '../../src/sandbox/apiserver/store';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { ROOT } from '../helpers/cli';
import { dialLocal } from '../helpers/net';

/** Child processes run asynchronously: the API server they talk to lives in this process. */
function exec(cmd: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 30_000, cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr: stderr + (err && typeof err.code !== 'number' ? String(err) : '') });
    });
  });
}
const kubectl = (kubeconfig: string, args: string[]) => exec('kubectl', ['--kubeconfig', kubeconfig, ...args]);

let api: ApiServer;
let store: MemoryStore;
let agent: AgentServer;
let access: ClusterAccess;
let dir: string;
let kc: string;
const ring = new FlowRing(1000);
let stopKubelet = () => undefined as void;

function flow(i: number, ns: string, verdict: Flow['verdict']): Flow {
  return {
    time: `2026-01-01T00:00:${String(i).padStart(2, '0')}.000000000Z`, verdict, IP: { source: `10.244.0.${i}`, destination: '10.244.0.200', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 40000 + i, destination_port: 8080 } }, source: { namespace: ns, pod_name: `client-${i}` }, destination: { namespace: ns, pod_name: 'server-0' },
    Type: 'L3_L4', node_name: 'node-1', traffic_direction: 'EGRESS',
  };
}

/** The test's kubelet: one Ready pod for the DaemonSet on node-1, and the DaemonSet's status. */
function runKubelet(): () => void {
  return store.subscribe((e) => {
    if (e.resource !== 'daemonsets' || e.type === 'DELETED' || e.object.status?.numberReady === 1) return;
    const { namespace, name } = e.object.metadata;
    setTimeout(() => {
      const ds = store.get('daemonsets', namespace, name);
      if (!ds || ds.status?.numberReady === 1) return;
      const tpl = ds.spec.template as KubeObject;
      if (!store.get('pods', 'flowlens-system', 'flowlens-agent-node1')) {
        store.create('pods', {
          apiVersion: 'v1', kind: 'Pod', metadata: { ...tpl.metadata, name: 'flowlens-agent-node1', namespace: 'flowlens-system' }, spec: { ...tpl.spec, nodeName: 'node-1' },
          status: { phase: 'Running', podIP: '192.0.2.1', conditions: [{ type: 'Ready', status: 'True' }] },
        });
      }
      store.update('daemonsets', { ...ds, status: { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1, updatedNumberScheduled: 1, numberAvailable: 1, observedGeneration: ds.metadata.generation ?? 1 } });
    }, 300);
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flowlens-install-'));
  agent = new AgentServer({ host: '127.0.0.1', port: 0, node: 'node-1', store: ring, ready: () => true });
  const addr = await agent.listen();
  store = new MemoryStore();
  api = await startApiServer({
    store, port: 0,
    dialPod: () => dialLocal(addr.port),
  });
  kc = join(dir, 'kubeconfig');
  writeKubeconfig(kc, api.url);
  const acc = loadClusterAccess({ kubeconfig: kc });
  assert.ok(acc.ok, acc.ok ? '' : acc.error);
  access = acc.value;
  stopKubelet = runKubelet();
  for (let i = 1; i <= 6; i++) ring.push(flow(i, i % 2 ? 'shop' : 'data', i === 4 ? 'DROPPED' : 'FORWARDED'));
});

after(async () => {
  stopKubelet();
  await agent.close();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

test('install applies deploy/ with server-side apply, reports progress and waits for the agents', async () => {
  const progress: InstallProgress[] = [];
  const r = await installAgents(access, { onProgress: (p) => progress.push(p), timeoutMs: 20_000, pollMs: 100 });
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.deepEqual(r.value.applied, ['Namespace flowlens-system', 'ServiceAccount flowlens-system/flowlens-agent', 'ClusterRole flowlens-agent', 'ClusterRoleBinding flowlens-agent', 'DaemonSet flowlens-system/flowlens-agent']);
  assert.deepEqual([r.value.ready, r.value.desired], [1, 1]);
  assert.equal(progress.filter((p) => p.step === 'apply').length, 5);
  assert.ok(progress.some((p) => p.step === 'wait' && p.ready === 1 && p.desired === 1), JSON.stringify(progress));
  assert.equal(progress.at(-1)?.message, '1 agents ready');
  const got = await kubectl(kc, ['get', 'ds,sa', '-n', 'flowlens-system', '-o', 'name']);
  assert.equal(got.status, 0, got.stderr);
  assert.deepEqual(got.stdout.trim().split('\n').sort(), ['daemonset.apps/flowlens-agent', 'serviceaccount/flowlens-agent']);
  const role = await kubectl(kc, ['get', 'clusterrole', 'flowlens-agent', '-o', 'json']);
  assert.equal(role.status, 0, role.stderr);
  const rules = (JSON.parse(role.stdout) as { rules: { resources: string[]; verbs: string[] }[] }).rules;
  assert.ok(rules.every((x) => !x.resources.includes('secrets') && x.verbs.every((v) => ['get', 'list', 'watch'].includes(v))), 'read-only, no secrets');
  const again = await installAgents(access, { timeoutMs: 20_000, pollMs: 100 });
  assert.ok(again.ok, 'applying twice is idempotent');
});

test('flowlens observe reads the installed agent through port-forward with hubble filters', async () => {
  const run = (args: string[]) => exec(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'observe', '--kubeconfig', kc, ...args]);
  const json = await run(['-o', 'json', '--last', '10', '--namespace', 'shop', '--not', '--verdict', 'DROPPED']);
  assert.equal(json.status, 0, json.stderr);
  const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { flow: Flow; node_name: string; time: string });
  assert.deepEqual(lines.map((l) => l.flow.source.pod_name), ['client-1', 'client-3', 'client-5']);
  assert.deepEqual(Object.keys(lines[0] ?? {}), ['flow', 'node_name', 'time'], 'hubble observe -o json shape');
  const first = await run(['--first', '2', '--since', '2026-01-01T00:00:02Z']);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /^Jan 01 00:00:02\.000: data\/client-2:40002 -> data\/server-0:8080 from-endpoint FORWARDED/);
  assert.equal(first.stdout.trim().split('\n').length, 2);
  const bad = await run(['--from-pod', 'a', '--namespace', 'b']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /filters --namespace and --from-pod cannot be combined/);
});

test('uninstall deletes what install applied', async () => {
  const r = await uninstallAgents(access);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.equal(r.value.deleted.length, 5);
  const got = await kubectl(kc, ['get', 'clusterrole', 'flowlens-agent']);
  assert.notEqual(got.status, 0);
  assert.match(got.stderr, /NotFound|not found/);
});

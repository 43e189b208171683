// `flowlens install` against the sandbox: the sandbox comes up without agents, install applies
// deploy/ through the API (server-side apply), the sandbox runs the DaemonSet's agent for its
// node as a kubelet would, the real kubectl sees the objects, and observe reads the new agent
// through port-forward. Uninstall removes it all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowResponse } from '../../src/flows/flow';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { flowlens, isRoot, kubectl, waitFor } from '../helpers/cli';

const skip = isRoot() ? false : 'needs root: the sandbox creates network namespaces and loads eBPF programs';
let kc = '';

before(() => {
  if (skip) return;
  const up = flowlens(['sandbox', 'up', '--no-agent'], { timeoutMs: 180_000 });
  assert.equal(up.status, 0, `sandbox up failed:\n${up.stdout}\n${up.stderr}`);
  kc = flowlens(['sandbox', 'kubeconfig']).stdout.trim();
});

after(() => {
  if (skip) return;
  assert.equal(flowlens(['sandbox', 'down'], { timeoutMs: 120_000 }).status, 0);
});

test('install → agents ready → kubectl sees them → observe reads them; uninstall removes them', { skip }, async () => {
  assert.equal(kubectl(kc, ['get', 'ns', 'flowlens-system']).status, 1, 'no agents before install');
  const inst = flowlens(['install', '--kubeconfig', kc], { timeoutMs: 120_000 });
  assert.equal(inst.status, 0, `install failed:\n${inst.stdout}\n${inst.stderr}`);
  assert.match(inst.stdout + inst.stderr, /applied DaemonSet flowlens-system\/flowlens-agent/);
  assert.match(inst.stdout + inst.stderr, /1\/1 agents ready/);
  const ds = kubectl(kc, ['get', 'daemonset', '-n', 'flowlens-system', 'flowlens-agent', '-o', 'json']);
  assert.equal(ds.status, 0, ds.stderr);
  assert.equal((JSON.parse(ds.stdout) as KubeObject).status.numberReady, 1);
  const pods = JSON.parse(kubectl(kc, ['get', 'pods', '-A', '-o', 'json']).stdout) as { items: KubeObject[] };
  const client = pods.items.find((p) => p.metadata.namespace === 'shop' && p.metadata.name.startsWith('cart-'));
  assert.ok(client);
  const probe = flowlens(['sandbox', 'probe', '--from', `shop/${client.metadata.name}`, '--to', 'shop/catalog', '--port', '8080', '-o', 'json']);
  const port = (JSON.parse(probe.stdout) as { connected: boolean; local_port: number }).local_port;
  const flows = await waitFor('the probe in observe', () => {
    const r = flowlens(['observe', '--kubeconfig', kc, '--last', '5000', '--from-pod', `shop/${client.metadata.name}`, '-o', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const mine = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as FlowResponse)
      .filter((f) => f.flow.extensions?.tcp_event === 'connect' && f.flow.l4.TCP?.source_port === port);
    return mine.length === 1 ? mine : undefined;
  }, 10_000, 500);
  assert.deepEqual(flows[0]?.flow.destination_service, { name: 'catalog', namespace: 'shop' });
  const un = flowlens(['uninstall', '--kubeconfig', kc], { timeoutMs: 60_000 });
  assert.equal(un.status, 0, un.stderr);
  await waitFor('namespace gone', () => (kubectl(kc, ['get', 'ns', 'flowlens-system']).status === 1 ? true : undefined), 10_000);
  const gone = flowlens(['observe', '--kubeconfig', kc, '--last', '1', '-o', 'json']);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /no Flowlens agents found/);
});

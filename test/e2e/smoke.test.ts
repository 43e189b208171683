// Smoke test in real VS Code: the extension activates without a cluster, the Services view says
// why, and cluster commands explain that no cluster is connected.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Workbench, freePort, missingPrerequisite } from './harness';

const skip = missingPrerequisite();
const KUBECONFIG = '/nonexistent/flowlens-e2e/kubeconfig';
let wb: Workbench | undefined;

before(async () => {
  if (skip) return;
  // A kubeconfig path that does not exist: the extension must say so, not fail silently.
  wb = await Workbench.start({ name: 'smoke', kubeconfig: KUBECONFIG });
});

after(async () => {
  await wb?.close();
});

test('the Services view explains that no cluster is reachable', { skip, timeout: 120_000 }, async () => {
  const w = wb as Workbench;
  await w.step('no-cluster', async () => {
    await w.openFlowlens();
    const view = w.servicesView();
    await view.getByText(`No cluster: cannot read kubeconfig: kubeconfig not found: ${KUBECONFIG}`, { exact: false }).waitFor({ timeout: 30_000 });
    assert.equal(await view.locator('.monaco-list-row').count(), 0, 'no tree rows without a cluster');
    await w.screenshot('no-cluster');
  });
});

test('changing flowlens.kubeconfig reconnects; an unreachable API server is reported', { skip, timeout: 60_000 }, async () => {
  const w = wb as Workbench;
  await w.step('unreachable', async () => {
    const port = await freePort();
    const kubeconfig = join(w.scratch, 'unreachable.kubeconfig');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config',
      `clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${port}" } }]`,
      'users: [{ name: u, user: {} }]',
      'contexts: [{ name: e2e-unreachable, context: { cluster: c, user: u } }]',
      'current-context: e2e-unreachable', '',
    ].join('\n'));
    await w.setStringSetting('flowlens.kubeconfig', kubeconfig, 'Remote');
    await w.openFlowlens();
    const view = w.servicesView();
    await view.getByText(`No cluster: cannot reach cluster "e2e-unreachable" at http://127.0.0.1:${port}`, { exact: false }).waitFor({ timeout: 30_000 });
    await w.screenshot('unreachable');
    // Reconnect (view title) tries again and ends up with the same report.
    await w.viewAction('Reconnect to Cluster');
    await w.page.waitForTimeout(1000);
    await view.getByText(`ECONNREFUSED 127.0.0.1:${port}`, { exact: false }).waitFor({ timeout: 15_000 });
  });
});

test('Show Flows without a cluster says that no cluster is connected', { skip, timeout: 60_000 }, async () => {
  const w = wb as Workbench;
  await w.step('show-flows', async () => {
    await w.runCommand('Flowlens: Show Flows');
    await w.notification(/no Kubernetes cluster is connected \(cannot reach cluster "e2e-unreachable"/).waitFor({ timeout: 15_000 });
    assert.equal(await w.page.locator('iframe.webview').count(), 0, 'no panel opened');
    await w.screenshot('show-flows-without-cluster');
  });
});

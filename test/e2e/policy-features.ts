// End-to-end tests of "Why can't A reach B?", "Generate NetworkPolicy from traffic" and "Open Flow
// Recording" through the real VS Code UI (command palette, quick pick, input boxes, explorer context
// menu). Registered by skeleton.test.ts so that they share its one sandbox and one workbench.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { FrameLocator } from 'playwright-core';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
import { parsePolicy } from '../../src/policy/parse';
import { PolicyEngine } from '../../src/policy/engine';
import type { Policy } from '../../src/policy/types';
import { buildCluster } from '../../src/extension/policies/verdicts';
import { FLOWS } from '../helpers/recorded-flows';
import { ROOT, type Workbench } from './harness';

export interface SharedSession {
  skip: string | false | undefined;
  workbench: () => Workbench;
  kubeconfig: () => string;
}

const CLI = join(ROOT, 'dist/cli.js');

function kubectl(kubeconfig: string, args: string[]): string {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout.trim();
}

function podsOf(kubeconfig: string, ns: string, app: string): string[] {
  return kubectl(kubeconfig, ['get', 'pods', '-n', ns, '-l', `app=${app}`, '-o', 'jsonpath={.items[*].metadata.name}']).split(/\s+/).filter(Boolean).sort();
}

function probe(from: string, to: string, port: number): boolean {
  const r = spawnSync(process.execPath, [CLI, 'sandbox', 'probe', '--from', from, '--to', to, '--port', String(port), '--timeout', '1s', '-o', 'json'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return (JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { connected?: boolean }).connected === true;
}

/** Whether the open quick input (quick pick or input box) asks `prompt` (its placeholder or its message). */
async function asking(w: Workbench, prompt: string): Promise<boolean> {
  const widget = w.page.locator('.quick-input-widget');
  if (!(await widget.isVisible())) return false;
  const placeholder = (await widget.locator('input').first().getAttribute('placeholder')) ?? '';
  return placeholder.startsWith(prompt) || ((await widget.locator('.quick-input-message').textContent().catch(() => '')) ?? '').includes(prompt);
}

async function until(w: Workbench, what: string, cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await w.page.waitForTimeout(100);
  }
}

/** Answers the open quick input that asks `prompt`; with `pick`, waits for that item to be listed first. */
async function answer(w: Workbench, prompt: string, value: string, pick?: string): Promise<void> {
  await until(w, `a quick input asking "${prompt}"`, () => asking(w, prompt));
  const widget = w.page.locator('.quick-input-widget');
  const input = widget.locator('input').first();
  await input.fill(value);
  if (pick) await widget.locator('.quick-input-list .monaco-list-row', { hasText: pick }).first().waitFor();
  await input.press('Enter');
  await until(w, `the quick input to move on from "${prompt}"`, async () => !(await asking(w, prompt)), 5000);
}

/** The Flowlens view open and connected (the namespaces listed): the commands need a cluster. */
async function connected(w: Workbench): Promise<void> {
  await w.openFlowlens();
  await w.treeRow('shop').waitFor({ timeout: 30_000 });
}

async function clipboard(w: Workbench): Promise<string> {
  return String(await w.page.evaluate('navigator.clipboard.readText()'));
}

interface ReachStep { name: string; status: string; detail: string; firstFailure: boolean }

async function reachSteps(view: FrameLocator): Promise<ReachStep[]> {
  const rows = view.getByRole('list', { name: 'Steps' }).getByRole('listitem');
  const out: ReachStep[] = [];
  for (const row of await rows.all()) {
    out.push({
      name: (await row.locator('.name').textContent()) ?? '', status: (await row.getAttribute('data-status')) ?? '',
      detail: (await row.locator('.detail').textContent()) ?? '', firstFailure: (await row.getByText('failing step').count()) === 1,
    });
  }
  return out;
}

async function askReach(w: Workbench, from: string, target: string, port: string): Promise<FrameLocator> {
  // Right after a click in a webview the palette can miss its Enter: ask again (at most 3 times).
  for (let attempt = 1; ; attempt++) {
    await w.runCommand('Flowlens: Why Can\'t A Reach B?');
    try {
      await until(w, 'the source pod quick pick', () => asking(w, 'Source pod'), 5000);
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
      await w.page.keyboard.press('Escape');
    }
  }
  await answer(w, 'Source pod', from, from);
  await answer(w, 'Target: a pod or service', target);
  await answer(w, 'Port, optionally /UDP', port);
  await w.page.locator('.tab.active', { hasText: `Reach — ${from} → ${target}:${port}` }).waitFor({ timeout: 15_000 });
  const view = w.webview();
  await view.getByRole('heading', { name: `Why can't ${from} reach ${target}:${port}/TCP?` }).waitFor({ timeout: 15_000 });
  return view;
}

function registerReach(s: SharedSession): void {
  test('Why can\'t A reach B? (palette → quick pick → input boxes): reachable, denied by an ingress policy, name that does not resolve; Run again; Copy as Markdown', { skip: s.skip, timeout: 180_000 }, async () => {
    const w = s.workbench();
    const kc = s.kubeconfig();
    const from = `shop/${podsOf(kc, 'shop', 'frontend')[0]}`;
    await connected(w);
    for (let i = 0; i < 3; i++) assert.equal(probe(from, 'shop/catalog', 8080), true, 'frontend reaches catalog');
    probe(from, 'data/redis', 6379); // denied by data/redis-allow-cart (only the cart may talk to redis)
    await w.page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await w.step('reach-ok', async () => {
      const view = await askReach(w, from, 'catalog.shop.svc.cluster.local', '8080');
      await view.locator('#verdict', { hasText: `Nothing blocks ${from} → catalog.shop.svc.cluster.local:8080/TCP` }).waitFor();
      const steps = await reachSteps(view);
      assert.deepEqual(steps.map((x) => x.name), ['DNS', 'Service port', 'Endpoints', 'Translation', 'Egress policy', 'Ingress policy', 'Kernel']);
      assert.deepEqual(steps.filter((x) => x.status !== 'ok'), [], 'every step passes (the probes gave the translation and the kernel evidence)');
      assert.match(steps[0]?.detail ?? '', /^catalog\.shop\.svc\.cluster\.local → 10\.\d+\.\d+\.\d+ \(service shop\/catalog\)$/);
      assert.match(steps[2]?.detail ?? '', /^2 ready of 2: catalog-/);
      assert.match(steps[6]?.detail ?? '', /^\d+ recent flow\(s\), all forwarded$/);
      assert.equal(await view.getByRole('img', { name: 'passed' }).count(), 7, 'a pass icon per step');
      await w.screenshot('reach-ok');
    });
    await w.step('reach-denied', async () => {
      const view = await askReach(w, from, 'redis.data', '6379');
      await view.locator('#verdict', { hasText: `${from} cannot reach redis.data:6379/TCP: Ingress policy — denied` }).waitFor();
      const steps = await reachSteps(view);
      const failing = steps.filter((x) => x.firstFailure);
      assert.equal(failing.length, 1, 'one step is marked as the failing one');
      assert.equal(failing[0]?.name, 'Ingress policy');
      assert.match(failing[0]?.detail ?? '', /^denied: data\/redis-allow-cart selects the destination and no rule allows port 6379\/TCP$/);
      assert.equal(steps.find((x) => x.name === 'Egress policy')?.status, 'ok', 'nothing isolates the frontend for egress');
      assert.deepEqual(steps.slice(0, 3).map((x) => x.status), ['ok', 'ok', 'ok'], 'DNS, service port and endpoints pass');
      await w.screenshot('reach-denied-ingress');
      await view.getByRole('button', { name: 'Copy as Markdown' }).click();
      await w.notification('reach report copied as Markdown').waitFor({ timeout: 10_000 });
      const md = await clipboard(w);
      assert.match(md, /^# Why can't shop\/frontend-\S+ reach redis\.data:6379\/TCP\?/);
      assert.match(md, /\| ❌ \| Ingress policy \| denied: data\/redis-allow-cart selects/);
    });
    await w.step('reach-dns', async () => {
      const view = await askReach(w, from, 'nosuch.shop.svc.cluster.local', '80');
      const steps = await reachSteps(view);
      assert.deepEqual(steps.map((x) => [x.name, x.status, x.firstFailure]), [['DNS', 'fail', true]]);
      assert.match(steps[0]?.detail ?? '', /^nosuch\.shop\.svc\.cluster\.local → NXDOMAIN: no service "nosuch" in namespace "shop"/);
      await view.locator('#verdict', { hasText: 'cannot reach nosuch.shop.svc.cluster.local:80/TCP: DNS' }).waitFor();
      await w.screenshot('reach-dns-fails');
      // Run again re-reads the cluster: the service now exists, so the name resolves.
      const svc = join(w.scratch, 'nosuch-service.yaml');
      writeFileSync(svc, 'apiVersion: v1\nkind: Service\nmetadata: { name: nosuch, namespace: shop }\nspec:\n  selector: { app: nosuch }\n  ports: [ { port: 80, targetPort: 8080 } ]\n');
      kubectl(kc, ['apply', '-f', svc]);
      try {
        const deadline = Date.now() + 15_000;
        let first: ReachStep | undefined;
        while (Date.now() < deadline && first?.status !== 'ok') {
          await view.getByRole('button', { name: 'Run again' }).click();
          await w.page.waitForTimeout(500);
          first = (await reachSteps(view))[0];
        }
        assert.equal(first?.status, 'ok', `DNS resolves after the service is created: ${first?.detail}`);
        const failing = (await reachSteps(view)).filter((x) => x.firstFailure);
        assert.deepEqual(failing.map((x) => [x.name, x.detail]), [['Endpoints', 'no endpoints (selector app=nosuch): kube-proxy rejects connections to shop/nosuch']]);
        await w.screenshot('reach-run-again-endpoints');
      } finally {
        kubectl(kc, ['-n', 'shop', 'delete', 'service', 'nosuch']);
      }
    });
  });
}

async function liveObjects(kc: string): Promise<{ namespaces: KubeObject[]; pods: KubeObject[] }> {
  const list = (kind: string) => (JSON.parse(kubectl(kc, ['get', kind, '-A', '-o', 'json'])) as { items: KubeObject[] }).items;
  return { namespaces: list('namespaces'), pods: list('pods') };
}

/** Container ports of the sandbox's pods (by number), and DNS. */
async function listeningPorts(kc: string): Promise<Set<unknown>> {
  const pods = (await liveObjects(kc)).pods as { spec?: { containers?: { ports?: { containerPort?: number }[] }[] } }[];
  return new Set<unknown>([53, ...pods.flatMap((p) => (p.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((x) => x.containerPort)))]);
}

function registerGenerate(s: SharedSession): void {
  test('Generate NetworkPolicy from traffic: pick a namespace → a YAML document with valid policies that allow exactly the observed peer and port', { skip: s.skip, timeout: 120_000 }, async () => {
    const w = s.workbench();
    const kc = s.kubeconfig();
    const from = `shop/${podsOf(kc, 'shop', 'frontend')[0]}`;
    await connected(w);
    for (let i = 0; i < 3; i++) assert.equal(probe(from, 'shop/catalog', 8080), true);
    await w.page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    const text = await w.step('generate', async () => {
      await w.runCommand('Flowlens: Generate NetworkPolicy from Traffic');
      await answer(w, 'Generate policies for the workloads of', 'shop', 'shop');
      const editor = w.page.locator('.editor-instance .monaco-editor', { hasText: 'flowlens-advice-' }).first();
      await editor.waitFor({ timeout: 15_000 });
      await w.screenshot('generated-policy');
      await editor.locator('.view-lines').click();
      await w.page.keyboard.press('Control+A');
      await w.page.keyboard.press('Control+C');
      return clipboard(w);
    });
    const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown> | null).filter((d): d is Record<string, unknown> => d !== null);
    assert.ok(docs.length > 0, 'the document has YAML documents');
    // Every document is a NetworkPolicy the project's parser accepts (it throws on anything invalid).
    const policies: Policy[] = docs.map((d, i) => {
      assert.equal(d.kind, 'NetworkPolicy', `document ${i + 1} is a NetworkPolicy`);
      return parsePolicy({ where: `generated document ${i + 1}` }, d);
    });
    assert.ok(policies.every((p) => p.namespace === 'shop'), `only shop's workloads: ${policies.map((p) => `${p.namespace}/${p.name}`).join(', ')}`);
    // Replies (HTTP responses) are not connections: no rule opens a client's ephemeral port.
    const ports = new Set(policies.flatMap((p) => [...p.ingress, ...p.egress].flatMap((r) => r.ports.map((x) => x.port))));
    const served = await listeningPorts(kc);
    assert.deepEqual([...ports].filter((x) => !served.has(x)), [], `only ports that pods listen on (${[...served].join(', ')}), never a client's ephemeral port or a refused service:\n${text}`);
    const catalog = docs.find((d) => JSON.stringify((d.spec as { podSelector?: unknown }).podSelector) === JSON.stringify({ matchLabels: { app: 'catalog' } }));
    assert.ok(catalog, 'a policy for catalog, which really received connections');
    const ingress = JSON.stringify((catalog.spec as { ingress?: unknown }).ingress);
    assert.ok(ingress.includes(JSON.stringify({ podSelector: { matchLabels: { app: 'frontend' } } })), `catalog admits its observed peer, the frontend: ${ingress}`);
    assert.ok(ingress.includes(JSON.stringify({ protocol: 'TCP', port: 8080 })), `on the observed port: ${ingress}`);
    // Applied (in the policy engine, over the live pods): the observed traffic stays allowed, other ports are denied.
    const engine = new PolicyEngine(buildCluster({ ...(await liveObjects(kc)), policies: [] }, policies));
    const ip = (ns: string, app: string) => kubectl(kc, ['get', 'pods', '-n', ns, '-l', `app=${app}`, '-o', 'jsonpath={.items[0].status.podIP}']);
    const ref = (addr: string) => ({ pod: engine.podByIP(addr) as NonNullable<ReturnType<PolicyEngine['podByIP']>>, ip: addr });
    const [f, c] = [ref(ip('shop', 'frontend')), ref(ip('shop', 'catalog'))];
    assert.ok(f.pod && c.pod, 'the engine knows both pods');
    const v = engine.verdict({ from: f, to: c, port: 8080, protocol: 'TCP' });
    assert.equal(v.allowed, true, `frontend → catalog:8080 stays allowed: ${JSON.stringify(v)}`);
    assert.equal(engine.verdict({ from: f, to: c, port: 9999, protocol: 'TCP' }).ingress.allowed, false, 'a port never seen is not admitted');
  });
}

const RECORDING = 'incident.flows.jsonl';

async function openRecording(w: Workbench): Promise<FrameLocator> {
  writeFileSync(join(w.scratch, 'workspace', RECORDING), `${FLOWS.map((flow) => JSON.stringify({ flow })).join('\n')}\n`);
  await w.runCommand('View: Show Explorer');
  const row = w.page.locator('.explorer-folders-view .monaco-list-row', { hasText: RECORDING });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (await row.count()) === 0) {
    await w.runCommand('Refresh Explorer');
    await w.page.waitForTimeout(500);
  }
  await w.contextMenu(row, 'Open Flow Recording');
  await w.page.locator('.tab.active', { hasText: `Flows — recording ${RECORDING}` }).waitFor({ timeout: 15_000 });
  return w.webview();
}

/** Rows of flows the table marks as shown (the table keeps a pool of spare row elements). */
const shownRows = (view: FrameLocator) => view.locator('[role="row"]:not([hidden])').filter({ has: view.getByRole('cell'), hasText: /\d\d:\d\d/ });

function registerRecording(s: SharedSession): void {
  test('Open Flow Recording from the explorer: a saved *.flows.jsonl replays offline in the Flows panel, rows appear, a filter narrows them', { skip: s.skip, timeout: 120_000 }, async () => {
    const w = s.workbench();
    await w.step('recording', async () => {
      const view = await openRecording(w);
      await view.getByText(`recording ${RECORDING}: ${FLOWS.length} flows (offline)`).waitFor({ timeout: 15_000 });
      const rows = shownRows(view);
      await rows.first().waitFor({ timeout: 15_000 });
      assert.equal(await rows.count(), FLOWS.length, 'one row per recorded flow');
      assert.ok((await rows.filter({ hasText: 'shop/frontend-7d9' }).count()) > 0, 'rows name the recorded pods');
      await w.screenshot('recording-open');
      await view.locator('[aria-label="Filter flows"] input').fill('-n data');
      await view.getByText(`1 / ${FLOWS.length}`, { exact: true }).waitFor({ timeout: 10_000 });
      assert.equal(await rows.count(), 1, 'one flow touches the data namespace');
      assert.match((await rows.first().textContent()) ?? '', /shop\/cart-1.*data\/redis-0.*6379.*DROPPED/);
      await w.screenshot('recording-filtered');
    });
  });
  // Known bug, not in this test's files: webview/flows/style.css `.row { display: grid }` overrides
  // the `hidden` attribute the table sets on spare pooled rows, so stale rows stay on screen.
  test('Open Flow Recording: rows a filter removes are no longer on screen', { skip: s.skip, timeout: 30_000 }, async () => {
    const w = s.workbench();
    const view = w.webview();
    await view.getByText(`1 / ${FLOWS.length}`, { exact: true }).waitFor({ timeout: 10_000 });
    const onScreen = view.getByRole('row').filter({ visible: true, has: view.getByRole('cell'), hasText: /\d\d:\d\d/ });
    assert.equal(await onScreen.count(), 1, 'only the matching row is visible');
  });
}

/** The policy features' end-to-end tests, in the calling file's sandbox and workbench. */
export function registerPolicyFeatureTests(s: SharedSession): void {
  registerReach(s);
  registerGenerate(s);
  registerRecording(s);
}

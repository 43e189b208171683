// Every filter flag end to end: the real `flowlens observe` CLI (dist/cli.js) reads an agent that
// holds recorded flows, through the emulator's port-forward, and prints exactly the flows each
// flag selects (the same table the parser's unit test uses).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentServer } from '../../src/agent/server';
import type { FlowResponse } from '../../src/flows/flow';
import { tokenize } from '../../src/flows/filter-args';
import { FlowRing } from '../../src/flows/store';
import { writeKubeconfig } from '../../src/sandbox/apiserver/kubeconfig';
import { startApiServer, type ApiServer } from '../../src/sandbox/apiserver/server';
import { MemoryStore } from '../../src/sandbox/apiserver/store';
import { pod } from '../helpers/builders';
import { CLI } from '../helpers/cli';
import { dialLocal } from '../helpers/net';
import { CASES, FLOWS } from '../helpers/recorded-flows';

const run = promisify(execFile);
let dir = '';
let api: ApiServer;
let agent: AgentServer;
let kc = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flowlens-observe-'));
  const ring = new FlowRing(100);
  FLOWS.forEach((f, i) => ring.push({ ...f, time: `2026-01-01T00:00:0${i}.000000000Z` }));
  agent = new AgentServer({ host: '127.0.0.1', port: 0, node: 'node-1', store: ring, ready: () => true });
  const addr = await agent.listen();
  const store = new MemoryStore();
  api = await startApiServer({
    store, port: 0,
    dialPod: () => dialLocal(addr.port),
  });
  store.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'flowlens-system' } });
  store.create('pods', pod('flowlens-system', 'flowlens-agent-x', '192.0.2.2', { hostNetwork: true, labels: { 'app.kubernetes.io/name': 'flowlens-agent' }, ports: [{ name: 'flows', containerPort: 4260 }] }));
  kc = join(dir, 'kubeconfig');
  writeKubeconfig(kc, api.url);
});

after(async () => {
  await agent.close();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

async function observe(flags: string): Promise<string> {
  const words = tokenize(flags);
  assert.ok(words.ok, `${flags}: ${words.ok ? '' : words.error}`);
  const r = await run(process.execPath, [CLI, 'observe', '--kubeconfig', kc, '--last', '100', ...words.value, '-o', 'json'], { timeout: 30_000 });
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as FlowResponse).flow.uuid).join('');
}

test('flowlens observe prints exactly the flows each filter flag selects', async () => {
  const failures: string[] = [];
  for (let i = 0; i < CASES.length; i += 4) {
    await Promise.all(CASES.slice(i, i + 4).map(async ([flags, want]) => {
      const got = await observe(flags);
      if (got !== want) failures.push(`observe ${flags || '(no filter)'}: got "${got}", want "${want}"`);
    }));
  }
  assert.deepEqual(failures, []);
  assert.ok(CASES.length >= 60, 'the table covers every flag');
});

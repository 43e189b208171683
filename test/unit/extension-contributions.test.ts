// package.json contributions that no end-to-end test can click here: "Trace Pod" in the
// Kubernetes extension's cluster explorer (ms-kubernetes-tools.vscode-kubernetes-tools cannot be
// installed offline). The `when` clauses are evaluated against the context keys that extension
// sets on its tree items (contextValue `vsKubernetes.resource.<kind abbreviation>`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface MenuItem { command: string; when?: string; group?: string }
interface Manifest {
  contributes: { commands: { command: string; title: string }[]; menus: Record<string, MenuItem[]> };
}

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as Manifest;

/** Evaluates the `&&`-joined `key == value` / `key =~ /re/flags` clauses VS Code `when` clauses use here. */
function evaluate(when: string, ctx: Record<string, string>): boolean {
  return when.split('&&').map((c) => c.trim()).every((clause) => {
    const eq = /^([\w.]+)\s*==\s*(\S+)$/.exec(clause);
    if (eq) return ctx[eq[1] as string] === eq[2];
    const re = /^([\w.]+)\s*=~\s*\/(.+)\/([a-z]*)$/.exec(clause);
    if (re) return new RegExp(re[2] as string, re[3]).test(ctx[re[1] as string] ?? '');
    throw new Error(`unsupported when clause: ${clause}`);
  });
}

const shown = (view: string, viewItem: string) => (manifest.contributes.menus['view/item/context'] ?? [])
  .filter((m) => m.when !== undefined && evaluate(m.when, { view, viewItem }))
  .map((m) => m.command);

test('Trace Pod is on pods of the Kubernetes extension\'s cluster explorer, and only on pods', () => {
  const explorer = 'extension.vsKubernetesExplorer';
  assert.ok(shown(explorer, 'vsKubernetes.resource.pod').includes('flowlens.tracePod'));
  for (const other of ['vsKubernetes.resource.service', 'vsKubernetes.resource.deployment', 'vsKubernetes.resource.namespace', 'vsKubernetes.cluster']) {
    assert.ok(!shown(explorer, other).includes('flowlens.tracePod'), `not on ${other}`);
  }
  // The same context value in another extension's view does not get the entry.
  assert.ok(!shown('someone.elsesView', 'vsKubernetes.resource.pod').includes('flowlens.tracePod'));
  const entry = manifest.contributes.menus['view/item/context']?.find((m) => m.command === 'flowlens.tracePod' && m.when?.includes('vsKubernetesExplorer'));
  assert.ok(entry?.group, 'grouped in the context menu');
});

test('the menu entries name declared commands (an undeclared command makes VS Code drop the entry)', () => {
  const declared = new Set(manifest.contributes.commands.map((c) => c.command));
  for (const [menu, items] of Object.entries(manifest.contributes.menus)) {
    for (const m of items) assert.ok(declared.has(m.command), `${menu}: ${m.command} is declared in contributes.commands`);
  }
  for (const id of ['flowlens.tracePod', 'flowlens.whyCantReach', 'flowlens.generatePolicy', 'flowlens.openRecording']) {
    assert.ok(declared.has(id), `${id} is declared`);
  }
});

test('the when evaluator itself: equality, regex with flags, conjunction', () => {
  assert.equal(evaluate('view == a && viewItem =~ /^x\\.y$/i', { view: 'a', viewItem: 'X.Y' }), true);
  assert.equal(evaluate('view == a && viewItem =~ /^x\\.y$/', { view: 'a', viewItem: 'X.Y' }), false);
  assert.equal(evaluate('view == a', { view: 'b' }), false);
  assert.throws(() => evaluate('view != a', { view: 'b' }), /unsupported/);
});

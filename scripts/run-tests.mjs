// Runs every *.test.ts under the given folders with node's test runner (TypeScript through tsx).
// Tiers are folders; each tier's files decide for themselves (loudly) when they cannot run.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  let out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) continue;
    if (statSync(p).isDirectory()) out = out.concat(collect(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const dirs = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const files = dirs.flatMap((d) => (d.endsWith('.test.ts') ? [d] : collect(d)));
if (files.length === 0) {
  console.error(`no test files under ${dirs.join(', ')}`);
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? (dirs.some((d) => d.includes('unit')) ? '2' : '1');
const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files];
// The sandbox is one per host (bridge, address ranges, name prefixes): tiers that bring it up
// take a host-wide lock, so two runs wait for each other instead of tearing each other down.
const exclusive = files.some((f) => /test\/(kernel|e2e)\//.test(f)) && process.getuid?.() === 0;
const r = exclusive
  ? spawnSync('flock', ['/run/flowlens-tests.lock', process.execPath, ...args], { stdio: 'inherit' })
  : spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);

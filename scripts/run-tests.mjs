// Runs every *.test.ts under the given folders with node's test runner (TypeScript through tsx).
// Tiers are folders; each tier's files decide for themselves (loudly) when they cannot run.
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
// spec for people, TAP into a file for the counts (summed over tiers by scripts/test.sh).
const tapDir = mkdtempSync(join(tmpdir(), 'flowlens-tap-'));
const tap = join(tapDir, 'out.tap');
const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files];
// The sandbox is one per host (bridge, address ranges, name prefixes): tiers that bring it up
// take a host-wide lock, so two runs wait for each other instead of tearing each other down.
const exclusive = files.some((f) => /test\/(kernel|e2e)\//.test(f)) && process.getuid?.() === 0;
const r = exclusive
  ? spawnSync('flock', ['/run/flowlens-tests.lock', process.execPath, ...args], { stdio: 'inherit' })
  : spawnSync(process.execPath, args, { stdio: 'inherit' });
let counts = { pass: 0, fail: 1, skipped: 0 };
try {
  const text = readFileSync(tap, 'utf8');
  const count = (name) => Number(text.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
  counts = { pass: count('pass'), fail: count('fail'), skipped: count('skipped') };
} catch {
  // No TAP output: the runner itself failed; counted as one failure.
}
rmSync(tapDir, { recursive: true, force: true });
// Tests skip only when run unprivileged (with their reason printed above). As root every real
// tier must run: a skip here means a missing prerequisite or a sandbox left running, so it fails.
const skippedAsRoot = process.getuid?.() === 0 && counts.skipped > 0;
if (skippedAsRoot) {
  console.error(`\n${counts.skipped} test(s) skipped although running as root: every tier must run here (see the skip reasons above)`);
  counts.fail += counts.skipped;
}
if (process.env.FLOWLENS_TEST_SUMMARY) appendFileSync(process.env.FLOWLENS_TEST_SUMMARY, `${counts.pass} ${counts.fail} ${counts.skipped}\n`);
process.exit(skippedAsRoot ? 1 : r.status ?? 1);

// `npm run bench [-- NAME...]`: runs test/bench/NAME.bench.ts (all of them without names).
// Benchmarks print a table; they assert nothing about speed (figures go into docs/BENCHMARKS.md).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const all = readdirSync('test/bench').filter((f) => f.endsWith('.bench.ts')).map((f) => f.replace(/\.bench\.ts$/, '')).sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ') || 'none'}`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length ? wanted : all) {
  console.log(`\n## ${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', `test/bench/${name}.bench.ts`], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);

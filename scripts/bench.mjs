// `npm run bench [-- NAME...]`: runs test/bench/NAME.bench.ts (all of them without names).
// Benchmarks print a table; they assert nothing about speed (figures go into docs/BENCHMARKS.md).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const all = readdirSync('test/bench').filter((f) => f.endsWith('.bench.ts')).map((f) => f.replace(/\.bench\.ts$/, '')).sort();
// Arguments after a `--` (or from the first one starting with `--`) go to every benchmark run.
const argv = process.argv.slice(2);
const split = argv.indexOf('--') >= 0 ? argv.indexOf('--') : argv.findIndex((a) => a.startsWith('--'));
const wanted = split >= 0 ? argv.slice(0, split) : argv;
const passed = split >= 0 ? argv.slice(argv[split] === '--' ? split + 1 : split) : [];
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ') || 'none'}`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length ? wanted : all) {
  console.log(`\n## ${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', `test/bench/${name}.bench.ts`, ...passed], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);

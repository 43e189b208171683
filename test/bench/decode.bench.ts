// Benchmark of the agent's user-space decoding. `npm run bench -- decode` (no root needed).
//  1. Records/s through the agent's decoder (loader wire format -> objects), and decode + flows.
//  2. The agent's CPU when fed 50,000 tc flow records/s (decode, flow building, enrichment, store).
// Runs bundled by esbuild, as the agent ships (dist/cli.js). Prints tables; asserts nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Datapath } from '../../src/agent/datapath';
import { RecordDecoder } from '../../src/agent/records';
import { enrichFlow } from '../../src/flows/enrich';
import { FlowRing } from '../../src/flows/store';

const args = process.argv.slice(2);
const REPO = process.env.FL_REPO ?? process.cwd();

/** A loader stream: HELLO, then n FLOW END records with distinct ports. */
function syntheticStream(n: number): Buffer {
  const sample = Buffer.from(execFileSync(join(REPO, 'bpf', '.output', 'layout'), ['--sample'], { encoding: 'utf8' }).trim(), 'hex');
  const hello = sample.subarray(0, 120);
  const flowAt = 120 + 24 + 72 + 96 * 2;
  const flow = sample.subarray(flowAt, flowAt + 128);
  const out = Buffer.alloc(120 + n * 128);
  hello.copy(out, 0);
  for (let i = 0; i < n; i++) {
    flow.copy(out, 120 + i * 128);
    out.writeUInt16LE(1024 + (i % 60000), 120 + i * 128 + 104); // sport
    out[120 + i * 128 + 100] = 10 + (i % 200); // ifindex varies
  }
  return out;
}

function benchDecode(): void {
  const n = 2_000_000;
  const stream = syntheticStream(n);
  const chunk = 64 * 1024;
  let t0 = performance.now();
  let count = 0;
  const d = new RecordDecoder();
  for (let off = 0; off < stream.length; off += chunk) count += d.push(stream.subarray(off, off + chunk)).length;
  const decodeMs = performance.now() - t0;
  const dp = new Datapath('bench');
  const d2 = new RecordDecoder();
  let flows = 0;
  const m = 300_000;
  t0 = performance.now();
  for (let off = 0; off < 120 + m * 128; off += chunk) flows += dp.onBatch(d2.push(stream.subarray(off, Math.min(off + chunk, 120 + m * 128)))).length;
  const flowMs = performance.now() - t0;
  console.log('| stage (one core, synthetic FLOW records, 64 KiB reads) | records | records/s |');
  console.log('| --- | --- | --- |');
  console.log(`| decode (RecordDecoder) | ${count - 1} | ${(((count - 1) / decodeMs) * 1000).toFixed(0)} |`);
  console.log(`| decode + Hubble flow objects (Datapath) | ${flows} | ${((flows / flowMs) * 1000).toFixed(0)} |\n`);
}

async function benchCpu(): Promise<void> {
  const rate = 50_000;
  const seconds = 5;
  const stream = syntheticStream(rate * seconds);
  const d = new RecordDecoder();
  const dp = new Datapath('bench');
  const store = new FlowRing(65_536);
  const pods = { podByIP: () => undefined };
  d.push(stream.subarray(0, 120));
  const perTick = rate / 10; // the loader flushes every 250 ms; deliver in 100 ms batches
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let tick = 0; tick < seconds * 10; tick++) {
    const from = 120 + tick * perTick * 128;
    for (const f of dp.onBatch(d.push(stream.subarray(from, from + perTick * 128)))) store.push(enrichFlow(f, pods));
    const due = t0 + (tick + 1) * 100;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  console.log(`| agent pipeline at ${rate} flows/s (decode, flows, enrich, store) | wall s | CPU s | cores |`);
  console.log('| --- | --- | --- | --- |');
  console.log(`| ${store.size} stored of ${rate * seconds} | ${wall.toFixed(1)} | ${((cpu.user + cpu.system) / 1e6).toFixed(2)} | ${((cpu.user + cpu.system) / 1e6 / wall).toFixed(3)} |\n`);
}

/** Re-runs this file bundled by esbuild (as the agent ships: dist/cli.js). */
function reexec(): never {
  const out = join(mkdtempSync(join(tmpdir(), 'fl-bench-')), 'decode.bench.js');
  execFileSync(join(REPO, 'node_modules', 'esbuild', 'bin', 'esbuild'), [__filename, '--bundle', '--platform=node', '--log-level=error', `--outfile=${out}`]);
  const r = spawnSync(process.execPath, [out, ...args], { stdio: 'inherit', env: { ...process.env, FL_BENCH_BUNDLED: '1', FL_REPO: REPO } });
  process.exit(r.status ?? 1);
}

async function main(): Promise<void> {
  if (!process.env.FL_BENCH_BUNDLED) reexec();
  benchDecode();
  await benchCpu();
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

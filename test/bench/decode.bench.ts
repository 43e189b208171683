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
import { enrichFlow, type IdentityIndex } from '../../src/flows/enrich';
import type { KubeObject } from '../../src/sandbox/apiserver/types';
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
  const last = flow.readBigUInt64LE(16); // fl_flow.last_ns
  for (let i = 0; i < n; i++) {
    flow.copy(out, 120 + i * 128);
    out.writeBigUInt64LE(last + BigInt(i * 20_000), 120 + i * 128 + 16); // ends 20 µs apart (50,000/s)
    out.writeUInt16LE(1024 + (i % 60000), 120 + i * 128 + 108); // sport (fl_flow.sport)
    out[120 + i * 128 + 88 + 3] = 10 + (i % 200); // last octet of daddr: 200 peers
    out.writeUInt32LE(10 + (i % 50), 120 + i * 128 + 104); // 50 interfaces
  }
  return out;
}

/** Median and spread of a few figures. */
function spread(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const fmt = (x: number): string => (x / 1e6).toFixed(2);
  return `${fmt(s[Math.floor(s.length / 2)]!)} M (${fmt(s[0]!)}–${fmt(s[s.length - 1]!)})`;
}

/** records/s by wall clock and by CPU time of `n` records through `run`, over `passes` passes. */
function rate(passes: number, n: number, run: () => number): { wall: number[]; cpu: number[] } {
  const wall: number[] = [];
  const cpu: number[] = [];
  run(); // warm-up (JIT)
  for (let p = 0; p < passes; p++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const got = run();
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (got !== n) throw new Error(`expected ${n} results, got ${got}`);
    wall.push((n / ms) * 1000);
    cpu.push((n / (c.user + c.system)) * 1e6);
  }
  return { wall, cpu };
}

function benchDecode(): void {
  const n = 500_000;
  const stream = syntheticStream(n);
  const chunk = 64 * 1024;
  const decode = (): number => {
    const d = new RecordDecoder();
    let count = -1; // HELLO
    for (let off = 0; off < stream.length; off += chunk) count += d.push(stream.subarray(off, off + chunk)).length;
    return count;
  };
  const flows = (): number => {
    const d = new RecordDecoder();
    const dp = new Datapath('bench');
    let count = 0;
    for (let off = 0; off < stream.length; off += chunk) count += dp.onBatch(d.push(stream.subarray(off, off + chunk))).length;
    return count;
  };
  const passes = Number(process.env.FL_BENCH_PASSES ?? 7);
  const a = rate(passes, n, decode);
  const b = rate(passes, n, flows);
  console.log(`| stage (one core, ${n} synthetic FLOW records × ${passes} passes, 64 KiB reads) | records/s (wall), median (min–max) | records per CPU-second, median (min–max) |`);
  console.log('| --- | --- | --- |');
  console.log(`| decode (RecordDecoder) | ${spread(a.wall)} | ${spread(a.cpu)} |`);
  console.log(`| decode + Hubble flow objects (Datapath) | ${spread(b.wall)} | ${spread(b.cpu)} |\n`);
}

/** The initiator's pod and half of the 200 peers are local pods (Deployment-owned, three labels). */
function benchPods(): IdentityIndex {
  const byIP = new Map<string, KubeObject>();
  const pod = (ip: string, name: string): void => {
    byIP.set(ip, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name: `${name}-7d4b9c8f6d-x2x9q`, namespace: 'shop', uid: ip,
        labels: { app: name, 'pod-template-hash': '7d4b9c8f6d', tier: 'backend' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-7d4b9c8f6d`, uid: `rs-${name}`, controller: true }],
      },
    });
  };
  pod('10.244.0.5', 'client');
  for (let i = 10; i < 110; i++) pod(`10.96.0.${i}`, `server${i}`);
  return { podByIP: (ip) => byIP.get(ip) };
}

/** One 5 s run of the pipeline at `perSec` flows/s: CPU seconds used and wall seconds taken. */
async function pipelineRun(stream: Buffer, perSec: number, seconds: number): Promise<{ wall: number; cpu: number; stored: number; bytesPerFlow: number }> {
  const d = new RecordDecoder();
  const dp = new Datapath('bench');
  const store = new FlowRing(65_536);
  const pods = benchPods();
  d.push(stream.subarray(0, 120));
  const perTick = perSec / 10; // the loader flushes every 250 ms; deliver in 100 ms batches
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
  return { wall, cpu: (cpu.user + cpu.system) / 1e6, stored: store.size, bytesPerFlow: retainedPerFlow(store) };
}

/** Heap bytes the store's flows keep alive, per flow (a measure that CPU contention does not blur). */
function retainedPerFlow(store: FlowRing): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return NaN;
  gc();
  const full = process.memoryUsage().heapUsed;
  const n = store.size;
  store.clear();
  gc();
  return (full - process.memoryUsage().heapUsed) / n;
}

async function benchCpu(): Promise<void> {
  const perSec = 50_000;
  const seconds = 5;
  const runs = Number(process.env.FL_BENCH_RUNS ?? 3);
  const stream = syntheticStream(perSec * seconds);
  console.log(`| agent pipeline at ${perSec} flows/s (decode, flows, enrich, store), run | stored | wall s | CPU s | cores | heap bytes per stored flow |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (let i = 1; i <= runs; i++) {
    const r = await pipelineRun(stream, perSec, seconds);
    console.log(`| ${i} | ${r.stored} of ${perSec * seconds} | ${r.wall.toFixed(1)} | ${r.cpu.toFixed(2)} | ${(r.cpu / r.wall).toFixed(3)} | ${r.bytesPerFlow.toFixed(0)} |`);
  }
  console.log('');
}

/** Re-runs this file bundled by esbuild (as the agent ships: dist/cli.js). */
function reexec(): never {
  const out = join(mkdtempSync(join(tmpdir(), 'fl-bench-')), 'decode.bench.js');
  execFileSync(join(REPO, 'node_modules', 'esbuild', 'bin', 'esbuild'), [__filename, '--bundle', '--platform=node', '--log-level=error', `--outfile=${out}`]);
  // --max-semi-space-size: the agent's own node flag (src/sandbox/runtime.ts, deploy/flowlens.yaml).
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=32', out, ...args], { stdio: 'inherit', env: { ...process.env, FL_BENCH_BUNDLED: '1', FL_REPO: REPO } });
  process.exit(r.status ?? 1);
}

async function main(): Promise<void> {
  if (!process.env.FL_BENCH_BUNDLED) reexec();
  // FL_BENCH_PART=decode|pipeline runs one part (e.g. under node --cpu-prof).
  const part = process.env.FL_BENCH_PART;
  if (part !== 'pipeline') benchDecode();
  if (part !== 'decode') await benchCpu();
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

// The loader's jiffies calibration (bpf/loader.c calibrate_jiffies) under CPU contention: tc flow
// times and the HTTP capture window are counted in jiffies, so a tick measured wrong skews every
// flow time and stretches or shrinks the window. Needs root (loads BPF).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { defaultLoaderPath, findRepoRoot } from '../../src/agent/loader';

const skip = process.getuid?.() === 0 ? false : 'needs root: loads BPF programs';

/** The tick the loader calibrated (its --verbose line), then the loader is stopped. */
function calibratedTick(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(defaultLoaderPath(), ['--prog-run', '--verbose'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (t: string) => {
      err += t;
      const m = /flow times in jiffies: tick (\d+) ns/.exec(err);
      if (m) {
        child.kill('SIGKILL');
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`loader exited (${code}) before calibrating: ${err}`)));
  });
}

test('the jiffies tick is calibrated exactly while every CPU is busy (a preempted poll used to give 72 us or 4.4 ms for a 4 ms tick)', { skip, timeout: 120_000 }, async () => {
  execFileSync('make', ['-s', '-C', join(findRepoRoot(), 'bpf')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const hogs: ChildProcess[] = [];
  try {
    for (let i = 0; i < cpus().length * 2; i++) hogs.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    const ticks: number[] = [];
    for (let i = 0; i < 20; i++) ticks.push(await calibratedTick());
    const nominal = [10_000_000, 4_000_000, 3_333_333, 1_000_000];
    assert.ok(nominal.includes(ticks[0]!), `a common HZ: ${ticks[0]} ns`);
    assert.deepEqual(ticks, Array<number>(ticks.length).fill(ticks[0]!), 'the same tick every time');
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
  }
});

// The batching cadence: the first flows after a quiet spell go out at once, a burst is one run,
// and runs are never closer than the interval. Mocked timers and clock: no wall-clock timing.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/flows/pacer';

test('first poke runs on the next turn; pokes within the interval coalesce into one run at the interval', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 1_000;
  const advance = (ms: number) => { clock += ms; mock.timers.tick(ms); };
  try {
    const runs: number[] = [];
    const p = new Pacer(100, () => runs.push(clock), () => clock);
    p.poke();
    p.poke();
    assert.deepEqual(runs, [], 'not synchronously: a burst is one batch');
    advance(0);
    assert.deepEqual(runs, [1_000], 'at once after a quiet spell');
    for (let i = 0; i < 5; i++) { p.poke(); advance(10); }
    assert.deepEqual(runs, [1_000], 'pokes inside the interval wait');
    advance(49);
    assert.deepEqual(runs, [1_000]);
    advance(1);
    assert.deepEqual(runs, [1_000, 1_100], 'five pokes: one more run, exactly one interval later');
    advance(500);
    p.poke();
    advance(0);
    assert.deepEqual(runs, [1_000, 1_100, 1_600], 'quiet again: at once');
    p.poke();
    p.dispose();
    advance(1_000);
    p.poke();
    advance(1_000);
    assert.equal(runs.length, 3, 'nothing after dispose');
  } finally {
    mock.timers.reset();
  }
});

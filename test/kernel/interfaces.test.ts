// The agent's interface watcher against real links: a new pod veth is attached on the link event
// (the safety poll here is a minute away), a deleted one is forgotten. Needs root (netns, veth).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { InterfaceWatcher } from '../../src/agent/interfaces';

const skip = process.getuid?.() === 0 ? false : 'needs root: creates a network namespace and veths';
const tag = randomBytes(3).toString('hex');
const NS = `fltif-${tag}`;
const IF = `fli${tag}`;

after(() => {
  spawnSync('ip', ['link', 'del', IF]);
  spawnSync('ip', ['netns', 'del', NS]);
});

async function until(what: string, ok: () => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!ok()) {
    assert.ok(Date.now() - t0 < ms, `${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

test('a new pod veth is attached on its link event, a deleted one forgotten, without waiting for the poll', { skip, timeout: 30_000 }, async () => {
  const commands: string[] = [];
  const logs: string[] = [];
  const w = new InterfaceWatcher((m) => logs.push(m), new RegExp(`^${IF}$`), 60_000);
  w.start({ command: async (line) => { commands.push(line); return { err: 0 }; } });
  try {
    await new Promise((r) => setTimeout(r, 300)); // `ip monitor` is listening
    assert.equal(commands.length, 0, 'no such link yet');
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['link', 'add', IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS]);
    const ifindex = Number(execFileSync('cat', [`/sys/class/net/${IF}/ifindex`], { encoding: 'utf8' }).trim());
    const ms = await until('attach', () => commands.includes(`attach ${ifindex}`), 5000);
    assert.deepEqual(w.interfaces, [{ ifindex, ifname: IF }]);
    execFileSync('ip', ['link', 'del', IF]);
    await until('forgotten', () => w.interfaces.length === 0, 5000);
    assert.equal(commands.filter((c) => c === `attach ${ifindex}`).length, 1, 'attached once');
    assert.deepEqual(logs, [], 'no errors, ip monitor running');
    process.stdout.write(`# attached ${ms} ms after the link appeared\n`);
  } finally {
    w.stop();
  }
});

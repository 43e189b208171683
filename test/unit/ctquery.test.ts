import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConntrackLookups, ConntrackNetlink } from '../../src/agent/ctquery';
import { ConntrackTable } from '../../src/agent/conntrack';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A stand-in helper: answers each query line with what `reply(line)` returns (a Node script). */
function fakeHelper(reply: string, restartMs?: number): ConntrackNetlink & { logs: string[] } {
  const script = `
const rl = require('node:readline').createInterface({ input: process.stdin });
const reply = ${reply};
rl.on('line', (line) => { const out = reply(line); if (out !== undefined) process.stdout.write(out); });`;
  const logs: string[] = [];
  const nl = new ConntrackNetlink(process.execPath, (m) => logs.push(m), ['-e', script], 2000, restartMs) as ConntrackNetlink & { logs: string[] };
  nl.logs = logs;
  return nl;
}

function emptyTable(): ConntrackTable {
  const dir = mkdtempSync(join(tmpdir(), 'fl-ct-'));
  writeFileSync(join(dir, 'nf_conntrack'), '');
  return new ConntrackTable(join(dir, 'nf_conntrack'), 0, 0);
}

const KNOWN = `(line) => {
  const [id, dir, proto, src, sport, dst, dport] = line.split(' ');
  if (dir === 'o' && dst === '10.96.0.20' && dport === '80') return id + ' = 10.244.0.7 8080\\n';
  if (dir === 'o' && dst === '10.244.0.9') return id + ' = 10.244.0.9 ' + dport + '\\n';
  if (dir === 'r' && src === '10.244.0.7' && sport === '8080') return id + ' = 10.96.0.20 80\\n';
  return id + ' -\\n';
}`;

test('lookups over the helper: translated, untranslated, unknown, by either direction', async () => {
  const nl = fakeHelper(KNOWN);
  nl.start();
  const ct = new ConntrackLookups(nl, emptyTable());
  try {
    assert.equal(ct.source, 'netlink');
    const answers = await Promise.all([
      ct.translated('10.244.0.5', 40000, '10.96.0.20', 80, 0n),
      ct.translated('10.244.0.5', 40001, '10.244.0.9', 81, 0n), // the entry's reply comes from where it was sent: not translated
      ct.translated('10.244.0.5', 40002, '10.1.1.1', 81, 0n), // no entry
      ct.original('10.244.0.5', 40000, '10.244.0.7', 8080, 0n),
      ct.original('10.244.0.5', 40000, '10.244.0.8', 8080, 0n),
    ]);
    assert.deepEqual(answers, [{ ip: '10.244.0.7', port: 8080 }, undefined, undefined, { ip: '10.96.0.20', port: 80 }, undefined]);
    assert.equal(nl.answered, 5);
    assert.equal(ct.table.reads, 0, 'the table was not read');
  } finally {
    nl.stop();
  }
});

test('an error answer turns netlink off for good: that lookup and the next ones read the table', async () => {
  const nl = fakeHelper(`(line) => line.split(' ')[0] + ' ! 1\\n'`);
  nl.start();
  const ct = new ConntrackLookups(nl, emptyTable());
  assert.equal(await ct.translated('10.244.0.5', 40000, '10.96.0.20', 80, 0n), undefined);
  assert.equal(ct.source, 'proc');
  assert.match(nl.failed ?? '', /errno 1/);
  assert.match(nl.logs.join('\n'), /conntrack lookups over netlink off: the kernel answered errno 1; reading \/proc\/net\/nf_conntrack instead/);
  assert.equal(ct.table.reads, 1);
  assert.equal(await ct.original('10.244.0.5', 40000, '10.244.0.7', 8080, process.hrtime.bigint()), undefined); // a SYN after that read: a new one
  assert.equal(ct.table.reads, 2);
});

test('a helper that cannot start, dies, or answers garbage: waiting lookups fall back, nothing hangs', async () => {
  const missing = new ConntrackNetlink('/nonexistent/flowlens-ctquery');
  missing.start();
  const ct1 = new ConntrackLookups(missing, emptyTable());
  assert.equal(await ct1.translated('10.244.0.5', 1, '10.96.0.20', 80, 0n), undefined);
  assert.match(missing.failed ?? '', /cannot run \/nonexistent\/flowlens-ctquery|exited/);
  const silent = new ConntrackNetlink(process.execPath, () => undefined, ['-e', 'process.stdin.resume(); setInterval(() => {}, 1000);'], 200);
  silent.start();
  const ct2 = new ConntrackLookups(silent, emptyTable());
  assert.equal(await ct2.translated('10.244.0.5', 1, '10.96.0.20', 80, 0n), undefined, 'a helper that never answers');
  assert.match(silent.failed ?? '', /no answer in 200 ms/);
  silent.stop();
  for (const reply of [`() => process.exit(3)`, `(line) => line.split(' ')[0] + ' = not-an-ip 80\\n'`, `(line) => '999 -\\n'`, `(line) => 'x'.repeat(5000)`]) {
    const nl = fakeHelper(reply);
    nl.start();
    const ct = new ConntrackLookups(nl, emptyTable());
    assert.equal(await ct.translated('10.244.0.5', 2, '10.96.0.20', 80, 0n), undefined, reply);
    assert.equal(ct.source, 'proc', reply);
    assert.ok(nl.failed, reply);
    nl.stop();
  }
});

test('answers name the client\'s end too: kept only when conntrack rewrote it (a tuple clash), never taken for a translation by itself', async () => {
  const nl = fakeHelper(`(line) => {
  const [id, dir, , src, sport, dst, dport] = line.split(' ');
  if (dir === 'o' && dport === '80') return id + ' = 10.244.0.7 8080 ' + src + ' ' + (sport === '23436' ? '21883' : sport) + '\\n';
  if (dir === 'o') return id + ' = ' + dst + ' ' + dport + ' ' + src + ' ' + (sport === '30000' ? '30001' : sport) + '\\n';
  if (dir === 'r') return id + ' = 10.96.0.20 80 ' + dst + ' 23436\\n';
  return id + ' -\\n';
}`);
  nl.start();
  const ct = new ConntrackLookups(nl, emptyTable());
  try {
    assert.deepEqual(await Promise.all([
      ct.translated('10.244.0.5', 23436, '10.96.0.20', 80, 0n), // port rewritten
      ct.translated('10.244.0.5', 23437, '10.96.0.20', 80, 0n), // not
      ct.translated('10.244.0.5', 30000, '10.244.0.9', 8080, 0n), // only the port rewritten
      ct.translated('10.244.0.5', 30002, '10.244.0.9', 8080, 0n), // nothing
      ct.original('10.244.0.5', 21883, '10.244.0.7', 8080, 0n), // the server sees the rewritten port
    ]), [
      { ip: '10.244.0.7', port: 8080, peer: { ip: '10.244.0.5', port: 21883 } },
      { ip: '10.244.0.7', port: 8080 },
      { ip: '10.244.0.9', port: 8080, peer: { ip: '10.244.0.5', port: 30001 } },
      undefined,
      { ip: '10.96.0.20', port: 80, peer: { ip: '10.244.0.5', port: 23436 } },
    ]);
  } finally {
    nl.stop();
  }
  const bad = fakeHelper(`(line) => line.split(' ')[0] + ' = 10.244.0.7 8080 not-an-ip 5\\n'`);
  bad.start();
  const ct2 = new ConntrackLookups(bad, emptyTable());
  assert.equal(await ct2.translated('10.244.0.5', 1, '10.96.0.20', 80, 0n), undefined);
  assert.match(bad.failed ?? '', /unexpected answer/);
  bad.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a helper that dies is started again after a backoff; meanwhile the table answers', async () => {
  // Each helper answers one lookup, then exits.
  const nl = fakeHelper(`(line) => { process.stdout.write(line.split(' ')[0] + ' = 10.244.0.7 8080\\n', () => process.exit(0)); }`, 100);
  nl.start();
  const ct = new ConntrackLookups(nl, emptyTable());
  try {
    assert.deepEqual(await ct.translated('10.244.0.5', 1, '10.96.0.20', 80, 0n), { ip: '10.244.0.7', port: 8080 });
    await waitUntil(() => nl.failed !== undefined);
    assert.match(nl.failed ?? '', /exited \(code 0/);
    assert.equal(ct.source, 'proc');
    assert.equal(await ct.translated('10.244.0.5', 2, '10.96.0.20', 80, 0n), undefined, 'while it is down: the table');
    assert.equal(ct.table.reads, 1);
    assert.match(nl.logs.join('\n'), /netlink off: .*exited.*until the helper restarts in 100 ms/);
    await waitUntil(() => ct.source === 'netlink');
    assert.equal(nl.restarts, 1);
    assert.deepEqual(await ct.translated('10.244.0.5', 3, '10.96.0.20', 80, 0n), { ip: '10.244.0.7', port: 8080 }, 'the new helper answers');
    assert.equal(nl.answered, 2);
    await waitUntil(() => nl.restarts === 2); // died again: the second wait is 200 ms
  } finally {
    nl.stop();
  }
  const restarts = nl.restarts;
  await sleep(500);
  assert.equal(nl.restarts, restarts, 'stopped: not started again');
});

test('what a restart cannot mend is not retried: a binary that cannot run, a kernel that refuses', async () => {
  const missing = new ConntrackNetlink('/nonexistent/flowlens-ctquery', () => undefined, [], 2000, 50);
  missing.start();
  const refused = fakeHelper(`(line) => line.split(' ')[0] + ' ! 1\\n'`, 50);
  refused.start();
  const ct = new ConntrackLookups(refused, emptyTable());
  assert.equal(await ct.translated('10.244.0.5', 1, '10.96.0.20', 80, 0n), undefined);
  await waitUntil(() => missing.failed !== undefined);
  await sleep(300);
  assert.deepEqual([missing.restarts, refused.restarts], [0, 0]);
  assert.match(missing.failed ?? '', /cannot run/);
  assert.match(refused.failed ?? '', /errno 1/);
  assert.doesNotMatch(refused.logs.join('\n'), /restarts in/);
  refused.stop();
});

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(10)) if (Date.now() > end) throw new Error(`not within ${ms} ms: ${String(cond)}`);
}

test('no helper configured: the table answers', async () => {
  const ct = new ConntrackLookups(undefined, emptyTable());
  assert.equal(ct.source, 'proc');
  assert.equal(await ct.translated('10.244.0.5', 2, '10.96.0.20', 80, 0n), undefined);
  assert.equal(ct.table.reads, 1);
});

// ConntrackTable: lookups that miss wait for a read that starts after them (nothing missed), and
// reads are spaced however many connections come (a large table costs ~5 µs per entry to read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConntrackTable } from '../../src/agent/conntrack';

const entry = (sport: number) =>
  `ipv4     2 tcp      6 117 ESTABLISHED src=10.244.0.5 dst=10.96.0.20 sport=${sport} dport=80 src=10.244.0.7 dst=10.244.0.5 sport=8080 dport=${sport} [ASSURED] mark=0 zone=0 use=2\n`;

test('conntrack table: a connection newer than the last read is still found; misses share spaced reads', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'fl-ct-')), 'nf_conntrack');
  writeFileSync(file, entry(40000));
  const ct = new ConntrackTable(file, 200, 10);
  assert.deepEqual(await ct.lookup('tcp', '10.244.0.5', 40000, '10.96.0.20', 80), { ip: '10.244.0.7', port: 8080 });
  assert.equal(ct.reads, 1);
  // Right after that read, a new connection's entry appears: its lookup waits for the next read.
  const synBefore = process.hrtime.bigint(); // the clock of the kernel's records (CLOCK_MONOTONIC)
  writeFileSync(file, entry(40000) + entry(40001));
  const t0 = Date.now();
  const misses = Array.from({ length: 50 }, (_, i) => ct.lookup('tcp', '10.244.0.5', 41000 + i, '10.244.0.9', 80)); // never translated
  const found = await ct.lookup('tcp', '10.244.0.5', 40001, '10.96.0.20', 80);
  assert.deepEqual(found, { ip: '10.244.0.7', port: 8080 }, 'an entry newer than the last read is found, not missed');
  assert.ok(Date.now() - t0 >= 150, 'the read waited for the spacing (200 ms after the last)');
  assert.deepEqual(await Promise.all(misses), Array(50).fill(undefined));
  assert.equal(ct.reads, 2, '51 misses in a burst: one more read');
  assert.deepEqual(await ct.originalDestination('tcp', '10.244.0.5', 40001, '10.244.0.7', 8080), { ip: '10.96.0.20', port: 80 }, 'a hit needs no read');
  assert.equal(ct.reads, 2);
  // A connection whose SYN came before the last read started: that read was final for it.
  const t1 = Date.now();
  assert.equal(await ct.lookup('tcp', '10.244.0.5', 42000, '10.244.0.9', 80, synBefore), undefined);
  assert.ok(Date.now() - t1 < 100, 'answered at once');
  assert.equal(ct.reads, 2, 'no read for it');
});

test('conntrack table: no file (no conntrack module): every lookup is undefined, one read tried', async () => {
  const ct = new ConntrackTable(join(tmpdir(), 'fl-ct-missing', 'nf_conntrack'));
  assert.equal(await ct.lookup('tcp', '10.0.0.1', 1, '10.0.0.2', 2), undefined);
  assert.equal(await ct.lookup('tcp', '10.0.0.1', 3, '10.0.0.2', 2), undefined);
  assert.equal(ct.reads, 1);
});

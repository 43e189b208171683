// ConntrackTable: lookups that miss wait for a read that starts after them (nothing missed), and
// reads are spaced however many connections come (a large table costs ~5 µs per entry to read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConntrackTable, parseConntrack } from '../../src/agent/conntrack';

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

// The line-by-line regex parseConntrack used before the in-place scan: the oracle.
function regexParse(text: string): Map<string, { ip: string; port: number }> {
  const out = new Map<string, { ip: string; port: number }>();
  const re = /^\S+\s+\d+\s+(tcp|udp|sctp)\s.*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) .*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const [, proto = '', os = '', od = '', osp, odp, rs = '', rd = '', rsp, rdp] = m;
    if (rs === od && rsp === odp) continue;
    out.set(`${proto} ${os}:${Number(osp)} ${od}:${Number(odp)}`, { ip: rs, port: Number(rsp) });
    out.set(`reply ${proto} ${rd}:${Number(rdp)} ${rs}:${Number(rsp)}`, { ip: od, port: Number(odp) });
  }
  return out;
}

const LINES = [
  entry(40000),
  'ipv4     2 tcp      6 94 TIME_WAIT src=10.244.0.2 dst=10.244.0.3 sport=53460 dport=8080 src=10.244.0.3 dst=10.244.0.2 sport=8080 dport=53460 [ASSURED] mark=0 zone=0 use=2\n',
  'ipv4     2 udp      17 29 src=10.244.0.5 dst=10.96.0.10 sport=5353 dport=53 [UNREPLIED] src=10.244.0.1 dst=10.244.0.5 sport=53 dport=5353 mark=0 zone=0 use=2\n',
  'ipv4     2 icmp     1 29 src=10.244.0.5 dst=10.96.0.10 type=8 code=0 id=7 src=10.244.0.9 dst=10.244.0.5 type=0 code=0 id=7 mark=0 use=1\n',
  'ipv6     10 tcp      6 431999 ESTABLISHED src=fd00::5 dst=fd00:96::20 sport=41000 dport=443 src=fd00::7 dst=fd00::5 sport=8443 dport=41000 [ASSURED] mark=0 use=2\n',
  'ipv4     2 sctp     132 3 ESTABLISHED src=10.0.0.1 dst=10.96.3.3 sport=9 dport=9 src=10.0.0.2 dst=10.0.0.9 sport=9 dport=9 [ASSURED] use=1\n', // DNAT + SNAT
  'ipv4     2 tcp      6 117 SYN_SENT src=10.244.0.5 dst=10.96.0.20 sport=40001 dport=80 src=10.244.0.7 dst=10.244.0.5 sport=8080 dport=40001',
];

test('parseConntrack scans in place exactly as the line regex did: real lines, then 20,000 mutated ones', () => {
  const text = LINES.join('');
  assert.deepEqual(parseConntrack(text), regexParse(text));
  assert.equal(parseConntrack(text).size, 10, 'five translated entries (two TCP to a VIP, UDP DNS, IPv6, SCTP with SNAT), two keys each; TIME_WAIT pod to pod and ICMP are not');
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const alphabet = ' =.:0123456789abcdefsrcdtportupTCPxyz[]\n';
  for (let i = 0; i < 20_000; i++) {
    const base = LINES[rand(LINES.length)]!;
    const chars = base.split('');
    for (let m = rand(4); m >= 0; m--) {
      const at = rand(chars.length + 1);
      const op = rand(3);
      if (op === 0) chars.splice(at, 1);
      else if (op === 1) chars.splice(at, 0, alphabet[rand(alphabet.length)]!);
      else chars[at] = alphabet[rand(alphabet.length)]!;
    }
    const mutated = chars.join('') + LINES[rand(LINES.length)]!;
    assert.deepEqual(parseConntrack(mutated), regexParse(mutated), JSON.stringify(mutated));
  }
});

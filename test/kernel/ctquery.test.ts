// Real kernel: flowlens-ctquery (bpf/ctquery.c) and ConntrackLookups against conntrack entries of
// a fresh network namespace, where an iptables DNAT rule plays kube-proxy. Needs root.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { findRepoRoot } from '../../src/agent/loader';
import { ConntrackLookups, ConntrackNetlink, defaultCtqueryPath } from '../../src/agent/ctquery';
import { ConntrackTable } from '../../src/agent/conntrack';

const ROOT_SKIP = process.getuid?.() === 0 ? false : 'needs root: creates a network namespace with iptables rules and reads its conntrack table';
const NS = `fltest-ct-${randomBytes(3).toString('hex')}`;
const ADDR = '10.98.0.1'; // the namespace's own address (on a veth inside it)
const VIP = '10.99.0.1'; // translated to ADDR:8080 by the DNAT rule
const children: ChildProcess[] = [];

function inNs(...cmd: string[]): string {
  return execFileSync('ip', ['netns', 'exec', NS, ...cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A server on :8080 and two connections held open: one to VIP:80 (translated), one to ADDR:8080. Resolves their client ports. */
function connections(): Promise<{ viaVip: number; direct: number }> {
  const script = `
const net = require('node:net');
net.createServer((s) => s.resume()).listen(8080, '0.0.0.0', () => {
  const a = net.connect(80, '${VIP}', () => {
    const b = net.connect(8080, '${ADDR}', () => console.log(JSON.stringify({ viaVip: a.localPort, direct: b.localPort })));
  });
});`;
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()) as { viaVip: number; direct: number }));
    child.once('exit', (code) => reject(new Error(`traffic exited (code ${code})`)));
  });
}

function query(lines: string): string {
  return execFileSync('ip', ['netns', 'exec', NS, defaultCtqueryPath()], { input: lines, encoding: 'utf8' });
}

before(() => {
  if (ROOT_SKIP) return;
  execFileSync('make', ['-s', '-C', join(findRepoRoot(), 'bpf'), '.output/flowlens-ctquery'], { stdio: ['ignore', 'inherit', 'inherit'] });
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  execFileSync('ip', ['-n', NS, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']); // no dummy module here
  execFileSync('ip', ['-n', NS, 'link', 'set', 'd1', 'up']);
  execFileSync('ip', ['-n', NS, 'addr', 'add', `${ADDR}/24`, 'dev', 'd0']);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'd0', 'up']);
  execFileSync('ip', ['-n', NS, 'route', 'add', `${VIP}/32`, 'dev', 'd0']);
  inNs('iptables', '-t', 'nat', '-A', 'OUTPUT', '-d', VIP, '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', `${ADDR}:8080`);
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
  if (ROOT_SKIP) return;
  try {
    execFileSync('ip', ['netns', 'del', NS]);
  } catch (err) {
    console.error(`cleanup: ip netns del ${NS}: ${String(err)}`);
  }
});

test('flowlens-ctquery: a translated entry by either tuple, an untranslated one, none, and invalid lines', { skip: ROOT_SKIP, timeout: 30000 }, async () => {
  const { viaVip, direct } = await connections();
  const out = query([
    `1 o 6 ${ADDR} ${viaVip} ${VIP} 80`, // as the client sent it: where it went
    `2 r 6 ${ADDR} 8080 ${ADDR} ${viaVip}`, // as the server answers its peer: what the client dialled
    `3 o 6 ${ADDR} ${direct} ${ADDR} 8080`, // not translated: the reply comes from where it was sent
    `4 o 6 ${ADDR} ${viaVip} ${VIP} 81`, // no such entry
    `5 o 17 ${ADDR} ${viaVip} ${VIP} 80`, // another protocol: none
    '6 o 6 300.1.1.1 1 10.0.0.1 1', '7 o 6 10.0.0.1 70000 10.0.0.1 1', '8 x 6 10.0.0.1 1 10.0.0.1 1', '9 o 1 10.0.0.1 1 10.0.0.1 1',
    `10 o 6 ::1 1 ${VIP} 80`, 'nonsense', '',
  ].join('\n') + '\n');
  assert.deepEqual(out.trim().split('\n'), [
    `1 = ${ADDR} 8080 ${ADDR} ${viaVip}`, `2 = ${VIP} 80 ${ADDR} ${viaVip}`, `3 = ${ADDR} 8080 ${ADDR} ${direct}`, '4 -', '5 -',
    '6 ! 22', '7 ! 22', '8 ! 22', '9 ! 22', '10 ! 22', '0 ! 22', '0 ! 22',
  ]);
  // The agent's lookups through the helper: what the socket flows use.
  const nl = new ConntrackNetlink('ip', () => undefined, ['netns', 'exec', NS, defaultCtqueryPath()]);
  nl.start();
  const ct = new ConntrackLookups(nl, new ConntrackTable('/nonexistent'));
  try {
    assert.deepEqual(await Promise.all([
      ct.translated(ADDR, viaVip, VIP, 80, 0n),
      ct.original(ADDR, viaVip, ADDR, 8080, 0n),
      ct.translated(ADDR, direct, ADDR, 8080, 0n),
      ct.original(ADDR, direct, ADDR, 8080, 0n),
    ]), [{ ip: ADDR, port: 8080 }, { ip: VIP, port: 80 }, undefined, undefined]);
    assert.equal(ct.source, 'netlink');
    assert.equal(nl.answered, 4);
  } finally {
    nl.stop();
  }
});

test('flowlens-ctquery: a client port conntrack rewrote (a tuple clash) is named by both directions\' answers', { skip: ROOT_SKIP, timeout: 30000 }, async () => {
  // From port P straight to ADDR:8080, closed (its entry stays in TIME_WAIT), then from P again
  // through the VIP: after the DNAT its reply tuple would repeat the first one's, so conntrack
  // moves the client to another port P' (what a backend then sees).
  const P = 47001;
  const script = `
const net = require('node:net');
const go = () => {
  const a = net.connect({ port: 8080, host: '${ADDR}', localPort: ${P} }, () => a.end());
  a.on('error', (e) => { console.error('direct: ' + e.message); process.exit(2); });
  a.on('close', () => {
    const b = net.connect({ port: 80, host: '${VIP}', localPort: ${P} }, () => console.log(JSON.stringify({ port: b.localPort })));
    b.on('error', (e) => { console.error('via VIP: ' + e.message); process.exit(3); });
  });
};
const srv = net.createServer((s) => s.resume());
srv.on('error', go); // the first test's server already listens: use it
srv.listen(8080, '0.0.0.0', go);`;
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()) as { port: number }));
    child.once('exit', (code) => reject(new Error(`traffic exited (code ${code})`)));
  });
  assert.equal(port, P, 'the socket keeps its port');
  const first = query(`1 o 6 ${ADDR} ${P} ${VIP} 80\n`).trim();
  const m = new RegExp(`^1 = ${ADDR.replace(/\./g, '\\.')} 8080 ${ADDR.replace(/\./g, '\\.')} (\\d+)$`).exec(first);
  assert.ok(m, first);
  const seen = Number(m[1]);
  assert.notEqual(seen, P, 'conntrack moved the client to another port');
  assert.deepEqual(query(`2 r 6 ${ADDR} 8080 ${ADDR} ${seen}\n3 o 6 ${ADDR} ${P} ${ADDR} 8080\n`).trim().split('\n'), [
    `2 = ${VIP} 80 ${ADDR} ${P}`, // the server's view of it: what was dialled, and from which port
    `3 = ${ADDR} 8080 ${ADDR} ${P}`, // the closed direct connection's entry, unchanged
  ]);
  // Through the agent's lookups: the rewritten end comes with the translation.
  const nl = new ConntrackNetlink('ip', () => undefined, ['netns', 'exec', NS, defaultCtqueryPath()]);
  nl.start();
  const ct = new ConntrackLookups(nl, new ConntrackTable('/nonexistent'));
  try {
    assert.deepEqual(await ct.translated(ADDR, P, VIP, 80, 0n), { ip: ADDR, port: 8080, peer: { ip: ADDR, port: seen } });
    assert.deepEqual(await ct.original(ADDR, seen, ADDR, 8080, 0n), { ip: VIP, port: 80, peer: { ip: ADDR, port: P } });
  } finally {
    nl.stop();
  }
});

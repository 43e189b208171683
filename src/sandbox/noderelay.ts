// Crossing between the host's root netns (daemon, API server) and a node's netns (its agent,
// bound to 127.0.0.1 there) in a multi-node sandbox. Unix sockets are not netns-scoped, so one
// tiny relay per node, started inside the node's netns, bridges both ways:
// - node 127.0.0.1:<api port> (TCP) -> <state dir>/api.sock -> the API server on the host's
//   127.0.0.1: the node's agent uses the same kubeconfig as everyone else;
// - <state dir>/nodes/<node>.sock -> node 127.0.0.1:<port>, the port named by the first line the
//   client sends ("4260\n"); the relay answers "+\n" once connected, "-\n" if not. The daemon's
//   port-forward dialer uses it for hostNetwork pods of that node.
// Sockets are mode 0600 in the (root-only) state dir.
import { spawn } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { OWNER_ENV } from './net/names';
import type { ProcHandle } from './runtime';

const RELAY_SCRIPT = String.raw`
const net = require('node:net'); const fs = require('node:fs');
const [apiPort, apiSock, dialSock] = process.argv.slice(1);
const pipe = (a, b) => { a.pipe(b); b.pipe(a); for (const [x, y] of [[a, b], [b, a]]) { x.on('error', () => y.destroy()); x.on('close', () => y.destroy()); } };
let up = 0; const ready = () => { if (++up === 2) process.stdout.write('ready\n'); };
net.createServer((c) => pipe(c, net.connect(apiSock))).listen(Number(apiPort), '127.0.0.1', ready);
try { fs.unlinkSync(dialSock); } catch {}
net.createServer((c) => {
  let buf = Buffer.alloc(0);
  const onData = (d) => {
    buf = Buffer.concat([buf, d]);
    const nl = buf.indexOf(10);
    if (nl < 0) { if (buf.length > 8) c.destroy(); return; }
    c.off('data', onData); c.pause();
    const text = buf.subarray(0, nl).toString(); const port = Number(text);
    if (!/^[0-9]{1,5}$/.test(text) || port < 1 || port > 65535) { c.end('-\n'); return; }
    const rest = buf.subarray(nl + 1);
    const t = net.connect(port, '127.0.0.1', () => { c.write('+\n'); if (rest.length) t.write(rest); pipe(c, t); c.resume(); });
    t.once('error', () => c.end('-\n'));
  };
  c.on('data', onData); c.on('error', () => {});
}).listen(dialSock, () => { fs.chmodSync(dialSock, 0o600); ready(); });
`;

export function dialSocketPath(stateDir: string, node: string): string {
  return join(stateDir, 'nodes', `${node}.sock`);
}

export function apiSocketPath(stateDir: string): string {
  return join(stateDir, 'api.sock');
}

/** The host end of the API crossing: `api.sock` piped to the API server on 127.0.0.1:port. */
export function startApiSocket(stateDir: string, apiPort: number): Promise<Server> {
  const path = apiSocketPath(stateDir);
  rmSync(path, { force: true });
  const server = createServer((c) => {
    const t = connect({ host: '127.0.0.1', port: apiPort });
    for (const [x, y] of [[c, t], [t, c]] as [Socket, Socket][]) { x.pipe(y); x.on('error', () => y.destroy()); x.on('close', () => y.destroy()); }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { chmodSync(path, 0o600); resolve(server); });
  });
}

export interface RelaySpec { netns: string; node: string; stateDir: string; apiPort: number; owner: string; logFd: number }

/** Starts the relay inside the node's netns (nsenter: only the netns changes) and waits for "ready". */
export async function startNodeRelay(spec: RelaySpec): Promise<ProcHandle> {
  const args = ['--net=/run/netns/' + spec.netns, '--', process.execPath, '-e', RELAY_SCRIPT, String(spec.apiPort), apiSocketPath(spec.stateDir), dialSocketPath(spec.stateDir, spec.node)];
  const child = spawn('nsenter', args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [OWNER_ENV]: spec.owner }, stdio: ['ignore', 'pipe', spec.logFd] });
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, sig) => { done = true; resolve(sig ?? String(code)); });
    child.on('error', (e) => { done = true; resolve(`error: ${e.message}`); });
  });
  const stop = async (): Promise<void> => { if (!done) { child.kill('SIGTERM'); await exited; } };
  const ok = await new Promise<boolean>((resolve) => {
    child.stdout?.on('data', (b: Buffer) => { if (b.toString().includes('ready')) resolve(true); });
    void exited.then(() => resolve(false));
    setTimeout(() => resolve(false), 5000).unref();
  });
  if (!ok) { await stop(); throw new Error(`the relay of node ${spec.node} did not start (see the daemon log)`); }
  return { pid: child.pid ?? -1, exited, stop };
}

/** A TCP connection to 127.0.0.1:port inside a node's netns, through its relay. */
export function dialThroughRelay(sockPath: string, port: number, timeoutMs = 5000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(sockPath);
    let got = '';
    const fail = (why: string): void => { s.destroy(); reject(new Error(why)); };
    const timer = setTimeout(() => fail(`relay ${sockPath}: no answer in ${timeoutMs} ms`), timeoutMs);
    const onData = (b: Buffer): void => {
      got += b.toString('latin1');
      if (got.length < 2) return;
      clearTimeout(timer);
      s.off('data', onData);
      s.pause(); // nothing is read before the caller listens: its code after `await` runs before the resume below
      if (!got.startsWith('+\n')) { fail(`connection refused by 127.0.0.1:${port} in the node's netns`); return; }
      if (got.length > 2) s.unshift(Buffer.from(got.slice(2), 'latin1'));
      resolve(s);
      setImmediate(() => s.resume());
    };
    s.on('data', onData);
    s.once('connect', () => s.write(`${port}\n`));
    s.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

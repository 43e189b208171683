// Benchmark of the eBPF datapath. `npm run bench -- datapath` (root; takes the host-wide sandbox lock).
//  1. wrk keep-alive from a client pod to the flowlens-podd HTTP server in another pod, interleaved
//     rounds of: no agent datapath (`sandbox agent stop`), the agent with everything on, and
//     `tcpdump -i <server veth> -w /dev/null` (no agent, then per round: agent, no agent, tcpdump,
//     no agent); medians and ratios from the same run. "no agent"
//     checks that no tc filter is left on the pods' veths and removes an empty clsact qdisc left
//     behind, so that mode has no hook at all.
//  2. --bpf-stats: also turns kernel.bpf_stats_enabled on during the agent runs and prints the tc
//     programs' ns/packet (run_time_ns / run_cnt; the stats themselves cost ~20-40 ns per run, so
//     the agent's req/s in that run is a little low). $FLOWLENS_LOADER picks another loader binary
//     (e.g. an older build, for before/after).
// Records/s through the decoder and the agent's CPU at 50,000 flows/s: `npm run bench -- decode`.
// Prints tables; asserts nothing. Options: --rounds N (21) --seconds S (3) --connections C (16) --bpf-stats
// --cpu N (0) --no-pin. Installs wrk and tcpdump with apt-get when they are missing.
//  4. --churn: the agent under connection churn, at paced rates (--rates 2000,5000,8000 connections
//     per second, --seconds each): a Node client in the client pod opens one HTTP/1.1 connection
//     per request (Connection: close), --to pod,service (both by default): to the server pod's
//     address, or through its ClusterIP (kube-proxy's DNAT: every connection is translated, and
//     the agent joins it from its two tc views, asking conntrack only when they cannot tell).
//     Client and server on --cpu, the agent and its loader on the
//     other CPU; prints connections/s, flows/s, the agent tree's CPU per connection and per flow, the
//     cores it would take at 50,000 flows/s, and every lost_events source that moved.
//  3. One core: wrk, the server, the agent with its loader and children, and tcpdump are all pinned
//     to CPU --cpu (veth traffic is then handled in that CPU's softirq as well), so every mode pays
//     for everything it runs on the core the requests use. Unpinned on a shared 2-core VM one run
//     moved by ±5-10 % against the next (where the scheduler put wrk, the server and the softirq
//     work changed from run to run); pinned, by about ±1 %. --no-pin runs unpinned. The verdict is
//     the median of per-round paired ratios (each mode against the no-agent run of the same round),
//     with its interquartile range.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SandboxState } from '../../src/sandbox/state';
import { DEFAULT_AGENT_PORT } from '../../src/agents/protocol';

const LOCK = '/run/flowlens-tests.lock';
const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const REPO = process.env.FL_REPO ?? process.cwd();
const CLI = join(REPO, 'dist', 'cli.js');

function cli(...a: string[]): string {
  return execFileSync(process.execPath, [CLI, ...a], { encoding: 'utf8', timeout: 180_000 });
}

const MANIFEST = `apiVersion: v1
kind: Namespace
metadata: { name: bench-dp }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: bench-dp }
spec: { containers: [ { name: c, image: flowlens/echo, ports: [ { containerPort: 7000 } ] } ] }
---
apiVersion: v1
kind: Pod
metadata: { name: server, namespace: bench-dp, labels: { app: bench-server } }
spec: { containers: [ { name: s, image: flowlens/echo, ports: [ { name: http, containerPort: 8080 } ] } ] }
---
apiVersion: v1
kind: Service
metadata: { name: server, namespace: bench-dp }
spec: { selector: { app: bench-server }, ports: [ { port: 80, targetPort: 8080 } ] }
`;

type Mode = 'no agent' | 'agent' | 'tcpdump';
const BPF_STATS = args.includes('--bpf-stats');
const PIN = args.includes('--no-pin') ? undefined : opt('cpu', 0);
if (PIN !== undefined && !(Number.isInteger(PIN) && PIN >= 0 && PIN < availableParallelism())) throw new Error(`--cpu must be a CPU of this machine (0..${availableParallelism() - 1})`);

/** Threads of a process and of its descendants. */
function treeTasks(pid: number): number[] {
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return []; // gone
  }
  const out = tasks.map(Number);
  for (const t of tasks) {
    let kids: string[] = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch { /* gone */ }
    for (const k of kids) out.push(...treeTasks(Number(k)));
  }
  return out;
}

/** Pins a process, its threads and its descendants to the benchmark's CPU (nothing with --no-pin). */
function pin(pid: number | undefined): void {
  if (PIN === undefined || pid === undefined) return;
  for (const t of treeTasks(pid)) spawnSync('taskset', ['-pc', String(PIN), String(t)], { stdio: 'ignore' });
}
const pinned = (cmd: string[]): string[] => (PIN === undefined ? cmd : ['taskset', '-c', String(PIN), ...cmd]);

interface ProgStat { runs: number; ns: number }
/** run_cnt and run_time_ns of the tc programs currently loaded, summed by name. */
function tcStats(): Record<string, ProgStat> {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { name?: string; run_cnt?: number; run_time_ns?: number }[];
  const out: Record<string, ProgStat> = {};
  for (const p of progs) {
    if (p.name !== 'tc_ingress' && p.name !== 'tc_egress' && p.name !== 'tc_bridge_egress') continue;
    const o = (out[p.name] ??= { runs: 0, ns: 0 });
    o.runs += p.run_cnt ?? 0;
    o.ns += p.run_time_ns ?? 0;
  }
  return out;
}
const statRuns: Record<string, ProgStat> = {};

/** "no agent" must mean no hook: no tc filter on the veths or the bridge, and no (empty) clsact qdisc left. */
function noHooks(s: SandboxState): string {
  const notes: string[] = [];
  const devs = [...s.pods.flatMap((p) => (p.veth ? [p.veth] : [])), s.node.bridge];
  for (const dev of devs) {
    const f = ['ingress', 'egress'].map((d) => execFileSync('tc', ['filter', 'show', 'dev', dev, d], { encoding: 'utf8' }).trim()).join('');
    if (f) throw new Error(`no agent, yet tc filters on ${dev}: ${f}`);
    if (execFileSync('tc', ['qdisc', 'show', 'dev', dev], { encoding: 'utf8' }).includes('clsact')) {
      execFileSync('tc', ['qdisc', 'del', 'dev', dev, 'clsact']);
      notes.push(dev);
    }
  }
  const left = Object.keys(tcStats());
  if (left.length) throw new Error(`no agent, yet tc programs loaded: ${left.join(', ')}`); // tcx links die with them
  return notes.length ? `removed empty clsact on ${notes.join(', ')}` : '';
}

interface Run { rps: number; cpuUsPerReq: number; agentUsPerReq?: number }

/**
 * CPU time (ms) of a process, its threads and its running children (the agent: its loader, ip
 * monitor), from schedstat (ns; the ticks of /proc/PID/stat are 10 ms coarse).
 */
function processTreeMs(pid: number): number {
  const one = (p: number): number => {
    try {
      return readdirSync(`/proc/${p}/task`).reduce((s, t) => s + Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]) / 1e6, 0);
    } catch {
      return 0;
    }
  };
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { /* gone */ }
  return one(pid) + kids.reduce((s, k) => s + one(k), 0);
}

/** Busy CPU time of the whole machine in ms (/proc/stat: user+nice+system+irq+softirq; idle, iowait and steal left out). */
function busyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = f;
  return (user + nice + system + irq + softirq) * 10; // USER_HZ = 100
}

/** wrk and tcpdump from Debian's packages, when missing (the benchmark runs as root). */
function ensureTools(): void {
  const missing = ['wrk', 'tcpdump'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (!missing.length) return;
  process.stderr.write(`installing ${missing.join(' ')} (apt-get)\n`);
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

function wrk(netns: string, url: string, seconds: number, conns: number): Run {
  const cpu0 = busyMs();
  const out = execFileSync('ip', ['netns', 'exec', netns, ...pinned(['wrk', '-t1', `-c${conns}`, `-d${seconds}s`, url])], { encoding: 'utf8' });
  const cpu = busyMs() - cpu0;
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const n = /(\d+) requests in/.exec(out);
  if (!m || !n) throw new Error(`no Requests/sec in wrk output:\n${out}`);
  return { rps: Number(m[1]), cpuUsPerReq: (cpu * 1000) / Number(n[1]) };
}

async function runMode(mode: Mode, s: SandboxState, seconds: number, conns: number): Promise<Run> {
  const client = s.pods.find((p) => p.name === 'client')!;
  const server = s.pods.find((p) => p.name === 'server')!;
  cli('sandbox', 'agent', mode === 'agent' ? 'start' : 'stop');
  const agentPid = s.pods.find((p) => p.role === 'agent')?.pid;
  if (mode === 'agent') {
    await new Promise((r) => setTimeout(r, 4000)); // attached (the watcher scans at once), the loader's start and first full pass over: an agent left on
    pin(agentPid); // its new loader
  }
  else await new Promise((r) => setTimeout(r, 500)); // the loader's exit removes its filters
  if (mode !== 'agent') {
    const note = noHooks(s);
    if (note) process.stderr.write(`${mode}: ${note}\n`);
  }
  const dumpCmd = pinned(['tcpdump', '-i', server.veth!, '-w', '/dev/null']);
  const dump = mode === 'tcpdump' ? spawn(dumpCmd[0]!, dumpCmd.slice(1), { stdio: 'ignore' }) : undefined;
  if (dump) await new Promise((r) => setTimeout(r, 1000));
  const stats = mode === 'agent' && BPF_STATS;
  if (stats) execFileSync('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
  const before = stats ? tcStats() : {};
  const agent0 = mode === 'agent' && agentPid ? processTreeMs(agentPid) : 0;
  try {
    const run = wrk(client.netns!, `http://${server.ip}:8080/bench`, seconds, conns);
    if (mode === 'agent' && agentPid) run.agentUsPerReq = ((processTreeMs(agentPid) - agent0) * 1000) / (run.rps * seconds);
    return run;
  } finally {
    dump?.kill('SIGTERM');
    if (stats) {
      for (const [name, a] of Object.entries(tcStats())) {
        const o = (statRuns[name] ??= { runs: 0, ns: 0 });
        o.runs += a.runs - (before[name]?.runs ?? 0);
        o.ns += a.ns - (before[name]?.ns ?? 0);
      }
      execFileSync('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=0']);
    }
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The bench's two pods in a fresh sandbox, for the length of fn; the sandbox is taken down after. */
async function withSandbox(fn: (s: SandboxState) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fl-bench-dp-'));
  writeFileSync(join(dir, 'm.yaml'), MANIFEST);
  cli('sandbox', 'up', '-f', join(dir, 'm.yaml'));
  try {
    await new Promise((r) => setTimeout(r, 3000));
    await fn(JSON.parse(cli('sandbox', 'status', '-o', 'json')) as SandboxState);
  } finally {
    cli('sandbox', 'down');
  }
}

async function benchWrk(): Promise<void> {
  ensureTools();
  const rounds = opt('rounds', 21);
  const seconds = opt('seconds', 3);
  const conns = opt('connections', 16);
  await withSandbox(async (s) => {
    pin(s.pods.find((p) => p.name === 'server')?.pid);
    pin(s.pods.find((p) => p.role === 'agent')?.pid);
    const runs: Record<Mode, Run[]> = { 'no agent': [], agent: [], tcpdump: [] };
    const order: Mode[] = ['no agent', 'agent', 'tcpdump'];
    // no agent, then per round: agent, no agent, tcpdump, no agent. Each agent and tcpdump run lies
    // between two no-agent runs, and is compared with their mean (a drift of the machine cancels).
    runs['no agent'].push(await runMode('no agent', s, seconds, conns));
    for (let r = 0; r < rounds; r++) {
      for (const mode of ['agent', 'no agent', 'tcpdump', 'no agent'] as const) runs[mode].push(await runMode(mode, s, seconds, conns));
      process.stderr.write(`round ${r + 1}/${rounds}: ${order.map((m) => `${m} ${runs[m].at(-1)?.rps.toFixed(0)} req/s ${runs[m].at(-1)?.cpuUsPerReq.toFixed(2)} µs/req`).join(', ')}, agent user space ${runs.agent.at(-1)?.agentUsPerReq?.toFixed(3) ?? '-'} µs/req\n`);
    }
    const results = Object.fromEntries(order.map((m) => [m, runs[m].map((x) => x.rps)])) as Record<Mode, number[]>;
    cli('sandbox', 'agent', 'start');
    const base = median(results['no agent']);
    console.log(`wrk keep-alive, ${conns} connections, ${seconds} s runs, ${rounds} interleaved rounds (client pod -> podd HTTP in another pod), ${PIN === undefined ? 'unpinned' : `wrk, server, agent and tcpdump on CPU ${PIN}`}\n`);
    console.log('| mode | median req/s | runs | ratio to no agent | cost |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const m of order) {
      const med = median(results[m]);
      console.log(`| ${m} | ${med.toFixed(0)} | ${results[m].map((x) => x.toFixed(0)).join(' ')} | ${(med / base).toFixed(3)} | ${((1 - med / base) * 100).toFixed(1)}% |`);
    }
    const agentCost = 1 - median(results.agent) / base;
    const dumpCost = 1 - median(results.tcpdump) / base;
    console.log(`\nagent cost / tcpdump cost (medians): ${dumpCost > 0 ? (agentCost / dumpCost).toFixed(2) : 'n/a'}\n`);
    // Per round: each mode against the mean of the no-agent runs just before and just after it.
    const baseOf = (m: Mode, i: number): number => {
      const a = results['no agent'];
      const j = m === 'agent' ? 2 * i : 2 * i + 1;
      return m === 'no agent' ? a[i]! : (a[j]! + a[j + 1]!) / 2;
    };
    const paired = (m: Mode) => results[m].map((x, i) => 1 - x / baseOf(m, i));
    const q = (xs: number[], f: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.max(0, Math.round(f * (s.length - 1))))]!; };
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    console.log('| mode | paired cost: median of per-round (1 - req/s / mean of the no-agent runs before and after) | interquartile range |');
    console.log('| --- | --- | --- |');
    for (const m of ['agent', 'tcpdump'] as const) console.log(`| ${m} | ${pct(median(paired(m)))} | ${pct(q(paired(m), 0.25))} … ${pct(q(paired(m), 0.75))} |`);
    const pa = median(paired('agent'));
    const pt = median(paired('tcpdump'));
    console.log(`\nagent cost / tcpdump cost (paired medians): ${pt > 0 ? (pa / pt).toFixed(2) : 'n/a'}\n`);
    // The same runs by busy CPU time per request (whole machine): less sensitive than req/s to other
    // load and to steal, since the machine is saturated in every mode; per-round pairs cancel drift.
    const cpuBase = median(runs['no agent'].map((x) => x.cpuUsPerReq));
    console.log('| mode | median CPU µs per request | runs | extra CPU per request | median of per-round req/s ratios |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const m of order) {
      const c = runs[m].map((x) => x.cpuUsPerReq);
      const paired = median(runs[m].map((x, i) => x.rps / baseOf(m, i)));
      console.log(`| ${m} | ${median(c).toFixed(2)} | ${c.map((x) => x.toFixed(2)).join(' ')} | ${((median(c) / cpuBase - 1) * 100).toFixed(1)}% | ${paired.toFixed(3)} |`);
    }
    const agentCpu = runs.agent.map((x) => x.agentUsPerReq ?? 0);
    console.log(`\nagent + loader user-space CPU during the agent runs: ${median(agentCpu).toFixed(3)} µs per request (median), ${((median(agentCpu) / cpuBase) * 100).toFixed(2)}% of a request's CPU\n`);
    if (BPF_STATS) {
      console.log(`bpf_stats during the agent runs (loader ${process.env.FLOWLENS_LOADER ?? 'bpf/.output/flowlens-loader'})\n`);
      console.log('| program | packets | ns/packet |');
      console.log('| --- | --- | --- |');
      for (const [name, o] of Object.entries(statRuns)) console.log(`| ${name} | ${o.runs} | ${o.runs ? (o.ns / o.runs).toFixed(0) : '-'} |`);
    }
  });
}

/** Paced connection churn from the client pod: `rate` new connections a second for `seconds`. */
const CHURN_CLIENT = `
const net = require('node:net');
const [rate, seconds, host, port] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
const req = Buffer.from('GET /bench HTTP/1.1\\r\\nHost: bench\\r\\nConnection: close\\r\\n\\r\\n');
let started = 0, done = 0, failed = 0, inflight = 0;
const t0 = Date.now();
function one() {
  started++; inflight++;
  const s = net.connect(port, host, () => s.write(req));
  let ok = false;
  s.on('data', () => { ok = true; });
  s.on('end', () => s.end());
  s.on('error', () => {});
  s.on('close', () => { inflight--; ok ? done++ : failed++; });
}
(function tick() {
  const elapsed = (Date.now() - t0) / 1000;
  if (elapsed < seconds) {
    for (let due = Math.floor(elapsed * rate) - started; due > 0 && inflight < 512; due--) one();
    setTimeout(tick, 2);
  } else if (inflight > 0) setTimeout(tick, 10);
  else console.log(JSON.stringify({ started, done, failed, seconds: (Date.now() - t0) / 1000 }));
})();`;

/** The agent's Prometheus counters: flows processed (all kinds) and lost events by source. */
async function agentCounters(): Promise<{ flows: number; lost: Map<string, number> }> {
  const text = await (await fetch(`http://127.0.0.1:${DEFAULT_AGENT_PORT}/metrics`)).text();
  let flows = 0;
  const lost = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^flowlens_(flows_processed_total|lost_events_total)\{(.*)\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'flows_processed_total') flows += Number(m[3]);
    else lost.set(/source="([^"]*)"/.exec(m[2]!)?.[1] ?? '?', Number(m[3]));
  }
  return { flows, lost };
}

async function benchChurn(): Promise<void> {
  if (PIN === undefined || availableParallelism() < 2) throw new Error('--churn needs two CPUs and pinning (no --no-pin)');
  const at = args.indexOf('--rates');
  const rates = (at >= 0 ? args[at + 1] ?? '' : '2000,5000,8000').split(',').map(Number);
  if (rates.some((r) => !(r > 0))) throw new Error('--rates: comma-separated connections per second, e.g. 2000,5000');
  const seconds = opt('seconds', 10);
  const toAt = args.indexOf('--to');
  const targets = (toAt >= 0 ? args[toAt + 1] ?? '' : 'pod,service').split(',');
  if (targets.some((t) => t !== 'pod' && t !== 'service')) throw new Error('--to: pod, service or pod,service');
  const agentCpu = (PIN + 1) % availableParallelism();
  console.log(`connection churn: a Node client in the client pod, one HTTP/1.1 connection per request (Connection: close), ${seconds} s per rate, to the server pod or through its Service (a fresh sandbox and half of the client's port range for each: reused ports would otherwise meet the other kind's conntrack entries, which conntrack resolves by rewriting the source port); client and server on CPU ${PIN}, the agent and its loader on CPU ${agentCpu}\n`);
  console.log('| to | target conn/s | connections/s | failed | flows/s | agent tree CPU (cores) | µs per connection | µs per flow | cores at 50,000 flows/s | lost events |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const to of targets as ('pod' | 'service')[]) {
    await withSandbox(async (s) => {
      const client = s.pods.find((p) => p.name === 'client')!;
      const server = s.pods.find((p) => p.name === 'server')!;
      const vip = s.services.find((v) => v.namespace === 'bench-dp' && v.name === 'server')?.clusterIP;
      if (!vip) throw new Error('the bench Service has no ClusterIP');
      const dst = to === 'pod' ? [server.ip!, '8080'] : [vip, '80'];
      const agentPid = s.pods.find((p) => p.role === 'agent')?.pid;
      if (!agentPid) throw new Error('no agent in the sandbox');
      // Connections close from the client side: its TIME_WAIT ports are reused, and the range is
      // wide. Each target has its own half: the node's conntrack table outlives the sandbox, and a
      // direct connection from a port whose last connection went through the VIP (or the reverse)
      // meets that entry's tuple, which conntrack resolves by rewriting the source port.
      const ports = to === 'pod' ? '1024 33000' : '33001 65000';
      execFileSync('ip', ['netns', 'exec', client.netns!, 'sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1', `net.ipv4.ip_local_port_range=${ports}`]);
      pin(server.pid);
      for (const t of treeTasks(agentPid)) spawnSync('taskset', ['-pc', String(agentCpu), String(t)], { stdio: 'ignore' });
      // A first run is slower (the agent's code not yet optimised, its tables growing): 3 s of the
      // first rate, not reported.
      execFileSync('ip', ['netns', 'exec', client.netns!, ...pinned([process.execPath, '-e', CHURN_CLIENT, String(rates[0]), '3', ...dst])], { encoding: 'utf8', timeout: 180_000 });
      await new Promise((res) => setTimeout(res, 3000));
      for (const rate of rates) {
        const c0 = await agentCounters();
        const cpu0 = processTreeMs(agentPid);
        const out = execFileSync('ip', ['netns', 'exec', client.netns!, ...pinned([process.execPath, '-e', CHURN_CLIENT, String(rate), String(seconds), ...dst])], { encoding: 'utf8', timeout: (seconds + 120) * 1000 });
        const r = JSON.parse(out.trim().split('\n').pop()!) as { done: number; failed: number; seconds: number };
        await new Promise((res) => setTimeout(res, 3000)); // ENDs after their grace, records in flight
        const cpuMs = processTreeMs(agentPid) - cpu0;
        const c1 = await agentCounters();
        const flows = c1.flows - c0.flows;
        const lost = [...c1.lost].map(([k, v]) => [k, v - (c0.lost.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
        const perFlow = flows ? (cpuMs * 1000) / flows : NaN;
        console.log(`| ${to} | ${rate} | ${(r.done / r.seconds).toFixed(0)} | ${r.failed} | ${(flows / r.seconds).toFixed(0)} | ${(cpuMs / 1000 / r.seconds).toFixed(3)} | ${r.done ? ((cpuMs * 1000) / r.done).toFixed(1) : '-'} | ${perFlow.toFixed(2)} | ${((50_000 * perFlow) / 1e6).toFixed(3)} | ${lost.length ? lost.map(([k, v]) => `${k} ${v}`).join(', ') : '0'} |`);
        await new Promise((res) => setTimeout(res, 2000));
      }
    });
  }
  console.log('\n(agent tree CPU: schedstat of the agent process, its threads and children (loader, conntrack helper), over the run and the 3 s after it (records in flight, ENDs after their grace), per second of the run; flows: every flow the agent processed, from its /metrics)');
}

/** Re-runs this file bundled by esbuild (as the agent ships: dist/cli.js), under the sandbox lock. */
function reexec(): never {
  const out = join(mkdtempSync(join(tmpdir(), 'fl-bench-')), 'datapath.bench.js');
  execFileSync(join(REPO, 'node_modules', 'esbuild', 'bin', 'esbuild'), [__filename, '--bundle', '--platform=node', '--log-level=error', `--outfile=${out}`]);
  const cmd = ['flock', LOCK, process.execPath, out, ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'inherit', env: { ...process.env, FL_BENCH_BUNDLED: '1', FL_REPO: REPO } });
  process.exit(r.status ?? 1);
}

async function main(): Promise<void> {
  if (!process.env.FL_BENCH_BUNDLED) reexec();
  if (process.getuid?.() !== 0) throw new Error('the datapath benchmark needs root (sandbox)');
  await (args.includes('--churn') ? benchChurn() : benchWrk());
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

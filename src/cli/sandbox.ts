// `flowlens sandbox up|down|status|kubeconfig|exec|probe` (and the internal `daemon`).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ManifestError } from '../sandbox/manifests';
import { agentDatapath, describeCleanup, execInPod, probe, requireState, sandboxDown, sandboxUp } from '../sandbox/ops';
import { DEFAULT_API_PORT, DEFAULT_STATE_DIR, statePaths } from '../sandbox/state';
import type { SandboxState } from '../sandbox/state';
import { parse, usageFailure } from './args';

const USAGE = `Usage:
  flowlens sandbox up [-f FILE]... [--nodes 1] [--port ${DEFAULT_API_PORT}] [--no-agent] [--timeout 120s]
  flowlens sandbox down
  flowlens sandbox status [-o json]
  flowlens sandbox kubeconfig
  flowlens sandbox exec NS/POD -- CMD [ARGS...]
  flowlens sandbox agent stop|start [--node NAME]   detach / re-attach the agents' eBPF datapath (every node's, or NAME's)
  flowlens sandbox probe --from NS/POD --to NS/POD|NS/SVC|IP|NAME --port N [--protocol TCP|UDP] [--timeout 1s] [-o json]
Common: --state-dir DIR (default ${DEFAULT_STATE_DIR})
`;

class Usage extends Error {}

/** "1s", "500ms", "2m" or plain milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new Usage(`invalid duration "${text}" (use e.g. 500ms, 1s, 2m)`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  if (ms < 1 || ms > 3_600_000) throw new Usage(`duration out of range: ${text}`);
  return Math.round(ms);
}

/** --nodes N: 1 (default, the host's root netns) to 16. */
export function nodeCount(text: unknown): number {
  if (text === undefined) return 1;
  const n = Number(text);
  if (typeof text !== 'string' || !/^\d+$/.test(text) || n < 1 || n > 16) throw new Usage('--nodes must be a number from 1 to 16');
  return n;
}

function port(text: unknown, what: string): number {
  const n = Number(text);
  if (typeof text !== 'string' || !/^\d+$/.test(text) || n < 1 || n > 65535) throw new Usage(`${what} must be a port number 1-65535`);
  return n;
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('the sandbox needs root (network namespaces, iptables): run with sudo');
}

async function up(argv: string[]): Promise<number> {
  const a = parse(argv, { file: { type: 'string', short: 'f', multiple: true }, port: { type: 'string' }, 'no-agent': { type: 'boolean' }, timeout: { type: 'string' }, 'state-dir': { type: 'string' }, nodes: { type: 'string' } });
  if (!a.ok) throw new Usage(a.error);
  const v = a.value.values;
  const nodes = nodeCount(v.nodes);
  // The daemon runs in another working directory: manifests are passed on as absolute paths.
  const given = (v.file as string[] | undefined) ?? [];
  for (const f of given) if (!existsSync(f)) throw new Usage(`no such file: ${f}`);
  const files = given.map((f) => resolve(f));
  const opts = {
    stateDir: (v['state-dir'] as string | undefined) ?? DEFAULT_STATE_DIR,
    apiPort: v.port !== undefined ? port(v.port, '--port') : DEFAULT_API_PORT,
    files, agents: v['no-agent'] !== true, nodes,
    timeoutMs: v.timeout !== undefined ? parseDuration(v.timeout as string) : 120_000,
    progress: (line: string) => process.stdout.write(`  ${line}\n`),
  };
  requireRoot();
  process.stdout.write(`Starting the Flowlens sandbox (${given.length > 0 ? given.join(', ') : 'built-in demo scenario'})\n`);
  const r = await sandboxUp(opts);
  if (!r.ok) {
    process.stderr.write(`flowlens sandbox up: ${r.message}\n`);
    return 1;
  }
  const s = r.state as SandboxState;
  const svc = s.services.length;
  const where = (s.nodes?.length ?? 1) > 1 ? `${s.nodes?.length} nodes (${(s.nodes ?? []).map((n) => `${n.name} ${n.ip}`).join(', ')})` : `node ${s.node.name} (${s.node.ip})`;
  process.stdout.write(`Sandbox ready in ${(r.elapsedMs / 1000).toFixed(1)} s: ${s.pods.length} pods, ${svc} services on ${where}\n`);
  process.stdout.write(`  API server  ${s.apiUrl}\n  kubeconfig  ${s.kubeconfig}\n  try: KUBECONFIG=${s.kubeconfig} kubectl get pods -A\n`);
  return 0;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

function status(argv: string[]): number {
  const a = parse(argv, { output: { type: 'string', short: 'o' }, 'state-dir': { type: 'string' } });
  if (!a.ok) throw new Usage(a.error);
  const out = a.value.values.output;
  if (out !== undefined && out !== 'json' && out !== 'wide') throw new Usage('-o must be json or wide');
  const s = requireState((a.value.values['state-dir'] as string | undefined) ?? DEFAULT_STATE_DIR);
  if (out === 'json') { process.stdout.write(`${JSON.stringify(s, null, 2)}\n`); return 0; }
  process.stdout.write(`Sandbox ${s.phase} since ${s.startedAt} (daemon pid ${s.daemonPid}); API ${s.apiUrl}; kubeconfig ${s.kubeconfig}\n`);
  for (const n of s.nodes ?? [{ ...s.node, netns: undefined }]) process.stdout.write(`Node ${n.name} ${n.ip}${n.netns ? ` netns ${n.netns}` : ''} bridge ${n.bridge} pods ${n.podCidr} services ${s.node.serviceCidr}\n`);
  process.stdout.write('\n');
  process.stdout.write(table([['NAMESPACE', 'POD', 'READY', 'PHASE', 'IP', 'NODE', 'NETNS', 'ROLE'], ...s.pods.map((p) => [p.namespace, p.name, p.ready ? 'yes' : 'no', p.phase, p.ip ?? '', p.node ?? '', p.netns ?? (p.hostNetwork ? '(host)' : ''), p.role])]));
  process.stdout.write('\n');
  process.stdout.write(table([['NAMESPACE', 'SERVICE', 'CLUSTER-IP', 'PORTS', 'ENDPOINTS'], ...s.services.map((x) => [x.namespace, x.name, x.clusterIP ?? '', x.ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`).join(','), x.endpoints.join(',') || '<none>'])]));
  const agents = s.pods.filter((p) => p.role === 'agent');
  process.stdout.write(`\nAgents: ${agents.length === 0 ? 'none' : agents.map((p) => `${p.namespace}/${p.name} ${p.ready ? 'ready' : `not ready${p.message ? ` (${p.message})` : ''}`}`).join(', ')}\n`);
  process.stdout.write(`iptables applies ${s.iptables.applies}${s.iptables.lastError ? ` (last error: ${s.iptables.lastError})` : ''}; DNS queries ${s.dns.queries}\n`);
  return 0;
}

async function probeCmd(argv: string[]): Promise<number> {
  const a = parse(argv, { from: { type: 'string' }, to: { type: 'string' }, port: { type: 'string' }, protocol: { type: 'string' }, timeout: { type: 'string' }, output: { type: 'string', short: 'o' }, 'state-dir': { type: 'string' } });
  if (!a.ok) throw new Usage(a.error);
  const v = a.value.values;
  if (typeof v.from !== 'string' || typeof v.to !== 'string') throw new Usage('--from and --to are required');
  const protocol = ((v.protocol as string | undefined) ?? 'TCP').toUpperCase();
  if (protocol !== 'TCP' && protocol !== 'UDP') throw new Usage('--protocol must be TCP or UDP');
  if (v.output !== undefined && v.output !== 'json') throw new Usage('-o must be json');
  const opts = { from: v.from, to: v.to, port: port(v.port, '--port'), protocol: protocol as 'TCP' | 'UDP', timeoutMs: v.timeout !== undefined ? parseDuration(v.timeout as string) : 1000 };
  const r = await probe(requireState((v['state-dir'] as string | undefined) ?? DEFAULT_STATE_DIR), opts);
  if (v.output === 'json') process.stdout.write(`${JSON.stringify(r)}\n`);
  else if (r.connected) process.stdout.write(`${r.from} -> ${r.to} (${String(r.ip)}:${opts.port}/${protocol}): connected in ${String(r.latency_ms)} ms from ${String(r.local_ip)}:${String(r.local_port)}\n`);
  else process.stdout.write(`${r.from} -> ${r.to} (${String(r.ip ?? '?')}:${opts.port}/${protocol}): NOT connected: ${String(r.error)}\n`);
  return r.connected ? 0 : 1;
}

async function daemon(argv: string[]): Promise<number> {
  const a = parse(argv, { file: { type: 'string', short: 'f', multiple: true }, port: { type: 'string' }, 'no-agent': { type: 'boolean' }, 'state-dir': { type: 'string' }, nodes: { type: 'string' } });
  if (!a.ok) throw new Usage(a.error);
  const v = a.value.values;
  const { runDaemon } = await import('../sandbox/daemon');
  return runDaemon({ stateDir: (v['state-dir'] as string | undefined) ?? DEFAULT_STATE_DIR, apiPort: v.port !== undefined ? port(v.port, '--port') : DEFAULT_API_PORT, files: (v.file as string[] | undefined) ?? [], agents: v['no-agent'] !== true, nodes: nodeCount(v.nodes) });
}

function stateDirOnly(argv: string[]): string {
  const a = parse(argv, { 'state-dir': { type: 'string' } });
  if (!a.ok) throw new Usage(a.error);
  return (a.value.values['state-dir'] as string | undefined) ?? DEFAULT_STATE_DIR;
}

async function dispatch(sub: string | undefined, rest: string[]): Promise<number> {
  switch (sub) {
    case 'up': return up(rest);
    case 'down': {
      const dir = stateDirOnly(rest);
      requireRoot();
      process.stdout.write(`Sandbox down: ${describeCleanup(await sandboxDown(dir))}\n`);
      return 0;
    }
    case 'status': return status(rest);
    case 'kubeconfig': {
      const path = statePaths(stateDirOnly(rest)).kubeconfig;
      if (!existsSync(path)) throw new Error('no sandbox is running (no kubeconfig)');
      process.stdout.write(`${path}\n`);
      return 0;
    }
    case 'exec': {
      const dash = rest.indexOf('--');
      const target = rest[0];
      if (!target || dash !== 1 || dash === rest.length - 1) throw new Usage('exec needs NS/POD -- CMD [ARGS...]');
      return execInPod(requireState(DEFAULT_STATE_DIR), target, rest.slice(dash + 1));
    }
    case 'probe': return probeCmd(rest);
    case 'agent': {
      const action = rest[0];
      if (action !== 'stop' && action !== 'start') throw new Usage('agent needs stop or start');
      requireRoot();
      const a = parse(rest.slice(1), { 'state-dir': { type: 'string' }, node: { type: 'string' } });
      if (!a.ok) throw new Usage(a.error);
      const dir = (a.value.values['state-dir'] as string | undefined) ?? DEFAULT_STATE_DIR;
      const results = await agentDatapath(requireState(dir), action, { node: a.value.values.node as string | undefined });
      let ok = true;
      for (const r of results) {
        const done = r.ready === (action === 'start');
        ok &&= done;
        process.stdout.write(`Agent of ${r.node} (pid ${r.pid}) datapath ${action === 'stop' ? 'detached' : 'attached'}${done ? '' : ': not confirmed by /readyz yet'}\n`);
      }
      return ok ? 0 : 1;
    }
    case 'daemon': return daemon(rest);
    default: throw new Usage(sub ? `unknown sandbox command "${sub}"` : 'a sandbox command is required');
  }
}

export async function sandboxCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help' || sub === 'help') { process.stdout.write(USAGE); return 0; }
  try {
    return await dispatch(sub, rest);
  } catch (e) {
    if (e instanceof Usage) return usageFailure('sandbox', `${e.message}\n${USAGE}`);
    const msg = e instanceof ManifestError ? `invalid manifest: ${e.message}` : (e as Error).message;
    process.stderr.write(`flowlens sandbox: ${msg}\n`);
    return 1;
  }
}

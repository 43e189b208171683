// Benchmark: `sandbox up` time and memory for the demo scenario and a generated 50-pod scenario.
// Run as root: npm run bench -- sandbox-up  (or npx tsx test/bench/sandbox-up.bench.ts [--pods N] [--no-agent])
import { readFileSync, writeFileSync } from 'node:fs';
import { ownedProcesses, runningDaemons } from '../../src/sandbox/cleanup';
import { sandboxDown, sandboxUp } from '../../src/sandbox/ops';

const STATE_DIR = '/run/flowlens/sandbox-bench';

/** N pods: namespaces of 2 deployments x 5 replicas, each with a Service. */
export function generatedScenario(pods: number): string {
  const docs: string[] = [];
  const perDeploy = 5;
  const deploys = Math.ceil(pods / perDeploy);
  for (let d = 0; d < deploys; d++) {
    const ns = `bench-${Math.floor(d / 2)}`;
    if (d % 2 === 0) docs.push(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`);
    const name = `app-${d}`;
    const replicas = Math.min(perDeploy, pods - d * perDeploy);
    docs.push(`apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns} }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
        - name: app
          image: flowlens/echo:bench
          ports: [ { name: http, containerPort: 8080 }, { name: echo, containerPort: 7000 }, { name: udp, containerPort: 7001, protocol: UDP } ]
`, `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec:
  selector: { app: ${name} }
  ports: [ { name: http, port: 80, targetPort: http }, { name: udp, port: 7001, protocol: UDP, targetPort: udp } ]
`);
  }
  return docs.join('---\n');
}

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

interface Row { scenario: string; pods: number; upSeconds: number; daemonMiB: number; poddMiB: number; agentMiB: number; totalMiB: number }

async function measure(scenario: string, files: string[], agents: boolean): Promise<Row> {
  const r = await sandboxUp({ stateDir: STATE_DIR, apiPort: 6558, files, agents, timeoutMs: 180_000, progress: () => undefined });
  if (!r.ok || !r.state) throw new Error(`${scenario}: ${r.message}`);
  const daemon = r.state.daemonPid;
  let podd = 0;
  let agent = 0;
  for (const pid of ownedProcesses(STATE_DIR)) {
    if (pid === daemon) continue;
    if (comm(pid).includes('flowlens-podd')) podd += rssKiB(pid);
    else agent += rssKiB(pid);
  }
  const d = rssKiB(daemon);
  await sandboxDown(STATE_DIR);
  const mib = (k: number): number => Math.round((k / 1024) * 10) / 10;
  return { scenario, pods: r.state.pods.length, upSeconds: Math.round(r.elapsedMs / 100) / 10, daemonMiB: mib(d), poddMiB: mib(podd), agentMiB: mib(agent), totalMiB: mib(d + podd + agent) };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  if (runningDaemons().length > 0) throw new Error(`a sandbox is running (${JSON.stringify(runningDaemons())}): flowlens sandbox down first`);
  const argv = process.argv.slice(2);
  const podsArg = argv.indexOf('--pods');
  const n = podsArg >= 0 ? Number(argv[podsArg + 1]) : 50;
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new Error('--pods must be 1-250');
  const agents = !argv.includes('--no-agent');
  const file = `/tmp/flowlens-bench-${n}.yaml`;
  writeFileSync(file, generatedScenario(n));
  const rows = [await measure('demo', [], agents), await measure(`generated ${n} pods`, [file], agents)];
  console.table(rows);
  console.log('memory = RSS of the daemon, all podd processes, and agent+loader (kernel memory not counted)');
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error((e as Error).message);
    void sandboxDown(STATE_DIR).finally(() => { process.exitCode = 1; });
  });
}

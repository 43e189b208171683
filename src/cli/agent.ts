// `flowlens agent`: the node agent daemon (runs as a DaemonSet pod, one per node).
import { loadClusterAccess } from '../cluster/kubeconfig';
import { DEFAULT_AGENT_PORT } from '../agents/protocol';
import { Agent } from '../agent/agent';
import { DEFAULT_STORE_SIZE } from '../flows/store';
import { UsageError, intOption, parse, usageFailure } from './args';

export async function agentCommand(argv: string[]): Promise<number> {
  const a = parse(argv, {
    node: { type: 'string' },
    listen: { type: 'string' },
    kubeconfig: { type: 'string' },
    'kube-context': { type: 'string' },
    'store-size': { type: 'string' },
    'no-kube': { type: 'boolean' },
    loader: { type: 'string' },
    'netns-scope': { type: 'string' },
    features: { type: 'boolean' },
  });
  if (!a.ok) return usageFailure('agent', a.error);
  const v = a.value.values;
  if (v.features) return printFeatures(v.loader as string | undefined);
  const node = (v.node as string | undefined) ?? process.env.NODE_NAME;
  if (!node) return usageFailure('agent', '--node (or env NODE_NAME) is required');
  const [host, portText] = ((v.listen as string | undefined) ?? `127.0.0.1:${DEFAULT_AGENT_PORT}`).split(/:(?=\d+$)/);
  let storeSize: number;
  let port: number;
  try {
    storeSize = intOption(v['store-size'], 'store-size', 1) ?? DEFAULT_STORE_SIZE;
    port = intOption(portText, 'listen port') ?? DEFAULT_AGENT_PORT;
  } catch (e) {
    if (e instanceof UsageError) return usageFailure('agent', e.message);
    throw e;
  }
  let access;
  if (!v['no-kube']) {
    const acc = loadClusterAccess({ kubeconfig: v.kubeconfig as string | undefined, context: v['kube-context'] as string | undefined });
    if (!acc.ok) return usageFailure('agent', `${acc.error} (use --no-kube to run without pod metadata)`);
    access = acc.value;
  }
  const scope = v['netns-scope'] as string | undefined;
  if (scope !== undefined && scope !== 'node' && scope !== 'all') return usageFailure('agent', `--netns-scope must be node or all, got "${scope}"`);
  const agent = new Agent({ node, access, host: host || '127.0.0.1', port, storeSize, loaderPath: v.loader as string | undefined, ...(scope ? { netnsScope: scope } : {}) });
  await agent.start();
  // `flowlens sandbox agent stop|start`: detach / re-attach the datapath without losing the store.
  process.on('SIGUSR2', () => void agent.pauseDatapath());
  process.on('SIGUSR1', () => agent.resumeDatapath());
  await new Promise<void>((resolve) => {
    const stop = () => void agent.stop().then(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}

/** `flowlens agent --features`: what the running kernel offers the datapath (the loader's probes). */
async function printFeatures(loaderPath?: string): Promise<number> {
  const { featureReport } = await import('../agent/features');
  const r = await featureReport(loaderPath);
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  return r.ok ? 0 : 1;
}

/** `flowlens agent-probe healthz|readyz [--port N]`: the DaemonSet's exec probes (the agent binds 127.0.0.1). */
export async function agentProbeCommand(argv: string[]): Promise<number> {
  const a = parse(argv, { port: { type: 'string' } }, true);
  if (!a.ok) return usageFailure('agent-probe', a.error);
  const which = a.value.positionals[0] ?? 'healthz';
  if (which !== 'healthz' && which !== 'readyz') return usageFailure('agent-probe', `expected healthz or readyz, got "${which}"`);
  const port = Number(a.value.values.port ?? DEFAULT_AGENT_PORT);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/${which}`, { signal: AbortSignal.timeout(3000) });
    process.stdout.write(`${which}: ${res.status}\n`);
    return res.ok ? 0 : 1;
  } catch (e) {
    process.stderr.write(`${which}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

// `flowlens observe`: flows from every agent, reached through port-forward like the extension.
import { AgentHub } from '../agents/hub';
import { loadClusterAccess } from '../cluster/kubeconfig';
import { ClusterModel } from '../cluster/model';
import type { Endpoint, FlowResponse } from '../flows/flow';
import { UsageError, intOption, parse, usageFailure } from './args';

function endpointText(e: Endpoint, ip: string, port: number | undefined): string {
  const who = e.pod_name ? `${e.namespace}/${e.pod_name}` : ip;
  return port === undefined ? who : `${who}:${port}`;
}

export function compactLine(r: FlowResponse): string {
  const f = r.flow;
  const l4 = f.l4.TCP ?? f.l4.UDP;
  const t = new Date(f.time);
  const time = `${t.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' })} ${String(t.getUTCDate()).padStart(2, '0')} ${f.time.slice(11, 23)}`;
  const svc = f.destination_service ? ` (svc ${f.destination_service.namespace}/${f.destination_service.name})` : '';
  const arrow = f.traffic_direction === 'INGRESS' ? 'to-endpoint' : 'from-endpoint';
  return `${time}: ${endpointText(f.source, f.IP.source, l4?.source_port)} -> ${endpointText(f.destination, f.IP.destination, l4?.destination_port)}${svc} ${arrow} ${f.verdict} (${f.Summary ?? f.Type})`;
}

export async function observeCommand(argv: string[]): Promise<number> {
  const a = parse(argv, {
    kubeconfig: { type: 'string' },
    'kube-context': { type: 'string' },
    last: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
    namespace: { type: 'string', short: 'n' },
    pod: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  if (!a.ok) return usageFailure('observe', a.error);
  const v = a.value.values;
  const output = (v.output as string | undefined) ?? 'compact';
  if (output !== 'json' && output !== 'compact' && output !== 'jsonpb') return usageFailure('observe', `-o must be json or compact, got "${output}"`);
  let last: number | undefined;
  try {
    last = intOption(v.last, 'last', 1);
  } catch (e) {
    if (e instanceof UsageError) return usageFailure('observe', e.message);
    throw e;
  }
  const follow = Boolean(v.follow);
  if (last === undefined && !follow) last = 20;
  const acc = loadClusterAccess({ kubeconfig: v.kubeconfig as string | undefined, context: v['kube-context'] as string | undefined });
  if (!acc.ok) return usageFailure('observe', acc.error);
  const model = new ClusterModel(acc.value);
  try {
    await model.start();
  } catch (e) {
    process.stderr.write(`flowlens observe: cannot reach the cluster at ${acc.value.server}: ${e instanceof Error ? e.message : String(e)}\n`);
    model.stop();
    return 1;
  }
  const hub = new AgentHub(acc.value, model);
  let lastError: string | undefined;
  const sub = hub.subscribe(
    { last, follow, namespace: v.namespace as string | undefined, pod: v.pod as string | undefined },
    (flows) => {
      const text = flows.map((r) => (output === 'compact' ? compactLine(r) : JSON.stringify(r))).join('\n');
      if (text) process.stdout.write(text + '\n');
    },
    (s) => {
      if (s.error && s.error !== lastError) process.stderr.write(`flowlens observe: ${s.error}\n`);
      lastError = s.error;
    },
  );
  const stop = () => sub.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await sub.done;
  model.stop();
  return lastError && !follow ? 1 : 0;
}

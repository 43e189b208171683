// Client side of the agents' dataplane reports (node_status.dataplane: kube-proxy's programmed
// Service frontends and backends, read by each agent from its node). The field crosses a trust
// boundary, so it is read defensively: anything malformed is ignored, never trusted.
import type { NodeStatusMessage } from './protocol';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The frontends a node reports, keeping only well-formed entries. */
function frontendsOf(status: NodeStatusMessage): { ip: string; backends: string[] }[] | undefined {
  const dp = (status as unknown as { dataplane?: unknown }).dataplane;
  if (!isObject(dp) || dp.mode === 'none' || !Array.isArray(dp.frontends)) return undefined;
  const out: { ip: string; backends: string[] }[] = [];
  for (const f of dp.frontends) {
    if (!isObject(f) || typeof f.ip !== 'string' || !Array.isArray(f.backends)) continue;
    out.push({ ip: f.ip, backends: f.backends.flatMap((b) => (isObject(b) && typeof b.ip === 'string' ? [b.ip] : [])) });
  }
  return out;
}

/**
 * Backend IPs programmed for any of `frontendIPs` (a Service's ClusterIPs, external IPs…) on any
 * node that reports its dataplane; undefined when no node reports one (unknown, not "none").
 */
export function programmedBackends(nodes: readonly NodeStatusMessage[] | undefined, frontendIPs: readonly string[]): Set<string> | undefined {
  let reported = false;
  const out = new Set<string>();
  for (const n of nodes ?? []) {
    const fronts = frontendsOf(n);
    if (!fronts) continue;
    reported = true;
    for (const f of fronts) if (frontendIPs.includes(f.ip)) for (const b of f.backends) out.add(b);
  }
  return reported ? out : undefined;
}

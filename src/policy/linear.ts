// The straightforward reference evaluator: every verdict scans every policy and matches
// selectors afresh. Same semantics as the engine (match.ts); used as the benchmark baseline and
// as an oracle in tests.
import { directionVerdict, loopbackVerdict, NOT_A_POD } from './match';
import type { Connection, Matcher } from './match';
import { clusterIndexes, namedPortsOf, resolveEndpoint } from './resolve';
import type { Resolved } from './resolve';
import { selectorMatches } from './selector';
import type { Cluster, Direction, DirectionVerdict, Pod, Policy, Query, Verdict } from './types';

const plain: Matcher = { matches: selectorMatches };

export class LinearEvaluator {
  private readonly idx: ReturnType<typeof clusterIndexes>;

  constructor(private readonly cluster: Cluster) {
    this.idx = clusterIndexes(cluster);
  }

  verdict(q: Query): Verdict {
    const from = resolveEndpoint(q.from, this.idx.byIP);
    const to = resolveEndpoint(q.to, this.idx.byIP);
    if (from.pod && from.pod === to.pod) return loopbackVerdict(q.port, q.protocol);
    const named = to.pod ? namedPortsOf(to.pod) : undefined;
    const egress = from.pod ? this.side(from.pod, 'egress', { other: this.other(to), port: q.port, protocol: q.protocol, named }) : NOT_A_POD;
    const ingress = to.pod ? this.side(to.pod, 'ingress', { other: this.other(from), port: q.port, protocol: q.protocol, named }) : NOT_A_POD;
    return { allowed: egress.allowed && ingress.allowed, port: q.port, protocol: q.protocol, egress, ingress };
  }

  private other(r: Resolved): Connection['other'] {
    return r.pod ? { ip: r.ip, pod: { namespace: r.pod.namespace, labels: r.pod.labels, nsLabels: this.idx.nsLabels(r.pod.namespace) } } : { ip: r.ip };
  }

  private side(pod: Pod, dir: Direction, c: Connection): DirectionVerdict {
    const selecting: Policy[] = [];
    for (const p of this.cluster.policies) {
      if (p.namespace === pod.namespace && p.types[dir] && selectorMatches(p.podSelector, pod.labels)) selecting.push(p);
    }
    return directionVerdict(selecting, dir, c, plain);
  }
}

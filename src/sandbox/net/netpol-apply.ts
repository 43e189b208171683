// Applies NetworkPolicy enforcement: store objects -> policy engine model -> compiled allow lists
// -> iptables-restore (atomic, --noflush: only our chains are declared), coalescing bursts of
// changes into one apply, then makes sure FORWARD and INPUT jump into our chains first.
import { CoalescingApplier } from './coalesce';
import { compileCluster } from '../../policy/compile';
import { clusterFromApiObjects } from '../../policy/objects';
import type { Cluster } from '../../policy/types';
import type { ObjectStore } from '../apiserver/types';
import { runIn, runOkIn } from './exec';
import { parseChains } from './iptables';
import { buildNetpolRestore, NETPOL_JUMPS } from './netpol';
import type { EnforcedPod } from './netpol';

export interface NetpolSnapshot { cluster: Cluster; veths: Map<string, string>; errors: string[] }

/** The cluster as the engine sees it, and the veth of every pod running on this node. */
export function snapshotFromStore(store: Pick<ObjectStore, 'list'>, vethOf: (ns: string, name: string) => string | undefined): NetpolSnapshot {
  const { cluster, errors } = clusterFromApiObjects(store.list('namespaces'), store.list('pods'), store.list('networkpolicies'));
  const veths = new Map<string, string>();
  for (const p of cluster.pods) {
    const v = vethOf(p.namespace, p.name);
    if (v) veths.set(`${p.namespace}/${p.name}`, v);
  }
  return { cluster, veths, errors };
}

export function enforcedPods(s: NetpolSnapshot): EnforcedPod[] {
  return compileCluster(s.cluster, (p) => s.veths.has(`${p.namespace}/${p.name}`))
    .filter((e) => e.ingress || e.egress)
    .map((e) => ({ ...e, veth: s.veths.get(`${e.pod.namespace}/${e.pod.name}`) as string }));
}

export class NetpolEnforcer extends CoalescingApplier<NetpolSnapshot> {
  private lastText = '';

  /** `netns`: the node's network namespace (multi-node sandbox), undefined for the root netns. */
  constructor(log: (msg: string) => void, delayMs = 20, private readonly netns?: string) {
    super(log, 'networkpolicy enforcement apply', delayMs);
  }

  protected async apply(s: NetpolSnapshot): Promise<void> {
    for (const e of s.errors) this.log(`networkpolicy enforcement: skipped invalid object: ${e}`);
    const pods = enforcedPods(s);
    if (pods.length === 0 && this.lastText === '') return; // nothing ever enforced: touch nothing
    const existing = parseChains(await runOkIn(this.netns, 'iptables-save', ['-t', 'filter'])).filter;
    const text = buildNetpolRestore({ pods, existing });
    await runOkIn(this.netns, 'iptables-restore', ['-w', '--noflush'], text);
    for (const j of NETPOL_JUMPS) {
      if ((await runIn(this.netns, 'iptables', ['-w', '-C', j.chain, '-j', j.target])).code !== 0) await runOkIn(this.netns, 'iptables', ['-w', '-I', j.chain, '1', '-j', j.target]);
    }
    this.lastText = text;
  }
}

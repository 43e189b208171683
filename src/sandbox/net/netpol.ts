// NetworkPolicy enforcement as iptables rules, the way iptables-based policy controllers do it
// (kube-router, Calico's iptables mode), as a pure function: compiled allow lists -> iptables-restore
// text for the filter table.
//
//   FORWARD -> FLOWLENS-NP-FWD   conntrack ESTABLISHED,RELATED -> RETURN (replies always pass)
//                                 -m physdev --physdev-in <veth>                      -> FLOWLENS-NPE-<h> (egress of the sender)
//                                 -m physdev --physdev-is-bridged --physdev-out <veth> -> FLOWLENS-NPI-<h> (ingress of the receiver)
//   INPUT   -> FLOWLENS-NP-IN    same conntrack rule; --physdev-in <veth> -> FLOWLENS-NPE-<h> (pod -> node, e.g. DNS)
//   FLOWLENS-NPE/NPI-<h>          one RETURN per allowed (peer CIDR x port); DROP at the end
//
// A packet therefore passes only if the sender's egress chain and the receiver's ingress chain
// both RETURN. DROP (not REJECT) so the kernel reports SKB_DROP_REASON_NETFILTER_DROP.
import type { AllowEntry, CompiledPort, PodEnforcement } from '../../policy/compile';
import { parseCidr } from '../../policy/cidr';
import { CHAIN_PREFIX, hash8 } from './names';

export const NP_FORWARD = `${CHAIN_PREFIX}NP-FWD`;
export const NP_INPUT = `${CHAIN_PREFIX}NP-IN`;
const PER_POD = new RegExp(`^${CHAIN_PREFIX}NP[IE]-`);

export interface EnforcedPod extends PodEnforcement { veth: string }

export interface NetpolInput { pods: EnforcedPod[]; /** filter-table chains that exist now (to delete stale per-pod chains) */ existing?: string[] }

const VETH = /^[a-zA-Z0-9_.-]{1,15}$/;
const NAME = /^[a-z0-9]([-a-z0-9./]*[a-z0-9])?$/;

export function podChain(dir: 'ingress' | 'egress', namespace: string, name: string): string {
  return `${CHAIN_PREFIX}NP${dir === 'ingress' ? 'I' : 'E'}-${hash8(`${namespace}/${name}`)}`;
}

function comment(text: string): string {
  return `-m comment --comment "${text.replace(/["\\]/g, '').slice(0, 250)}"`;
}

function portMatch(p: CompiledPort): string {
  const proto = p.protocol.toLowerCase();
  if (p.port === undefined) return `-p ${proto}`;
  const range = p.endPort !== undefined && p.endPort !== p.port ? `${p.port}:${p.endPort}` : `${p.port}`;
  return `-p ${proto} -m ${proto} --dport ${range}`;
}

function ipv4Cidrs(cidrs: string[]): string[] {
  return cidrs.filter((c) => { const p = parseCidr(c); return p !== undefined && !p.v6; });
}

function entryRules(chain: string, dir: 'ingress' | 'egress', e: AllowEntry): string[] {
  const addr = dir === 'ingress' ? '-s' : '-d';
  const cidrs = e.cidrs === undefined ? [undefined] : ipv4Cidrs(e.cidrs);
  const ports = e.ports === undefined ? [undefined] : e.ports;
  const why = comment(`${e.policy} ${dir} rule ${e.ruleIndex}`);
  const out: string[] = [];
  for (const c of cidrs) for (const p of ports) out.push(`-A ${chain}${c ? ` ${addr} ${c}` : ''}${p ? ` ${portMatch(p)}` : ''} ${why} -j RETURN`);
  return out;
}

function podRules(pod: EnforcedPod, dir: 'ingress' | 'egress', entries: AllowEntry[]): { chain: string; rules: string[] } {
  const chain = podChain(dir, pod.pod.namespace, pod.pod.name);
  const rules = entries.flatMap((e) => entryRules(chain, dir, e));
  rules.push(`-A ${chain} ${comment(`${pod.pod.namespace}/${pod.pod.name} ${dir} isolated by ${pod.isolatedBy[dir].join(',')}`)} -j DROP`);
  return { chain, rules };
}

function validate(p: EnforcedPod): void {
  if (!VETH.test(p.veth)) throw new Error(`invalid veth name ${JSON.stringify(p.veth)}`);
  if (!NAME.test(p.pod.namespace) || !NAME.test(p.pod.name)) throw new Error(`invalid pod name ${p.pod.namespace}/${p.pod.name}`);
}

/** The complete filter-table rule set for policy enforcement, as iptables-restore --noflush input. */
export function buildNetpolRestore(input: NetpolInput): string {
  const pods = [...input.pods].sort((a, b) => `${a.pod.namespace}/${a.pod.name}`.localeCompare(`${b.pod.namespace}/${b.pod.name}`));
  pods.forEach(validate);
  const chains = [NP_FORWARD, NP_INPUT];
  const established = (c: string) => `-A ${c} -m conntrack --ctstate RELATED,ESTABLISHED ${comment('replies of allowed connections')} -j RETURN`;
  const fwd = [established(NP_FORWARD)];
  const inp = [established(NP_INPUT)];
  const perPod: string[] = [];
  for (const p of pods) {
    const who = `${p.pod.namespace}/${p.pod.name}`;
    if (p.egress) {
      const r = podRules(p, 'egress', p.egress);
      chains.push(r.chain);
      perPod.push(...r.rules);
      fwd.push(`-A ${NP_FORWARD} -m physdev --physdev-in ${p.veth} ${comment(`${who} egress`)} -j ${r.chain}`);
      inp.push(`-A ${NP_INPUT} -m physdev --physdev-in ${p.veth} ${comment(`${who} egress to the node`)} -j ${r.chain}`);
    }
    if (p.ingress) {
      const r = podRules(p, 'ingress', p.ingress);
      chains.push(r.chain);
      perPod.push(...r.rules);
      fwd.push(`-A ${NP_FORWARD} -m physdev --physdev-is-bridged --physdev-out ${p.veth} ${comment(`${who} ingress`)} -j ${r.chain}`);
    }
  }
  const keep = new Set(chains);
  const stale = (input.existing ?? []).filter((c) => PER_POD.test(c) && !keep.has(c));
  return ['*filter', ...chains.map((c) => `:${c} - [0:0]`), ...stale.map((c) => `:${c} - [0:0]`), ...fwd, ...inp, ...perPod, ...stale.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
}

/** Jumps from the built-in chains into ours (checked with -C, inserted first with -I). */
export const NETPOL_JUMPS: { chain: string; target: string }[] = [{ chain: 'FORWARD', target: NP_FORWARD }, { chain: 'INPUT', target: NP_INPUT }];

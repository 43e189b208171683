// Node-level networking. A sandbox node is, for now, this host's root network namespace; every
// function takes the node object so that a node can later be its own netns.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { run, runOk } from './exec';
import { nthAddress, parseCidr } from './ipam';
import { BRIDGE_PREFIX, CHAIN_PREFIX } from './names';

export interface SandboxNode {
  name: string;
  /** Pod CIDR of this node, e.g. 10.244.0.0/24; its first address is the bridge (node) IP. */
  podCidr: string;
  /** Cluster-wide pod CIDR (source of "cluster" traffic for KUBE-MARK-MASQ), e.g. 10.244.0.0/16. */
  clusterCidr: string;
  serviceCidr: string;
  clusterDnsIp: string;
  bridge: string;
  /** Bridge address = node IP as seen by pods. */
  nodeIp: string;
}

export function defaultNode(name = 'flowlens-sandbox'): SandboxNode {
  const podCidr = '10.244.0.0/24';
  return {
    name, podCidr, clusterCidr: '10.244.0.0/16', serviceCidr: '10.96.0.0/16', clusterDnsIp: '10.96.0.10',
    bridge: `${BRIDGE_PREFIX}0`, nodeIp: nthAddress(podCidr, 1),
  };
}

function writeSysctl(path: string, value: string): void {
  const full = `/proc/sys/${path}`;
  if (!existsSync(full)) throw new Error(`${full} does not exist (kernel module missing?)`);
  if (readFileSync(full, 'utf8').trim() !== value) writeFileSync(full, value);
}

/** Jump rules from built-in chains into ours: [table, chain, ...rule]. Installed once, checked with -C. */
export function baseJumps(node: SandboxNode): string[][] {
  return [
    ['nat', 'PREROUTING', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'],
    ['nat', 'OUTPUT', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'],
    ['nat', 'POSTROUTING', '-m', 'comment', '--comment', 'kubernetes postrouting rules', '-j', 'KUBE-POSTROUTING'],
    ['nat', 'POSTROUTING', '-m', 'comment', '--comment', `flowlens sandbox pod egress (${node.podCidr})`, '-j', `${CHAIN_PREFIX}MASQ`],
    ['filter', 'FORWARD', '-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'],
    ['filter', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'],
    ['filter', 'FORWARD', '-m', 'comment', '--comment', 'kubernetes forwarding rules', '-j', 'KUBE-FORWARD'],
  ];
}

async function ensureJump(rule: string[]): Promise<void> {
  const [table, chain, ...spec] = rule as [string, string, ...string[]];
  const check = await run('iptables', ['-w', '-t', table, '-C', chain, ...spec]);
  if (check.code !== 0) await runOk('iptables', ['-w', '-t', table, '-I', chain, '1', ...spec]);
}

/** Bridge with the node IP, forwarding, bridge netfilter, the base chains and jumps. Idempotent. */
export async function setupNode(node: SandboxNode, baseRules: string): Promise<void> {
  const links = await runOk('ip', ['-o', 'link', 'show', 'type', 'bridge']);
  if (!links.includes(`: ${node.bridge}:`)) await runOk('ip', ['link', 'add', node.bridge, 'type', 'bridge']);
  const prefix = parseCidr(node.podCidr).bits;
  const addrs = await runOk('ip', ['-o', '-4', 'addr', 'show', 'dev', node.bridge]);
  if (!addrs.includes(` ${node.nodeIp}/`)) await runOk('ip', ['addr', 'add', `${node.nodeIp}/${prefix}`, 'dev', node.bridge]);
  await runOk('ip', ['link', 'set', node.bridge, 'up']);
  writeSysctl('net/ipv4/ip_forward', '1');
  await run('modprobe', ['br_netfilter']); // may be built in: the sysctl below is what matters
  writeSysctl('net/bridge/bridge-nf-call-iptables', '1');
  await runOk('iptables-restore', ['-w', '--noflush'], baseRules);
  for (const rule of baseJumps(node)) await ensureJump(rule);
}

/** Removes the bridge (pods must be gone already); iptables are removed by cleanup. */
export async function teardownNode(node: SandboxNode): Promise<void> {
  await run('ip', ['link', 'del', node.bridge]);
}

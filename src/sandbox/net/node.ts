// Node-level networking. The single-node sandbox's node is this host's root network namespace;
// in a multi-node sandbox (`up --nodes N`) every node is its own netns `flnode-<i>` (see
// underlay.ts for how nodes reach each other). Every function takes the node object.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { run, runIn, runOk, runOkIn } from './exec';
import { nthAddress, parseCidr } from './ipam';
import { BRIDGE_PREFIX, CHAIN_PREFIX, NODE_NETNS_PREFIX } from './names';

export interface SandboxNode {
  name: string;
  /** Pod CIDR of this node, e.g. 10.244.0.0/24; its first address is the bridge (node) IP. */
  podCidr: string;
  /** Cluster-wide pod CIDR (source of "cluster" traffic for KUBE-MARK-MASQ), e.g. 10.244.0.0/16. */
  clusterCidr: string;
  serviceCidr: string;
  clusterDnsIp: string;
  bridge: string;
  /** Bridge address = the pods' gateway (the node IP as seen by its pods). */
  nodeIp: string;
  /** The Node's InternalIP: the bridge address on a single node, the underlay address otherwise. */
  internalIp: string;
  /** Network namespace of the node (multi-node sandbox); undefined = the host's root netns. */
  netns?: string;
}

/** Underlay of a multi-node sandbox: the host's address, node i's is .(i+1). */
export const UNDERLAY_CIDR = '10.250.0.0/24';
export const UNDERLAY_HOST_IP = nthAddress(UNDERLAY_CIDR, 1);

export function defaultNode(name = 'flowlens-sandbox'): SandboxNode {
  const podCidr = '10.244.0.0/24';
  return {
    name, podCidr, clusterCidr: '10.244.0.0/16', serviceCidr: '10.96.0.0/16', clusterDnsIp: '10.96.0.10',
    bridge: `${BRIDGE_PREFIX}0`, nodeIp: nthAddress(podCidr, 1), internalIp: nthAddress(podCidr, 1),
  };
}

/** The nodes of an N-node sandbox: `node-<i>` in netns `flnode-<i>`, pods 10.244.<i>.0/24, underlay 10.250.0.<i+1>. */
export function clusterNodes(count: number): SandboxNode[] {
  if (count <= 1) return [defaultNode()];
  if (count > 200) throw new Error('at most 200 nodes');
  return Array.from({ length: count }, (_, k) => {
    const i = k + 1;
    const podCidr = `10.244.${i}.0/24`;
    return {
      name: `node-${i}`, podCidr, clusterCidr: '10.244.0.0/16', serviceCidr: '10.96.0.0/16', clusterDnsIp: '10.96.0.10',
      bridge: `${BRIDGE_PREFIX}${i}`, nodeIp: nthAddress(podCidr, 1), internalIp: nthAddress(UNDERLAY_CIDR, i + 1), netns: `${NODE_NETNS_PREFIX}${i}`,
    };
  });
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

async function ensureJump(netns: string | undefined, rule: string[]): Promise<void> {
  const [table, chain, ...spec] = rule as [string, string, ...string[]];
  const check = await runIn(netns, 'iptables', ['-w', '-t', table, '-C', chain, ...spec]);
  if (check.code !== 0) await runOkIn(netns, 'iptables', ['-w', '-t', table, '-I', chain, '1', ...spec]);
}

/** `ip` arguments for the node's netns (`-n flnode-<i>`), none for the root netns. */
export function ipNs(node: Pick<SandboxNode, 'netns'>): string[] {
  return node.netns ? ['-n', node.netns] : [];
}

async function nodeSysctls(node: SandboxNode): Promise<void> {
  await run('modprobe', ['br_netfilter']); // may be built in: the sysctl below is what matters
  if (!node.netns) {
    writeSysctl('net/ipv4/ip_forward', '1');
    writeSysctl('net/bridge/bridge-nf-call-iptables', '1');
    return;
  }
  await runOkIn(node.netns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=1']);
}

/** The node's netns (multi-node), bridge with the node IP, forwarding, bridge netfilter, the base chains and jumps. Idempotent. */
export async function setupNode(node: SandboxNode, baseRules: string): Promise<void> {
  if (node.netns && !existsSync(`/run/netns/${node.netns}`)) {
    await runOk('ip', ['netns', 'add', node.netns]);
    await runOk('ip', ['-n', node.netns, 'link', 'set', 'lo', 'up']);
  }
  const ip = ipNs(node);
  const links = await runOk('ip', [...ip, '-o', 'link', 'show', 'type', 'bridge']);
  if (!links.includes(`: ${node.bridge}:`)) await runOk('ip', [...ip, 'link', 'add', node.bridge, 'type', 'bridge']);
  const prefix = parseCidr(node.podCidr).bits;
  const addrs = await runOk('ip', [...ip, '-o', '-4', 'addr', 'show', 'dev', node.bridge]);
  if (!addrs.includes(` ${node.nodeIp}/`)) await runOk('ip', [...ip, 'addr', 'add', `${node.nodeIp}/${prefix}`, 'dev', node.bridge]);
  await runOk('ip', [...ip, 'link', 'set', node.bridge, 'up']);
  await nodeSysctls(node);
  await runOkIn(node.netns, 'iptables-restore', ['-w', '--noflush'], baseRules);
  for (const rule of baseJumps(node)) await ensureJump(node.netns, rule);
}

/** Removes the bridge, or the whole node netns (pods must be gone already); root iptables are removed by cleanup. */
export async function teardownNode(node: SandboxNode): Promise<void> {
  if (node.netns) await run('ip', ['netns', 'del', node.netns]);
  else await run('ip', ['link', 'del', node.bridge]);
}

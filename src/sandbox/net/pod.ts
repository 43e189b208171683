// Per-pod networking, the way the CNI bridge plugin does it: a netns, a veth pair with the host
// side on the node bridge, an address from the node's pod CIDR, a default route via the bridge.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { run, runOk } from './exec';
import { parseCidr } from './ipam';
import { ipNs } from './node';
import type { SandboxNode } from './node';

export interface PodNet {
  namespace: string;
  name: string;
  netns: string;
  veth: string;
  ip: string;
}

export function resolvConf(node: SandboxNode, namespace: string): string {
  return [
    `nameserver ${node.clusterDnsIp}`,
    `search ${namespace}.svc.cluster.local svc.cluster.local cluster.local`,
    'options ndots:5',
    '',
  ].join('\n');
}

export function netnsEtcDir(netns: string): string {
  return `/etc/netns/${netns}`;
}

/** Creates the pod's netns and wiring. Re-running after a partial failure first removes the rest. */
export async function setupPodNetwork(node: SandboxNode, pod: PodNet): Promise<void> {
  await teardownPodNetwork(pod, node);
  const bits = parseCidr(node.podCidr).bits;
  await runOk('ip', ['netns', 'add', pod.netns]);
  await runOk('ip', [...ipNs(node), '-batch', '-'], [
    `link add ${pod.veth} type veth peer name eth0 netns ${pod.netns}`,
    `link set ${pod.veth} master ${node.bridge}`,
    `link set ${pod.veth} type bridge_slave hairpin on`,
    `link set ${pod.veth} up`,
  ].join('\n') + '\n');
  await runOk('ip', ['-n', pod.netns, '-batch', '-'], [
    'link set lo up',
    `addr add ${pod.ip}/${bits} dev eth0`,
    'link set eth0 up',
    `route add default via ${node.nodeIp} dev eth0`,
  ].join('\n') + '\n');
  const dir = netnsEtcDir(pod.netns);
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/resolv.conf`, resolvConf(node, pod.namespace));
}

/** Removes netns (which removes the veth pair) and /etc/netns entry. Idempotent. */
export async function teardownPodNetwork(pod: Pick<PodNet, 'netns' | 'veth'>, node?: Pick<SandboxNode, 'netns'>): Promise<void> {
  await run('ip', [...(node ? ipNs(node) : []), 'link', 'del', pod.veth]);
  await run('ip', ['netns', 'del', pod.netns]);
  rmSync(netnsEtcDir(pod.netns), { recursive: true, force: true });
}

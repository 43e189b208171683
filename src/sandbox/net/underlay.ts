// The "physical" network between the nodes of a multi-node sandbox, routed like kindnet/host-gw:
// a port-less bridge `flbru` in the root netns is the wire; every node gets a macvlan (bridge
// mode) on it, moved into its netns as `eth0` with its InternalIP 10.250.0.<i+1>/24; the host
// gets its own macvlan `flvu0` = 10.250.0.1 (the DNS server and the relays live there). Each node
// routes every other node's pod CIDR via that node's InternalIP; the host routes every pod CIDR.
// macvlan rather than veth: the node's uplink must not look like a pod veth to the agent, which
// attaches its tc programs to every veth whose peer is in another netns.
import { run, runOk } from './exec';
import { parseCidr } from './ipam';
import { UNDERLAY_BRIDGE, UNDERLAY_HOST_LINK, VETH_PREFIX } from './names';
import { UNDERLAY_CIDR, UNDERLAY_HOST_IP } from './node';
import type { SandboxNode } from './node';

/** `ip -batch` lines for the root netns: the wire, the host's address, routes to every pod CIDR. */
export function hostUnderlayBatch(nodes: readonly SandboxNode[]): string[] {
  const bits = parseCidr(UNDERLAY_CIDR).bits;
  return [
    `link add ${UNDERLAY_BRIDGE} type bridge`,
    `link set ${UNDERLAY_BRIDGE} up`,
    `link add ${UNDERLAY_HOST_LINK} link ${UNDERLAY_BRIDGE} type macvlan mode bridge`,
    `addr add ${UNDERLAY_HOST_IP}/${bits} dev ${UNDERLAY_HOST_LINK}`,
    `link set ${UNDERLAY_HOST_LINK} up`,
    ...nodes.map((n) => `route replace ${n.podCidr} via ${n.internalIp} dev ${UNDERLAY_HOST_LINK}`),
  ];
}

/** Root-netns name of node i's macvlan before it moves into the node's netns as eth0. */
function uplinkTemp(index: number): string {
  return `${VETH_PREFIX}u${index + 1}`;
}

/** `ip -n <node netns> -batch` lines: the uplink's address and a route to every other node's pods. */
export function nodeUnderlayBatch(node: SandboxNode, nodes: readonly SandboxNode[]): string[] {
  const bits = parseCidr(UNDERLAY_CIDR).bits;
  return [
    `addr add ${node.internalIp}/${bits} dev eth0`,
    'link set eth0 up',
    ...nodes.filter((n) => n.name !== node.name).map((n) => `route replace ${n.podCidr} via ${n.internalIp} dev eth0`),
    `route replace default via ${UNDERLAY_HOST_IP} dev eth0`,
  ];
}

/** Builds the underlay for nodes whose netns exist already. Not idempotent: cleanup runs before. */
export async function setupUnderlay(nodes: readonly SandboxNode[]): Promise<void> {
  await runOk('ip', ['-batch', '-'], `${hostUnderlayBatch(nodes).join('\n')}\n`);
  for (const [i, node] of nodes.entries()) {
    if (!node.netns) throw new Error(`node ${node.name} has no netns: the underlay is for multi-node sandboxes`);
    const tmp = uplinkTemp(i);
    await runOk('ip', ['-batch', '-'], [
      `link add ${tmp} link ${UNDERLAY_BRIDGE} type macvlan mode bridge`,
      `link set ${tmp} netns ${node.netns}`,
    ].join('\n') + '\n');
    await runOk('ip', ['-n', node.netns, 'link', 'set', tmp, 'name', 'eth0']);
    await runOk('ip', ['-n', node.netns, '-batch', '-'], `${nodeUnderlayBatch(node, nodes).join('\n')}\n`);
  }
}

/** Removes the wire (its macvlans, in every netns, go with it) and the host's routes. Idempotent. */
export async function teardownUnderlay(): Promise<void> {
  await run('ip', ['link', 'del', UNDERLAY_HOST_LINK]);
  await run('ip', ['link', 'del', UNDERLAY_BRIDGE]);
}

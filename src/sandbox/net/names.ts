// Names of everything the sandbox creates on the host. Cleanup finds leftovers by these
// prefixes, so every host-visible object the sandbox makes must be named here.
import { createHash } from 'node:crypto';

export const NETNS_PREFIX = 'flpod-';
export const VETH_PREFIX = 'flv';
export const BRIDGE_PREFIX = 'flbr';
/** Node network namespaces of a multi-node sandbox (`flnode-<i>`). */
export const NODE_NETNS_PREFIX = 'flnode-';
/** Root-netns underlay: a port-less bridge used as the macvlan lower device, and the host's macvlan on it. */
export const UNDERLAY_BRIDGE = `${BRIDGE_PREFIX}u`;
export const UNDERLAY_HOST_LINK = `${VETH_PREFIX}u0`;
/** Our own (non kube-proxy) iptables chains start with this. */
export const CHAIN_PREFIX = 'FLOWLENS-';
/** Environment variable set on every process the sandbox spawns; its value is the state dir. */
export const OWNER_ENV = 'FLOWLENS_SANDBOX_OWNER';

export function hash8(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** netns name for pod `ns/name` (prefix + 8 hex chars). */
export function podNetnsName(namespace: string, name: string): string {
  return NETNS_PREFIX + hash8(`${namespace}/${name}`);
}

/** Host-side veth for pod `ns/name` (11 chars, under IFNAMSIZ). */
export function podVethName(namespace: string, name: string): string {
  return VETH_PREFIX + hash8(`${namespace}/${name}`);
}

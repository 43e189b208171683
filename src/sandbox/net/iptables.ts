// kube-proxy's iptables mode, as a pure function: services + endpoints -> iptables-restore text.
// Chain names and comments follow kube-proxy (pkg/proxy/iptables/proxier.go): KUBE-SVC-<hash>,
// KUBE-SEP-<hash>, KUBE-EXT-<hash>, with hash = first 16 chars of base32(sha256(...)).
// The text is applied with `iptables-restore --noflush`: declaring a chain flushes only that chain,
// so rules in built-in chains (owned by others) are never touched; stale chains get `-X`.
import { createHash } from 'node:crypto';
import { CHAIN_PREFIX } from './names';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface EndpointRule { ip: string; port: number }

export interface ServicePortRule {
  namespace: string;
  name: string;
  /** Service port name ('' when the port is unnamed). */
  portName: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  nodePort?: number;
  /** Set when sessionAffinity is ClientIP. */
  affinityTimeoutSeconds?: number;
  /** Ready endpoints only. */
  endpoints: EndpointRule[];
}

export interface RuleSetInput {
  /** Node pod CIDR (pod egress masquerade source). */
  podCidr: string;
  /** Cluster pod CIDR: traffic to a ClusterIP from outside it is masqueraded, like kube-proxy --cluster-cidr. */
  clusterCidr: string;
  services: ServicePortRule[];
  /** Chains that exist now (from iptables-save), so stale service chains can be deleted. */
  existing?: { nat: string[]; filter: string[] };
}

export const MASQ_MARK = '0x4000/0x4000';
const BASE_NAT = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', `${CHAIN_PREFIX}MASQ`];
const BASE_FILTER = ['KUBE-SERVICES', 'KUBE-FORWARD'];
const SERVICE_CHAIN = /^KUBE-(SVC|SEP|EXT|FW|XLB)-/;

function base32(buf: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function hash16(text: string): string {
  return base32(createHash('sha256').update(text).digest()).slice(0, 16);
}

/** "ns/name:portName" or "ns/name" for an unnamed port (kube-proxy's ServicePortName.String()). */
export function servicePortName(s: Pick<ServicePortRule, 'namespace' | 'name' | 'portName'>): string {
  return `${s.namespace}/${s.name}${s.portName ? `:${s.portName}` : ''}`;
}

export function svcChain(s: ServicePortRule): string {
  return `KUBE-SVC-${hash16(servicePortName(s) + s.protocol.toLowerCase())}`;
}

export function extChain(s: ServicePortRule): string {
  return `KUBE-EXT-${hash16(servicePortName(s) + s.protocol.toLowerCase())}`;
}

export function sepChain(s: ServicePortRule, ep: EndpointRule): string {
  return `KUBE-SEP-${hash16(servicePortName(s) + s.protocol.toLowerCase() + `${ep.ip}:${ep.port}`)}`;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function validPort(p: number | undefined): boolean {
  return p === undefined || (Number.isInteger(p) && p >= 1 && p <= 65535);
}

/** Everything interpolated into rule text is checked here, so a bad object cannot inject rules. */
export function validateServicePort(s: ServicePortRule): void {
  const where = `service port ${s.namespace}/${s.name}:${s.portName || s.port}`;
  if (!NAME.test(s.namespace) || !NAME.test(s.name) || (s.portName !== '' && !NAME.test(s.portName))) throw new Error(`${where}: invalid name`);
  if (!['TCP', 'UDP', 'SCTP'].includes(s.protocol)) throw new Error(`${where}: invalid protocol ${String(s.protocol)}`);
  if (!IPV4.test(s.clusterIP)) throw new Error(`${where}: invalid clusterIP ${s.clusterIP}`);
  if (!validPort(s.port) || !validPort(s.nodePort)) throw new Error(`${where}: invalid port`);
  const t = s.affinityTimeoutSeconds;
  if (t !== undefined && (!Number.isInteger(t) || t < 1 || t > 86400)) throw new Error(`${where}: invalid affinity timeout`);
  for (const ep of s.endpoints) {
    if (!IPV4.test(ep.ip) || !validPort(ep.port)) throw new Error(`${where}: invalid endpoint ${ep.ip}:${ep.port}`);
  }
}

function q(comment: string): string {
  return `-m comment --comment "${comment}"`;
}

function natBase(input: RuleSetInput): string[] {
  return [
    `-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK} -j RETURN`,
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    `-A KUBE-POSTROUTING ${q('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`,
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    `-A ${CHAIN_PREFIX}MASQ -s ${input.podCidr} ! -d ${input.clusterCidr} ${q('flowlens sandbox pod egress')} -j MASQUERADE`,
  ];
}

function svcRules(input: RuleSetInput, s: ServicePortRule): { chains: string[]; rules: string[]; nodePorts: string[] } {
  const spn = servicePortName(s);
  const p = s.protocol.toLowerCase();
  const svc = svcChain(s);
  const match = `-d ${s.clusterIP}/32 -p ${p} ${q(`${spn} cluster IP`)} -m ${p} --dport ${s.port}`;
  const rules = [`-A KUBE-SERVICES ${match} -j ${svc}`, `-A ${svc} ! -s ${input.clusterCidr} ${match} -j KUBE-MARK-MASQ`];
  const chains = [svc];
  const eps = [...s.endpoints].sort((a, b) => `${a.ip}:${a.port}`.localeCompare(`${b.ip}:${b.port}`));
  const affinity = s.affinityTimeoutSeconds;
  if (affinity !== undefined) {
    for (const ep of eps) {
      const sep = sepChain(s, ep);
      rules.push(`-A ${svc} ${q(`${spn} -> ${ep.ip}:${ep.port}`)} -m recent --name ${sep} --mask 255.255.255.255 --rsource --rcheck --seconds ${affinity} --reap -j ${sep}`);
    }
  }
  eps.forEach((ep, i) => {
    const sep = sepChain(s, ep);
    const left = eps.length - i;
    const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
    rules.push(`-A ${svc} ${q(`${spn} -> ${ep.ip}:${ep.port}`)}${stat} -j ${sep}`);
  });
  for (const ep of eps) {
    const sep = sepChain(s, ep);
    const recent = affinity !== undefined ? ` -m recent --name ${sep} --mask 255.255.255.255 --rsource --set` : '';
    chains.push(sep);
    rules.push(`-A ${sep} -s ${ep.ip}/32 ${q(spn)} -j KUBE-MARK-MASQ`);
    rules.push(`-A ${sep} -p ${p} ${q(spn)}${recent} -m ${p} -j DNAT --to-destination ${ep.ip}:${ep.port}`);
  }
  const nodePorts: string[] = [];
  if (s.nodePort !== undefined && eps.length > 0) {
    const ext = extChain(s);
    chains.push(ext);
    nodePorts.push(`-A KUBE-NODEPORTS -p ${p} ${q(spn)} -m ${p} --dport ${s.nodePort} -j ${ext}`);
    rules.push(`-A ${ext} ${q(`masquerade traffic for ${spn} external destinations`)} -j KUBE-MARK-MASQ`, `-A ${ext} -j ${svc}`);
  }
  return { chains, rules, nodePorts };
}

function filterRules(services: ServicePortRule[]): string[] {
  const rules: string[] = [];
  for (const s of services) {
    if (s.endpoints.length > 0) continue;
    const p = s.protocol.toLowerCase();
    rules.push(`-A KUBE-SERVICES -d ${s.clusterIP}/32 -p ${p} ${q(`${servicePortName(s)} has no endpoints`)} -m ${p} --dport ${s.port} -j REJECT --reject-with icmp-port-unreachable`);
  }
  rules.push(`-A KUBE-FORWARD ${q('kubernetes forwarding rules')} -m mark --mark ${MASQ_MARK} -j ACCEPT`);
  rules.push(`-A KUBE-FORWARD ${q('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  return rules;
}

function table(name: string, chains: string[], rules: string[], stale: string[]): string[] {
  return [`*${name}`, ...chains.map((c) => `:${c} - [0:0]`), ...stale.map((c) => `:${c} - [0:0]`), ...rules, ...stale.map((c) => `-X ${c}`), 'COMMIT'];
}

/** The complete rule set for our chains (nat + filter), as iptables-restore --noflush input. */
export function buildRestore(input: RuleSetInput): string {
  const services = [...input.services].sort((a, b) => `${servicePortName(a)}/${a.protocol}`.localeCompare(`${servicePortName(b)}/${b.protocol}`));
  services.forEach(validateServicePort);
  const natChains = [...BASE_NAT];
  const natRules = natBase(input);
  const nodePorts: string[] = [];
  for (const s of services) {
    if (s.endpoints.length === 0) continue; // rejected in filter KUBE-SERVICES, like kube-proxy
    const r = svcRules(input, s);
    natChains.push(...r.chains);
    natRules.push(...r.rules);
    nodePorts.push(...r.nodePorts);
  }
  natRules.push(`-A KUBE-SERVICES ${q('kubernetes service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`);
  natRules.push(...nodePorts);
  const keep = new Set(natChains);
  const staleNat = (input.existing?.nat ?? []).filter((c) => SERVICE_CHAIN.test(c) && !keep.has(c));
  const staleFilter = (input.existing?.filter ?? []).filter((c) => SERVICE_CHAIN.test(c));
  return [...table('filter', BASE_FILTER, filterRules(services), staleFilter), ...table('nat', natChains, natRules, staleNat), ''].join('\n');
}

/** Chain names declared in an iptables-save dump, per table. */
export function parseChains(save: string): { nat: string[]; filter: string[] } {
  const out: { nat: string[]; filter: string[] } = { nat: [], filter: [] };
  let current: 'nat' | 'filter' | undefined;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) current = line === '*nat' ? 'nat' : line === '*filter' ? 'filter' : undefined;
    else if (line.startsWith(':') && current) out[current].push(line.slice(1).split(' ')[0] ?? '');
  }
  return out;
}

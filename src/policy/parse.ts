// Validation and normalisation of raw Kubernetes objects (from YAML/JSON files, the API server
// or the cluster model) into the engine's model. Every error names where the object came from
// and the field, like the API server's field errors: "<file>: document 2: spec.ingress[0].ports[1].port: ...".
import { isIP, parseCidr, cidrWithin } from './cidr';
import type { ContainerPort, IPBlock, Namespace, Peer, Pod, Policy, PolicySource, PortSpec, Protocol, Requirement, Rule, Selector } from './types';

export class InputError extends Error {
  constructor(readonly where: string, readonly field: string, detail: string) {
    super(`${where}: ${field ? `${field}: ` : ''}${detail}`);
  }
}

type Obj = Record<string, unknown>;
const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const PORT_NAME = /^(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)$/;

export interface Ctx { where: string }

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(ctx: Ctx, v: unknown, field: string, optional = true): Obj | undefined {
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw new InputError(ctx.where, field, 'required');
  }
  if (!isObj(v)) throw new InputError(ctx.where, field, `must be an object, got ${JSON.stringify(v)}`);
  return v;
}

function list(ctx: Ctx, v: unknown, field: string): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new InputError(ctx.where, field, `must be a list, got ${JSON.stringify(v)}`);
  return v;
}

function str(ctx: Ctx, v: unknown, field: string): string {
  if (typeof v !== 'string') throw new InputError(ctx.where, field, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function labelMap(ctx: Ctx, v: unknown, field: string): Record<string, string> {
  const o = obj(ctx, v, field) ?? {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') throw new InputError(ctx.where, `${field}.${k}`, `label values must be strings, got ${JSON.stringify(val)}`);
    if (k === '' || k.length > 316) throw new InputError(ctx.where, field, `invalid label key ${JSON.stringify(k)}`);
    out[k] = val;
  }
  return out;
}

export function parseSelector(ctx: Ctx, v: unknown, field: string): Selector {
  const o = obj(ctx, v, field) ?? {};
  const matchLabels = labelMap(ctx, o.matchLabels, `${field}.matchLabels`);
  const matchExpressions = (list(ctx, o.matchExpressions, `${field}.matchExpressions`) ?? []).map((e, i): Requirement => {
    const f = `${field}.matchExpressions[${i}]`;
    const r = obj(ctx, e, f, false) as Obj;
    const key = str(ctx, r.key, `${f}.key`);
    const operator = str(ctx, r.operator, `${f}.operator`);
    const values = (list(ctx, r.values, `${f}.values`) ?? []).map((x, j) => str(ctx, x, `${f}.values[${j}]`));
    if (operator === 'In' || operator === 'NotIn') {
      if (values.length === 0) throw new InputError(ctx.where, `${f}.values`, `must be non-empty when operator is ${operator}`);
    } else if (operator === 'Exists' || operator === 'DoesNotExist') {
      if (values.length > 0) throw new InputError(ctx.where, `${f}.values`, `must be empty when operator is ${operator}`);
    } else throw new InputError(ctx.where, `${f}.operator`, `unsupported value ${JSON.stringify(operator)}: In, NotIn, Exists, DoesNotExist`);
    return { key, operator, values };
  });
  return { matchLabels, matchExpressions };
}

function protocol(ctx: Ctx, v: unknown, field: string): Protocol {
  if (v === undefined || v === null) return 'TCP';
  if (typeof v !== 'string' || !PROTOCOLS.includes(v)) throw new InputError(ctx.where, field, `unsupported value ${JSON.stringify(v)}: TCP, UDP, SCTP`);
  return v as Protocol;
}

function portNumber(ctx: Ctx, v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw new InputError(ctx.where, field, `must be between 1 and 65535, inclusive, got ${JSON.stringify(v)}`);
  return v;
}

function parsePort(ctx: Ctx, v: unknown, field: string): PortSpec {
  const o = obj(ctx, v, field, false) as Obj;
  const spec: PortSpec = { protocol: protocol(ctx, o.protocol, `${field}.protocol`) };
  if (o.port !== undefined && o.port !== null) {
    if (typeof o.port === 'string') {
      if (/^\d+$/.test(o.port)) spec.port = portNumber(ctx, Number(o.port), `${field}.port`);
      else if (!PORT_NAME.test(o.port) || !/[a-z]/.test(o.port)) throw new InputError(ctx.where, `${field}.port`, `invalid named port ${JSON.stringify(o.port)} (an IANA_SVC_NAME: 1-15 lowercase letters, digits, '-')`);
      else spec.port = o.port;
    } else spec.port = portNumber(ctx, o.port, `${field}.port`);
  }
  if (o.endPort !== undefined && o.endPort !== null) {
    if (typeof spec.port !== 'number') throw new InputError(ctx.where, `${field}.endPort`, 'may not be specified when `port` is absent or a named port');
    const end = portNumber(ctx, o.endPort, `${field}.endPort`);
    if (end < spec.port) throw new InputError(ctx.where, `${field}.endPort`, `must be greater than or equal to \`port\` (${spec.port})`);
    spec.endPort = end;
  }
  return spec;
}

function parseIPBlock(ctx: Ctx, v: unknown, field: string): IPBlock {
  const o = obj(ctx, v, field, false) as Obj;
  const cidrText = str(ctx, o.cidr, `${field}.cidr`);
  const cidr = parseCidr(cidrText);
  if (!cidr) throw new InputError(ctx.where, `${field}.cidr`, `invalid CIDR ${JSON.stringify(cidrText)}`);
  const except = (list(ctx, o.except, `${field}.except`) ?? []).map((e, i) => {
    const f = `${field}.except[${i}]`;
    const t = str(ctx, e, f);
    const c = parseCidr(t);
    if (!c) throw new InputError(ctx.where, f, `invalid CIDR ${JSON.stringify(t)}`);
    if (!cidrWithin(c, cidr) || c.bits <= cidr.bits) throw new InputError(ctx.where, f, `must be a strict subset of \`cidr\` (${cidrText})`);
    return t;
  });
  return { cidr: cidrText, except };
}

function parsePeer(ctx: Ctx, v: unknown, field: string): Peer {
  const o = obj(ctx, v, field, false) as Obj;
  const peer: Peer = {};
  if (o.podSelector !== undefined && o.podSelector !== null) peer.podSelector = parseSelector(ctx, o.podSelector, `${field}.podSelector`);
  if (o.namespaceSelector !== undefined && o.namespaceSelector !== null) peer.namespaceSelector = parseSelector(ctx, o.namespaceSelector, `${field}.namespaceSelector`);
  if (o.ipBlock !== undefined && o.ipBlock !== null) {
    if (peer.podSelector || peer.namespaceSelector) throw new InputError(ctx.where, field, 'may not specify more than 1 peer type (ipBlock with podSelector/namespaceSelector)');
    peer.ipBlock = parseIPBlock(ctx, o.ipBlock, `${field}.ipBlock`);
  }
  if (!peer.podSelector && !peer.namespaceSelector && !peer.ipBlock) throw new InputError(ctx.where, field, 'must specify a peer (podSelector, namespaceSelector or ipBlock)');
  return peer;
}

function parseRules(ctx: Ctx, v: unknown, field: string, peersKey: 'from' | 'to'): Rule[] {
  return (list(ctx, v, field) ?? []).map((r, i) => {
    const f = `${field}[${i}]`;
    const o = obj(ctx, r, f) ?? {};
    const peers = (list(ctx, o[peersKey], `${f}.${peersKey}`) ?? []).map((p, j) => parsePeer(ctx, p, `${f}.${peersKey}[${j}]`));
    const ports = (list(ctx, o.ports, `${f}.ports`) ?? []).map((p, j) => parsePort(ctx, p, `${f}.ports[${j}]`));
    return { peers, ports };
  });
}

function meta(ctx: Ctx, o: Obj, namespaced: boolean): { name: string; namespace: string; labels: Record<string, string>; uid?: string; resourceVersion?: string } {
  const m = obj(ctx, o.metadata, 'metadata', false) as Obj;
  const name = str(ctx, m.name, 'metadata.name');
  if (!SUBDOMAIN.test(name) || name.length > 253) throw new InputError(ctx.where, 'metadata.name', `invalid name ${JSON.stringify(name)}`);
  const namespace = namespaced ? (m.namespace === undefined || m.namespace === null ? 'default' : str(ctx, m.namespace, 'metadata.namespace')) : '';
  if (namespaced && (!DNS1123.test(namespace) || namespace.length > 63)) throw new InputError(ctx.where, 'metadata.namespace', `invalid namespace ${JSON.stringify(namespace)}`);
  const uid = typeof m.uid === 'string' ? m.uid : undefined;
  const resourceVersion = typeof m.resourceVersion === 'string' ? m.resourceVersion : undefined;
  return { name, namespace, labels: labelMap(ctx, m.labels, 'metadata.labels'), ...(uid ? { uid } : {}), ...(resourceVersion ? { resourceVersion } : {}) };
}

function policyTypes(ctx: Ctx, spec: Obj, egress: Rule[]): Policy['types'] {
  const raw = list(ctx, spec.policyTypes, 'spec.policyTypes') ?? [];
  // Like the API server's defaulting: absent or empty -> Ingress, plus Egress when spec.egress is non-empty.
  if (raw.length === 0) return { ingress: true, egress: egress.length > 0 };
  const types = raw.map((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') throw new InputError(ctx.where, `spec.policyTypes[${i}]`, `unsupported value ${JSON.stringify(t)}: Ingress, Egress`);
    return t;
  });
  return { ingress: types.includes('Ingress'), egress: types.includes('Egress') };
}

export function parsePolicy(ctx: Ctx, o: Obj, source?: PolicySource): Policy {
  const m = meta(ctx, o, true);
  const spec = obj(ctx, o.spec, 'spec', false) as Obj;
  if (spec.podSelector === undefined) throw new InputError(ctx.where, 'spec.podSelector', 'required (use {} to select every pod of the namespace)');
  const podSelector = parseSelector(ctx, spec.podSelector, 'spec.podSelector');
  const ingress = parseRules(ctx, spec.ingress, 'spec.ingress', 'from');
  const egress = parseRules(ctx, spec.egress, 'spec.egress', 'to');
  return { ...m, podSelector, ingress, egress, types: policyTypes(ctx, spec, egress), ...(source ? { source } : {}) };
}

function containerPorts(ctx: Ctx, spec: Obj): ContainerPort[] {
  const out: ContainerPort[] = [];
  (list(ctx, spec.containers, 'spec.containers') ?? []).forEach((c, i) => {
    const co = obj(ctx, c, `spec.containers[${i}]`, false) as Obj;
    (list(ctx, co.ports, `spec.containers[${i}].ports`) ?? []).forEach((p, j) => {
      const f = `spec.containers[${i}].ports[${j}]`;
      const po = obj(ctx, p, f, false) as Obj;
      const cp: ContainerPort = { containerPort: portNumber(ctx, po.containerPort, `${f}.containerPort`), protocol: protocol(ctx, po.protocol, `${f}.protocol`) };
      if (po.name !== undefined && po.name !== null) {
        const name = str(ctx, po.name, `${f}.name`);
        if (!PORT_NAME.test(name) || !/[a-z]/.test(name)) throw new InputError(ctx.where, `${f}.name`, `invalid port name ${JSON.stringify(name)}`);
        cp.name = name;
      }
      out.push(cp);
    });
  });
  return out;
}

function podIPs(ctx: Ctx, status: Obj): string[] {
  const ips: string[] = [];
  if (status.podIP !== undefined && status.podIP !== null && status.podIP !== '') ips.push(str(ctx, status.podIP, 'status.podIP'));
  (list(ctx, status.podIPs, 'status.podIPs') ?? []).forEach((e, i) => {
    const ip = str(ctx, (obj(ctx, e, `status.podIPs[${i}]`, false) as Obj).ip, `status.podIPs[${i}].ip`);
    if (!ips.includes(ip)) ips.push(ip);
  });
  ips.forEach((ip) => { if (!isIP(ip)) throw new InputError(ctx.where, 'status.podIP', `invalid IP address ${JSON.stringify(ip)}`); });
  return ips;
}

export function parsePod(ctx: Ctx, o: Obj): Pod {
  const m = meta(ctx, o, true);
  const spec = obj(ctx, o.spec, 'spec') ?? {};
  const status = obj(ctx, o.status, 'status') ?? {};
  if (spec.hostNetwork !== undefined && typeof spec.hostNetwork !== 'boolean') throw new InputError(ctx.where, 'spec.hostNetwork', 'must be a boolean');
  const done = status.phase === 'Succeeded' || status.phase === 'Failed';
  return { namespace: m.namespace, name: m.name, labels: m.labels, ips: done ? [] : podIPs(ctx, status), hostNetwork: spec.hostNetwork === true, ports: containerPorts(ctx, spec) };
}

export function parseNamespace(ctx: Ctx, o: Obj): Namespace {
  const m = meta(ctx, o, false);
  return { name: m.name, labels: m.labels };
}

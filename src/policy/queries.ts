// `policy check` queries: a JSON array of {from, to, port, protocol}, validated against the
// objects ("ns/pod" must exist; a named port needs a destination pod that has it).
import { isIP } from './cidr';
import { InputError } from './parse';
import type { EndpointRef, Pod, Protocol, Query } from './types';

export interface QueryInput { from: string | { ip: string }; to: string | { ip: string }; port: number | string; protocol?: Protocol }

export interface Lookup { pod(ns: string, name: string): Pod | undefined; podByIP(ip: string): Pod | undefined }

function endpoint(where: string, field: string, v: unknown, look: Lookup): EndpointRef {
  if (typeof v === 'string') {
    const m = /^([^/]+)\/([^/]+)$/.exec(v);
    if (!m?.[1] || !m[2]) throw new InputError(where, field, `must be "namespace/pod" or {"ip": "..."}, got ${JSON.stringify(v)}`);
    const pod = look.pod(m[1], m[2]);
    if (!pod) throw new InputError(where, field, `pod ${v} is not among the objects`);
    return { pod };
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as { ip?: unknown }).ip === 'string') {
    const ip = (v as { ip: string }).ip;
    if (!isIP(ip)) throw new InputError(where, `${field}.ip`, `invalid IP address ${JSON.stringify(ip)}`);
    return { ip };
  }
  throw new InputError(where, field, `must be "namespace/pod" or {"ip": "..."}, got ${JSON.stringify(v)}`);
}

function destinationPod(to: EndpointRef, look: Lookup): Pod | undefined {
  const pod = 'pod' in to ? to.pod : look.podByIP(to.ip);
  return pod && !pod.hostNetwork ? pod : undefined;
}

function port(where: string, v: unknown, protocol: Protocol, to: EndpointRef, look: Lookup): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new InputError(where, 'port', `must be between 1 and 65535, got ${v}`);
    return v;
  }
  if (typeof v !== 'string' || v === '') throw new InputError(where, 'port', `must be a number or a port name, got ${JSON.stringify(v)}`);
  const pod = destinationPod(to, look);
  if (!pod) throw new InputError(where, 'port', `named port ${JSON.stringify(v)} needs a destination pod`);
  const hit = pod.ports.find((p) => p.name === v && p.protocol === protocol);
  if (!hit) throw new InputError(where, 'port', `pod ${pod.namespace}/${pod.name} has no ${protocol} container port named ${JSON.stringify(v)}`);
  return hit.containerPort;
}

export function parseQueries(text: string, file: string, look: Lookup): Query[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(file, '', `invalid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new InputError(file, '', 'must be a JSON array of queries');
  return raw.map((q, i) => {
    const where = `${file}: query ${i}`;
    if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new InputError(where, '', 'must be an object {from, to, port, protocol}');
    const o = q as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['from', 'to', 'port', 'protocol'].includes(k)) throw new InputError(where, k, 'unknown field (from, to, port, protocol)');
    const protocol = o.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') throw new InputError(where, 'protocol', `unsupported value ${JSON.stringify(protocol)}: TCP, UDP, SCTP`);
    if (o.from === undefined) throw new InputError(where, 'from', 'required');
    if (o.to === undefined) throw new InputError(where, 'to', 'required');
    if (o.port === undefined) throw new InputError(where, 'port', 'required');
    const from = endpoint(where, 'from', o.from, look);
    const to = endpoint(where, 'to', o.to, look);
    return { from, to, port: port(where, o.port, protocol, to, look), protocol };
  });
}

export function endpointLabel(e: EndpointRef): string | { ip: string } {
  return 'pod' in e ? `${e.pod.namespace}/${e.pod.name}` : { ip: e.ip };
}

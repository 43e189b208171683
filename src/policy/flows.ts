// Observed flows (`flowlens observe -o json` lines, Hubble's shape) as policy queries, and a
// cluster synthesized from the flows' endpoint identities when no objects are given.
import { isIP } from './cidr';
import { InputError } from './parse';
import type { Cluster, EndpointRef, Pod, Protocol, Query } from './types';
import { NAMESPACE_NAME_LABEL } from './types';

export interface FlowEnd { ip: string; namespace?: string; pod?: string; labels?: Record<string, string>; workload?: string }
export interface ObservedFlow { line: number; raw: Record<string, unknown>; src: FlowEnd; dst: FlowEnd; port: number; protocol: Protocol; verdict: string }

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** "k8s:key=value" strings -> labels (Hubble's reserved/namespace labels left out). */
export function labelsFromStrings(list: unknown): Record<string, string> | undefined {
  if (!Array.isArray(list)) return undefined;
  const out: Record<string, string> = {};
  for (const s of list) {
    if (typeof s !== 'string' || !s.startsWith('k8s:')) continue;
    const eq = s.indexOf('=');
    const k = eq < 0 ? s.slice(4) : s.slice(4, eq);
    if (k === 'io.kubernetes.pod.namespace' || k.startsWith('io.cilium.')) continue;
    out[k] = eq < 0 ? '' : s.slice(eq + 1);
  }
  return out;
}

function end(where: string, field: string, ip: unknown, e: unknown): FlowEnd {
  if (typeof ip !== 'string' || !isIP(ip)) throw new InputError(where, `flow.IP.${field}`, `invalid IP address ${JSON.stringify(ip)}`);
  const o = isObj(e) ? e : {};
  const wl = Array.isArray(o.workloads) && isObj(o.workloads[0]) && typeof o.workloads[0].name === 'string' ? o.workloads[0].name : undefined;
  const labels = labelsFromStrings(o.labels);
  return {
    ip, ...(typeof o.namespace === 'string' && o.namespace ? { namespace: o.namespace } : {}), ...(typeof o.pod_name === 'string' && o.pod_name ? { pod: o.pod_name } : {}),
    ...(labels ? { labels } : {}), ...(wl ? { workload: wl } : {}),
  };
}

/** The port the connection was opened to: a reply's (is_reply) is its source port. */
function l4(where: string, flow: Obj, reply: boolean): { port: number; protocol: Protocol } | undefined {
  const l = isObj(flow.l4) ? flow.l4 : {};
  const field = reply ? 'source_port' : 'destination_port';
  for (const [key, protocol] of [['TCP', 'TCP'], ['UDP', 'UDP'], ['SCTP', 'SCTP']] as const) {
    const x = l[key];
    if (!isObj(x)) continue;
    const port = x[field];
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new InputError(where, `flow.l4.${key}.${field}`, `must be a port number, got ${JSON.stringify(port)}`);
    return { port, protocol };
  }
  return undefined; // ICMP and friends: NetworkPolicy has nothing to say
}

/** Parses JSON lines; flows without a TCP/UDP/SCTP layer 4 are skipped; replies are turned into their connection. */
export function parseFlows(text: string, file: string): ObservedFlow[] {
  const out: ObservedFlow[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}: line ${i + 1}`;
    let raw: unknown;
    try { raw = JSON.parse(line); } catch (e) { throw new InputError(where, '', `invalid JSON: ${(e as Error).message}`); }
    if (!isObj(raw)) throw new InputError(where, '', 'must be a JSON object');
    const flow = isObj(raw.flow) ? raw.flow : raw;
    if (!isObj(flow.IP)) throw new InputError(where, 'flow.IP', 'required');
    // A reply (e.g. an HTTP response) belongs to the connection its destination opened: judged as that connection.
    const reply = flow.is_reply === true;
    const ports = l4(where, flow, reply);
    if (!ports) return;
    const src = end(where, 'source', flow.IP.source, flow.source);
    const dst = end(where, 'destination', flow.IP.destination, flow.destination);
    out.push({
      line: i + 1, raw, src: reply ? dst : src, dst: reply ? src : dst,
      ...ports, verdict: typeof flow.verdict === 'string' ? flow.verdict : 'VERDICT_UNKNOWN',
    });
  });
  return out;
}

/** Pods (with the labels the flows carried) and namespaces seen in the flows. */
export function clusterFromFlows(flows: ObservedFlow[]): Cluster {
  const pods = new Map<string, Pod>();
  const namespaces = new Set<string>();
  for (const f of flows) {
    for (const e of [f.src, f.dst]) {
      if (!e.namespace || !e.pod) continue;
      namespaces.add(e.namespace);
      const key = `${e.namespace}/${e.pod}`;
      const known = pods.get(key);
      if (known) { if (!known.ips.includes(e.ip)) known.ips.push(e.ip); continue; }
      pods.set(key, { namespace: e.namespace, name: e.pod, labels: e.labels ?? {}, ips: [e.ip], hostNetwork: false, ports: [] });
    }
  }
  return { namespaces: [...namespaces].map((name) => ({ name, labels: { [NAMESPACE_NAME_LABEL]: name } })), pods: [...pods.values()], policies: [] };
}

/** A flow end as an endpoint of `cluster`: the named pod, else the pod with that IP, else the bare IP. */
export function flowEndpoint(e: FlowEnd, cluster: { pod(ns: string, name: string): Pod | undefined }): EndpointRef {
  const pod = e.namespace && e.pod ? cluster.pod(e.namespace, e.pod) : undefined;
  return pod ? { pod, ip: e.ip } : { ip: e.ip };
}

export function flowQuery(f: ObservedFlow, cluster: { pod(ns: string, name: string): Pod | undefined }): Query {
  return { from: flowEndpoint(f.src, cluster), to: flowEndpoint(f.dst, cluster), port: f.port, protocol: f.protocol };
}

export function podLookup(c: Cluster): { pod(ns: string, name: string): Pod | undefined } {
  const m = new Map(c.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  return { pod: (ns, name) => m.get(`${ns}/${name}`) };
}

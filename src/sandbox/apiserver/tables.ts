// meta.k8s.io/v1 Table output (server-side printing), with the columns `kubectl get` shows.
import type { KubeObject, Resource } from './types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export interface Column { name: string; type: string; format: string; description: string; priority: number }
export type IncludeObject = 'None' | 'Metadata' | 'Object';

interface Printer { columns: Column[]; cells(obj: KubeObject, now: number): unknown[] }

function col(name: string, type = 'string', priority = 0, format = ''): Column {
  return { name, type, format, description: `${name} column`, priority };
}

const NAME = col('Name', 'string', 0, 'name');
const AGE = col('Age', 'string', 0, '');

/** kubectl's HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  const y = Math.floor(h / 24 / 365);
  const d = Math.floor(h / 24) % 365;
  if (h < 24 * 365 * 8) return d === 0 ? `${y}y` : `${y}y${d}d`;
  return `${y}y`;
}

function age(obj: KubeObject, now: number): string {
  const t = Date.parse(obj.metadata.creationTimestamp ?? '');
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
}

function orNone(v: unknown): string {
  return v === undefined || v === null || v === '' ? '<none>' : String(v);
}

function selectorString(sel: Any): string {
  const labels = sel?.matchLabels ?? sel ?? {};
  const parts = Object.entries(labels).filter(([, v]) => typeof v === 'string').map(([k, v]) => `${k}=${String(v)}`);
  for (const e of (sel?.matchExpressions ?? []) as Any[]) parts.push(`${e.key} ${String(e.operator).toLowerCase()} (${(e.values ?? []).join(',')})`);
  return parts.length ? parts.join(',') : '<none>';
}

function podStatus(pod: KubeObject): string {
  let reason: string = pod.status?.reason || pod.status?.phase || 'Unknown';
  for (const cs of (pod.status?.containerStatuses ?? []) as Any[]) {
    if (cs.state?.waiting?.reason) reason = cs.state.waiting.reason;
    else if (cs.state?.terminated?.reason && reason !== 'Running') reason = cs.state.terminated.reason;
  }
  return pod.metadata.deletionTimestamp ? 'Terminating' : reason;
}

const podPrinter: Printer = {
  columns: [NAME, col('Ready'), col('Status'), col('Restarts', 'string'), AGE,
    col('IP', 'string', 1), col('Node', 'string', 1), col('Nominated Node', 'string', 1), col('Readiness Gates', 'string', 1)],
  cells(p, now) {
    const statuses = (p.status?.containerStatuses ?? []) as Any[];
    const total = (p.spec?.containers ?? []).length;
    const ready = statuses.filter((c) => c.ready).length;
    const restarts = statuses.reduce((n, c) => n + (Number(c.restartCount) || 0), 0);
    const gates = (p.spec?.readinessGates ?? []) as Any[];
    return [p.metadata.name, `${ready}/${total}`, podStatus(p), String(restarts), age(p, now),
      orNone(p.status?.podIP), orNone(p.spec?.nodeName), orNone(p.status?.nominatedNodeName),
      gates.length ? `0/${gates.length}` : '<none>'];
  },
};

function servicePorts(svc: KubeObject): string {
  const ports = (svc.spec?.ports ?? []) as Any[];
  if (!ports.length) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort ? ':' + p.nodePort : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

function externalIp(svc: KubeObject): string {
  const type = svc.spec?.type ?? 'ClusterIP';
  if (type === 'ExternalName') return orNone(svc.spec?.externalName);
  const ips = [...(svc.spec?.externalIPs ?? []), ...((svc.status?.loadBalancer?.ingress ?? []) as Any[]).map((i) => i.ip ?? i.hostname)];
  if (ips.length) return ips.join(',');
  return type === 'LoadBalancer' ? '<pending>' : '<none>';
}

const servicePrinter: Printer = {
  columns: [NAME, col('Type'), col('Cluster-IP'), col('External-IP'), col('Port(s)'), AGE, col('Selector', 'string', 1)],
  cells: (s, now) => [s.metadata.name, s.spec?.type ?? 'ClusterIP', orNone(s.spec?.clusterIP), externalIp(s), servicePorts(s), age(s, now),
    s.spec?.selector ? selectorString(s.spec.selector) : '<none>'],
};

function endpointList(addrs: string[]): string {
  if (!addrs.length) return '<unset>';
  const shown = addrs.slice(0, 3).join(',');
  return addrs.length > 3 ? `${shown} + ${addrs.length - 3} more...` : shown;
}

const endpointSlicePrinter: Printer = {
  columns: [NAME, col('AddressType'), col('Ports'), col('Endpoints'), AGE],
  cells(e, now) {
    const ports = ((e.ports ?? []) as Any[]).map((p) => String(p.port ?? '<unset>'));
    const addrs = ((e.endpoints ?? []) as Any[]).flatMap((ep) => (ep.addresses ?? []) as string[]);
    return [e.metadata.name, String(e.addressType ?? ''), ports.length ? ports.join(',') : '<unset>', endpointList(addrs), age(e, now)];
  },
};

function containersImages(spec: Any): [string, string] {
  const cs = (spec?.template?.spec?.containers ?? []) as Any[];
  return [cs.map((c) => c.name).join(',') || '<none>', cs.map((c) => c.image).join(',') || '<none>'];
}

const deploymentPrinter: Printer = {
  columns: [NAME, col('Ready'), col('Up-to-date', 'integer'), col('Available', 'integer'), AGE,
    col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
  cells(d, now) {
    const st = d.status ?? {};
    return [d.metadata.name, `${st.readyReplicas ?? 0}/${d.spec?.replicas ?? 1}`, st.updatedReplicas ?? 0, st.availableReplicas ?? 0,
      age(d, now), ...containersImages(d.spec), selectorString(d.spec?.selector)];
  },
};

const replicaSetPrinter: Printer = {
  columns: [NAME, col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), AGE,
    col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
  cells: (r, now) => [r.metadata.name, r.spec?.replicas ?? 1, r.status?.replicas ?? 0, r.status?.readyReplicas ?? 0, age(r, now),
    ...containersImages(r.spec), selectorString(r.spec?.selector)],
};

const daemonSetPrinter: Printer = {
  columns: [NAME, col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), col('Up-to-date', 'integer'),
    col('Available', 'integer'), col('Node Selector'), AGE, col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
  cells(d, now) {
    const st = d.status ?? {};
    const ns = d.spec?.template?.spec?.nodeSelector;
    return [d.metadata.name, st.desiredNumberScheduled ?? 0, st.currentNumberScheduled ?? 0, st.numberReady ?? 0,
      st.updatedNumberScheduled ?? 0, st.numberAvailable ?? 0, ns ? selectorString(ns) : '<none>', age(d, now),
      ...containersImages(d.spec), selectorString(d.spec?.selector)];
  },
};

const networkPolicyPrinter: Printer = {
  columns: [NAME, col('Pod-Selector'), AGE],
  cells: (n, now) => [n.metadata.name, selectorString(n.spec?.podSelector) === '<none>' ? '<none>' : selectorString(n.spec?.podSelector), age(n, now)],
};

function nodeReady(n: KubeObject): string {
  const ready = ((n.status?.conditions ?? []) as Any[]).find((c) => c.type === 'Ready');
  return ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
}

function nodeAddress(n: KubeObject, type: string): string {
  return orNone(((n.status?.addresses ?? []) as Any[]).find((a) => a.type === type)?.address);
}

function nodeRoles(n: KubeObject): string {
  const roles = Object.keys(n.metadata.labels ?? {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice(24));
  return roles.length ? roles.join(',') : '<none>';
}

const nodePrinter: Printer = {
  columns: [NAME, col('Status'), col('Roles'), AGE, col('Version'), col('Internal-IP', 'string', 1), col('External-IP', 'string', 1),
    col('OS-Image', 'string', 1), col('Kernel-Version', 'string', 1), col('Container-Runtime', 'string', 1)],
  cells(n, now) {
    const info = n.status?.nodeInfo ?? {};
    return [n.metadata.name, nodeReady(n), nodeRoles(n), age(n, now), orNone(info.kubeletVersion), nodeAddress(n, 'InternalIP'),
      nodeAddress(n, 'ExternalIP'), orNone(info.osImage), orNone(info.kernelVersion), orNone(info.containerRuntimeVersion)];
  },
};

const namespacePrinter: Printer = {
  columns: [NAME, col('Status'), AGE],
  cells: (n, now) => [n.metadata.name, n.status?.phase ?? 'Active', age(n, now)],
};

const genericPrinter: Printer = { columns: [NAME, AGE], cells: (o, now) => [o.metadata.name, age(o, now)] };

const PRINTERS: Partial<Record<Resource, Printer>> = {
  pods: podPrinter, services: servicePrinter, endpointslices: endpointSlicePrinter, deployments: deploymentPrinter,
  replicasets: replicaSetPrinter, daemonsets: daemonSetPrinter, networkpolicies: networkPolicyPrinter, nodes: nodePrinter,
  namespaces: namespacePrinter,
};

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function parseIncludeObject(v: string | null): IncludeObject {
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

/** Builds a Table for `objects`; `withColumns` false omits columnDefinitions (watch events after the first). */
export function toTable(resource: Resource, objects: KubeObject[], include: IncludeObject, resourceVersion: string,
  extraMeta: Record<string, unknown> = {}, withColumns = true): Record<string, unknown> {
  const printer = PRINTERS[resource] ?? genericPrinter;
  const now = Date.now();
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion, ...extraMeta },
    columnDefinitions: withColumns ? printer.columns : null,
    rows: objects.map((o) => {
      const row: Record<string, unknown> = { cells: printer.cells(o, now) };
      const object = rowObject(o, include);
      if (object !== undefined) row.object = object;
      return row;
    }),
  };
}

/** True when the Accept header asks for a meta.k8s.io Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim());
    return params.includes('as=Table') && params.includes('g=meta.k8s.io') && (params.includes('v=v1') || params.includes('v=v1beta1'));
  });
}

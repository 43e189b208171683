// An index over the cluster model for the Services tree, rebuilt lazily after model changes:
// services by namespace, backends by service (from EndpointSlices), pods by namespace and label,
// so that warnings for 10,000 services never scan 100,000 pods per service. Pure (no vscode).
import type { Backend } from '../../cluster/model';
import type { KubeObject } from '../../sandbox/apiserver/types';

/** The lists the index is built from (ClusterModel.parts satisfies it through `modelLists`). */
export interface ServicesLists {
  namespaces(): KubeObject[];
  services(): KubeObject[];
  pods(): KubeObject[];
  endpointslices(): KubeObject[];
}

export type WarningCode = 'no-endpoints' | 'selector-matches-nothing' | 'target-port-not-exposed' | 'no-ready-endpoints';
export interface ServiceWarning { code: WarningCode; message: string }

interface SliceEndpoint { addresses?: string[]; conditions?: { ready?: boolean }; nodeName?: string; targetRef?: { kind?: string; name?: string; namespace?: string } }
interface ServicePort { name?: string; port: number; protocol?: string; targetPort?: number | string; nodePort?: number }
interface ContainerPort { name?: string; containerPort: number; protocol?: string }

const key = (ns: string | undefined, name: string) => `${ns ?? 'default'}/${name}`;
const byName = (a: KubeObject, b: KubeObject) => a.metadata.name.localeCompare(b.metadata.name);

export class ServicesIndex {
  readonly namespaces: KubeObject[];
  private readonly servicesByNs = new Map<string, KubeObject[]>();
  private readonly podsByKey = new Map<string, KubeObject>();
  private readonly podsByIP = new Map<string, KubeObject>();
  /** namespace → "k=v" → pods with that label. */
  private readonly podsByLabel = new Map<string, Map<string, KubeObject[]>>();
  private readonly podsByNs = new Map<string, KubeObject[]>();
  private readonly slicesBySvc = new Map<string, KubeObject[]>();
  private readonly warningCache = new Map<string, ServiceWarning[]>();
  readonly serviceCount: number;

  constructor(lists: ServicesLists) {
    this.namespaces = lists.namespaces().sort(byName);
    const services = lists.services();
    this.serviceCount = services.length;
    for (const s of services) push(this.servicesByNs, s.metadata.namespace ?? 'default', s);
    for (const l of this.servicesByNs.values()) l.sort(byName);
    for (const p of lists.pods()) this.addPod(p);
    for (const sl of lists.endpointslices()) {
      const svc = sl.metadata.labels?.['kubernetes.io/service-name'];
      if (svc) push(this.slicesBySvc, key(sl.metadata.namespace, svc), sl);
    }
  }

  private addPod(p: KubeObject): void {
    const ns = p.metadata.namespace ?? 'default';
    this.podsByKey.set(key(ns, p.metadata.name), p);
    push(this.podsByNs, ns, p);
    if (!p.spec?.hostNetwork && typeof p.status?.podIP === 'string') this.podsByIP.set(p.status.podIP, p);
    let labels = this.podsByLabel.get(ns);
    if (!labels) this.podsByLabel.set(ns, (labels = new Map()));
    for (const [k, v] of Object.entries(p.metadata.labels ?? {})) push(labels, `${k}=${v}`, p);
  }

  services(namespace?: string): KubeObject[] {
    if (namespace !== undefined) return this.servicesByNs.get(namespace) ?? [];
    return [...this.servicesByNs.values()].flat();
  }

  service(namespace: string, name: string): KubeObject | undefined {
    return this.services(namespace).find((s) => s.metadata.name === name);
  }

  pod(namespace: string, name: string): KubeObject | undefined {
    return this.podsByKey.get(key(namespace, name));
  }

  backendsOf(svc: KubeObject): Backend[] {
    const ns = svc.metadata.namespace ?? 'default';
    const out: Backend[] = [];
    for (const sl of this.slicesBySvc.get(key(ns, svc.metadata.name)) ?? []) {
      for (const ep of (sl.endpoints ?? []) as SliceEndpoint[]) {
        const ref = ep.targetRef;
        const byRef = ref?.kind === 'Pod' && ref.name ? this.podsByKey.get(key(ref.namespace ?? ns, ref.name)) : undefined;
        for (const ip of ep.addresses ?? []) {
          const pod = byRef ?? this.podsByIP.get(ip);
          out.push({ ip, ready: ep.conditions?.ready !== false, ...(ep.nodeName ? { nodeName: ep.nodeName } : {}), ...(pod ? { pod } : {}) });
        }
      }
    }
    return out.sort((a, b) => a.ip.localeCompare(b.ip));
  }

  /** Pods in the service's namespace whose labels match its selector (none without a selector). */
  selectedPods(svc: KubeObject): KubeObject[] {
    const sel = Object.entries((svc.spec?.selector ?? {}) as Record<string, string>);
    if (sel.length === 0) return [];
    const labels = this.podsByLabel.get(svc.metadata.namespace ?? 'default');
    if (!labels) return [];
    const lists = sel.map(([k, v]) => labels.get(`${k}=${v}`) ?? []).sort((a, b) => a.length - b.length);
    const first = lists[0];
    if (!first) return [];
    return first.filter((p) => sel.every(([k, v]) => p.metadata.labels?.[k] === v));
  }

  warnings(svc: KubeObject): ServiceWarning[] {
    const k = `${key(svc.metadata.namespace, svc.metadata.name)}@${svc.metadata.resourceVersion ?? ''}`;
    let w = this.warningCache.get(k);
    if (!w) this.warningCache.set(k, (w = serviceWarnings(svc, this.selectedPods(svc), this.backendsOf(svc))));
    return w;
  }
}

function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

const isTerminated = (p: KubeObject) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

/** The warnings for one service, given the pods its selector matches and its backends. */
export function serviceWarnings(svc: KubeObject, selected: readonly KubeObject[], backends: readonly Backend[]): ServiceWarning[] {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return [];
  const hasSelector = Object.keys(spec.selector ?? {}).length > 0;
  const live = selected.filter((p) => !isTerminated(p));
  const out: ServiceWarning[] = [];
  if (hasSelector && live.length === 0) out.push({ code: 'selector-matches-nothing', message: `selector ${selectorText(spec.selector)} matches no pods` });
  else if (backends.length === 0) out.push({ code: 'no-endpoints', message: 'no endpoints' });
  else if (!backends.some((b) => b.ready)) out.push({ code: 'no-ready-endpoints', message: 'no ready endpoints' });
  for (const port of (spec.ports ?? []) as ServicePort[]) {
    const missing = live.filter((p) => !exposes(p, port));
    if (missing.length) {
      const tp = port.targetPort ?? port.port;
      out.push({ code: 'target-port-not-exposed', message: `targetPort ${tp} (port ${port.name ?? port.port}) is not exposed by ${missing.length === live.length ? 'the selected pods' : `${missing.length} of ${live.length} selected pods`}` });
    }
  }
  return out;
}

export function selectorText(sel: Record<string, string> | undefined): string {
  return Object.entries(sel ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
}

/** Whether a pod exposes a service port's targetPort: a named port must exist; a number must be declared when the pod declares any ports. */
function exposes(pod: KubeObject, port: ServicePort): boolean {
  const tp = port.targetPort ?? port.port;
  const proto = port.protocol ?? 'TCP';
  const declared: ContainerPort[] = ((pod.spec?.containers ?? []) as { ports?: ContainerPort[] }[]).flatMap((c) => c.ports ?? []);
  if (typeof tp === 'string' && !/^\d+$/.test(tp)) return declared.some((c) => c.name === tp && (c.protocol ?? 'TCP') === proto);
  if (declared.length === 0) return true;
  return declared.some((c) => c.containerPort === Number(tp) && (c.protocol ?? 'TCP') === proto);
}

// The client-side cluster model: informers on namespaces, pods, services and endpointslices,
// with the indexes enrichment needs (pod by IP, service by ClusterIP, backends of a service).
import type { KubeObject } from '../sandbox/apiserver/types';
import { Informer, objectKey } from './informer';
import type { ClusterAccess } from './kubeconfig';

export interface Backend { ip: string; ready: boolean; nodeName?: string; pod?: KubeObject }

function stripMeta(o: KubeObject): KubeObject['metadata'] {
  const m = o.metadata;
  return { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, labels: m.labels, ownerReferences: m.ownerReferences, creationTimestamp: m.creationTimestamp };
}

function stripPod(o: KubeObject): KubeObject {
  const spec = o.spec ?? {};
  const st = o.status ?? {};
  return {
    apiVersion: o.apiVersion, kind: 'Pod', metadata: stripMeta(o),
    spec: { nodeName: spec.nodeName, hostNetwork: spec.hostNetwork, containers: (spec.containers ?? []).map((c: { name: string; ports?: unknown }) => ({ name: c.name, ports: c.ports })) },
    status: { phase: st.phase, podIP: st.podIP, podIPs: st.podIPs, hostIP: st.hostIP, conditions: st.conditions },
  };
}

export interface ModelParts { namespaces: Informer; pods: Informer; services: Informer; endpointslices: Informer; networkpolicies: Informer }
export type PartName = keyof ModelParts;
const ALL_PARTS: readonly PartName[] = ['namespaces', 'pods', 'services', 'endpointslices', 'networkpolicies'];

export class ClusterModel {
  readonly parts: ModelParts;
  private listeners = new Set<() => void>();
  private podIndex: Map<string, KubeObject> | undefined;
  private svcIndex: Map<string, KubeObject> | undefined;

  constructor(readonly access: ClusterAccess) {
    const mk = (path: string, strip?: (o: KubeObject) => KubeObject) => new Informer(access, { path, strip });
    this.parts = {
      namespaces: mk('/api/v1/namespaces'),
      pods: mk('/api/v1/pods', stripPod),
      services: mk('/api/v1/services'),
      endpointslices: mk('/apis/discovery.k8s.io/v1/endpointslices'),
      networkpolicies: mk('/apis/networking.k8s.io/v1/networkpolicies'),
    };
    for (const inf of Object.values(this.parts)) {
      inf.onChange(() => {
        this.podIndex = undefined;
        this.svcIndex = undefined;
        for (const l of this.listeners) l();
      });
    }
  }

  /**
   * Starts the `first` parts (default: all) and resolves once they are listed; then starts the
   * others, which go on listing: `synced(part)` says when, onDidChange fires, and error() reports
   * their failures. Listing the small parts first keeps them from queueing behind 100,000 pods.
   * NetworkPolicies are optional: a user without list/watch on them still gets flows.
   */
  async start(first: readonly PartName[] = ALL_PARTS): Promise<void> {
    const begin = (name: PartName, awaited: boolean) => {
      const started = this.parts[name].start();
      return name === 'networkpolicies' || !awaited ? started.catch(() => undefined) : started;
    };
    await Promise.all(ALL_PARTS.filter((n) => first.includes(n)).map((n) => begin(n, true)));
    for (const n of ALL_PARTS.filter((x) => !first.includes(x))) void begin(n, false);
  }

  /** Whether this part's first list is done. */
  synced(part: PartName): boolean {
    return this.parts[part].synced;
  }

  stop(): void {
    for (const i of Object.values(this.parts)) i.stop();
    this.listeners.clear();
  }

  onDidChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  error(): string | undefined {
    return Object.entries(this.parts).filter(([k]) => k !== 'networkpolicies').map(([, i]) => i.error()).find((e) => e !== undefined);
  }

  networkPolicies(namespace?: string): KubeObject[] {
    return this.parts.networkpolicies.list().filter((p) => namespace === undefined || p.metadata.namespace === namespace).sort(byName);
  }

  namespaces(): KubeObject[] {
    return this.parts.namespaces.list().sort(byName);
  }

  services(namespace?: string): KubeObject[] {
    return this.parts.services.list().filter((s) => namespace === undefined || s.metadata.namespace === namespace).sort(byName);
  }

  pods(namespace?: string): KubeObject[] {
    return this.parts.pods.list().filter((p) => namespace === undefined || p.metadata.namespace === namespace).sort(byName);
  }

  pod(namespace: string, name: string): KubeObject | undefined {
    return this.parts.pods.get(`${namespace}/${name}`);
  }

  /** The non-hostNetwork pod that owns this IP (hostNetwork pods share the node's IP). */
  podByIP(ip: string): KubeObject | undefined {
    if (!this.podIndex) {
      this.podIndex = new Map();
      for (const p of this.parts.pods.list()) {
        if (p.spec?.hostNetwork || !p.status?.podIP || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
        for (const a of (p.status.podIPs as { ip: string }[] | undefined) ?? [{ ip: p.status.podIP as string }]) this.podIndex.set(a.ip, p);
      }
    }
    return this.podIndex.get(ip);
  }

  serviceByClusterIP(ip: string): KubeObject | undefined {
    if (!this.svcIndex) {
      this.svcIndex = new Map();
      for (const s of this.parts.services.list()) {
        const ips: string[] = s.spec?.clusterIPs ?? (s.spec?.clusterIP ? [s.spec.clusterIP] : []);
        for (const a of ips) if (a && a !== 'None') this.svcIndex.set(a, s);
      }
    }
    return this.svcIndex.get(ip);
  }

  backendsOf(service: KubeObject): Backend[] {
    const ns = service.metadata.namespace;
    const out: Backend[] = [];
    for (const slice of this.parts.endpointslices.list()) {
      if (slice.metadata.namespace !== ns || slice.metadata.labels?.['kubernetes.io/service-name'] !== service.metadata.name) continue;
      for (const ep of (slice.endpoints ?? []) as { addresses: string[]; conditions?: { ready?: boolean }; nodeName?: string; targetRef?: { kind?: string; name?: string; namespace?: string } }[]) {
        const ref = ep.targetRef;
        const pod = ref?.kind === 'Pod' && ref.name ? this.parts.pods.get(`${ref.namespace ?? ns}/${ref.name}`) : undefined;
        for (const ip of ep.addresses ?? []) out.push({ ip, ready: ep.conditions?.ready !== false, nodeName: ep.nodeName, pod: pod ?? this.podByIP(ip) });
      }
    }
    return out.sort((a, b) => a.ip.localeCompare(b.ip));
  }
}

function byName(a: KubeObject, b: KubeObject): number {
  return objectKey(a).localeCompare(objectKey(b));
}

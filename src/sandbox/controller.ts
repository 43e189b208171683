// The sandbox controller: glues the object store to the host network. Store events only enqueue
// keys; a small worker pool reconciles each key idempotently (kubelet + controller-manager +
// kube-proxy in one loop). Bursts are coalesced: a key queued twice is reconciled once.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type { KubeObject, ObjectStore, PodDialer, Resource, StoreEvent } from './apiserver/types';
import { corednsPod, kubeDnsService, kubernetesService, nodeObject } from './bootstrap';
import type { ClusterRecords } from './dns/server';
import { buildEndpointSlice, SERVICE_NAME_LABEL, servicePortRules } from './endpoints';
import { Ipam } from './net/ipam';
import { NetpolEnforcer, snapshotFromStore } from './net/netpol-apply';
import type { SandboxNode } from './net/node';
import type { Proxier } from './net/proxier';
import { PodRunner, podKey, podStatus } from './podrunner';
import type { RunnerDeps, RunningPod } from './podrunner';
import { desiredReplicaSet, isOwnedBy, podFromTemplate, podReady } from './workloads';

/** One node of a multi-node sandbox: its networking, its "kube-proxy", and how to reach its 127.0.0.1. */
export interface NodeParts {
  node: SandboxNode;
  proxier: Pick<Proxier, 'update' | 'flush'>;
  /** Connects to 127.0.0.1:port in the node's netns (hostNetwork pods); default: here. */
  dial?: (port: number) => Promise<Socket>;
}

interface NodeRuntime extends NodeParts { runner: PodRunner; netpol: NetpolEnforcer }

export interface ControllerOptions extends Omit<RunnerDeps, 'ipam' | 'changed'> {
  store: ObjectStore;
  proxier: Pick<Proxier, 'update' | 'flush'>;
  /** Every node (multi-node sandbox); default: `node` with `proxier`, in the root netns. */
  nodes?: NodeParts[];
  /** Called (coalesced by the caller) whenever something visible changed. */
  onChange?: () => void;
  concurrency?: number;
}

type Kind = 'pods' | 'services' | 'deployments' | 'replicasets' | 'daemonsets' | 'proxy' | 'gc' | 'netpol';
const WATCHED = new Set<Resource>(['pods', 'services', 'deployments', 'replicasets', 'daemonsets', 'endpointslices', 'nodes', 'networkpolicies', 'namespaces']);

export class SandboxController {
  /** The first node's kubelet (the only one in a single-node sandbox). */
  readonly runner: PodRunner;
  /** NetworkPolicy enforcement of the first node (iptables on the pod veths), re-applied on every policy/pod/namespace change. */
  readonly netpol: NetpolEnforcer;
  /** Every node by name, in order. */
  private readonly nodes = new Map<string, NodeRuntime>();
  private scheduled = 0;
  private readonly store: ObjectStore;
  private readonly queue = new Set<string>();
  private readonly inFlight = new Set<string>();
  private readonly waiters: (() => void)[] = [];
  private readonly retries = new Map<string, number>();
  private unsubscribe: (() => void) | undefined;
  private active = 0;
  private stopped = false;

  constructor(private readonly opts: ControllerOptions) {
    this.store = opts.store;
    for (const parts of opts.nodes ?? [{ node: opts.node, proxier: opts.proxier }]) {
      const ipam = new Ipam(parts.node.podCidr, 2);
      const canConnect = parts.dial ? (port: number) => parts.dial!(port).then((s) => { s.destroy(); return true; }, () => false) : undefined;
      const runner = new PodRunner({ ...opts, node: parts.node, ipam, canConnect, changed: (key) => this.enqueue('pods', key) });
      this.nodes.set(parts.node.name, { ...parts, runner, netpol: new NetpolEnforcer(opts.log, 20, parts.node.netns) });
    }
    const first = [...this.nodes.values()][0] as NodeRuntime;
    this.runner = first.runner;
    this.netpol = first.netpol;
  }

  /** The running pod `ns/name`, whichever node runs it. */
  podRun(key: string): (RunningPod & { node: string }) | undefined {
    for (const [node, n] of this.nodes) {
      const run = n.runner.get(key);
      if (run) return { ...run, node };
    }
    return undefined;
  }

  /** Resolves once every node's kube-proxy rules and NetworkPolicy enforcement are applied. */
  async flushRules(): Promise<void> {
    for (const n of this.nodes.values()) { await n.proxier.flush(); await n.netpol.flush(); }
  }

  /** Node names, in order. */
  get nodeNames(): string[] { return [...this.nodes.keys()]; }

  /** Every running pod of every node. */
  allPods(): RunningPod[] { return [...this.nodes.values()].flatMap((n) => n.runner.all()); }

  /** Creates the Node and the cluster add-ons, then follows the store. */
  start(): void {
    this.unsubscribe = this.store.subscribe((e) => this.onEvent(e));
    const node = this.opts.node;
    for (const n of this.nodes.values()) this.ensure('nodes', nodeObject(n.node));
    this.ensure('services', kubernetesService());
    this.ensure('services', kubeDnsService(node));
    this.ensure('pods', corednsPod(node));
    for (const r of ['pods', 'services', 'deployments', 'replicasets', 'daemonsets'] as const) {
      for (const o of this.store.list(r)) this.enqueue(r, `${o.metadata.namespace}/${o.metadata.name}`);
    }
    this.enqueue('proxy', '');
    this.enqueue('netpol', '');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.queue.clear();
    for (const n of this.nodes.values()) n.netpol.stop();
    while (this.active > 0) await new Promise((r) => setTimeout(r, 20));
    for (const n of this.nodes.values()) await n.runner.removeAll();
  }

  /** Resolves when the work queue is empty (including work caused by that work). */
  idle(): Promise<void> {
    if (this.queue.size === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  readonly dialPod: PodDialer = (pod: KubeObject, port: number): Promise<Socket> => {
    const part = this.nodes.get(pod.spec?.nodeName ?? '');
    if (pod.spec?.hostNetwork && part?.dial) return part.dial(port);
    const host = pod.spec?.hostNetwork ? '127.0.0.1' : (this.podRun(podKey(pod))?.ip ?? pod.status?.podIP);
    return new Promise((resolve, reject) => {
      if (!host) { reject(new Error(`pod ${podKey(pod)} has no IP`)); return; }
      const s = connect({ host, port });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  };

  readonly records: ClusterRecords = {
    namespaceExists: (ns) => this.store.get('namespaces', undefined, ns) !== undefined,
    serviceIPs: (ns, name) => {
      const svc = this.store.get('services', ns, name);
      if (!svc) return undefined;
      const ip = svc.spec?.clusterIP as string | undefined;
      if (ip && ip !== 'None') return [ip];
      return this.store.list('endpointslices', ns).filter((s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === name)
        .flatMap((s) => ((s.endpoints ?? []) as { addresses: string[]; conditions?: { ready?: boolean } }[]).filter((e) => e.conditions?.ready !== false).map((e) => e.addresses[0] ?? ''))
        .filter(Boolean);
    },
  };

  private ensure(resource: Resource, obj: KubeObject): void {
    if (!this.store.get(resource, obj.metadata.namespace, obj.metadata.name)) this.store.create(resource, obj);
  }

  private onEvent(e: StoreEvent): void {
    if (this.stopped || !WATCHED.has(e.resource)) return;
    const m = e.object.metadata;
    const key = `${m.namespace}/${m.name}`;
    if (e.resource === 'networkpolicies' || e.resource === 'namespaces' || e.resource === 'pods') this.enqueue('netpol', '');
    if (e.resource === 'networkpolicies' || e.resource === 'namespaces') return;
    if (e.resource === 'endpointslices' || e.resource === 'nodes') {
      this.enqueue('proxy', '');
      if (e.resource === 'nodes') for (const ds of this.store.list('daemonsets')) this.enqueue('daemonsets', `${ds.metadata.namespace}/${ds.metadata.name}`);
      return;
    }
    this.enqueue(e.resource as Kind, key);
    if (e.type === 'DELETED' && e.resource !== 'pods' && m.uid) this.enqueue('gc', `${m.namespace}/${m.uid}`);
    if (e.resource === 'pods') this.podChanged(e.object);
    if (e.resource === 'services' && e.type === 'DELETED') this.enqueue('proxy', '');
  }

  private podChanged(pod: KubeObject): void {
    for (const svc of this.store.list('services', pod.metadata.namespace)) this.enqueue('services', `${svc.metadata.namespace}/${svc.metadata.name}`);
    for (const ref of pod.metadata.ownerReferences ?? []) {
      if (ref.kind === 'ReplicaSet') this.enqueue('replicasets', `${pod.metadata.namespace}/${ref.name}`);
      if (ref.kind === 'DaemonSet') this.enqueue('daemonsets', `${pod.metadata.namespace}/${ref.name}`);
    }
  }

  private enqueue(kind: Kind, key: string): void {
    if (this.stopped) return;
    this.queue.add(`${kind}|${key}`);
    setImmediate(() => this.pump());
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 8;
    for (const item of [...this.queue]) {
      if (this.active >= limit) return;
      if (this.inFlight.has(item)) continue;
      this.queue.delete(item);
      this.inFlight.add(item);
      this.active++;
      void this.work(item).finally(() => {
        this.inFlight.delete(item);
        this.active--;
        this.opts.onChange?.();
        if (this.queue.size > 0) this.pump();
        else if (this.active === 0) this.waiters.splice(0).forEach((w) => w());
      });
    }
  }

  private async work(item: string): Promise<void> {
    const [kind, key] = item.split('|') as [Kind, string];
    const [ns, name] = key.split('/') as [string, string];
    try {
      await this.reconcile(kind, ns, name);
      this.retries.delete(item);
    } catch (e) {
      const n = (this.retries.get(item) ?? 0) + 1;
      this.retries.set(item, n);
      this.opts.log(`reconcile ${kind} ${key} failed (attempt ${n}): ${(e as Error).message}`);
      if (n < 8) setTimeout(() => this.enqueue(kind, key), Math.min(5000, 100 * 2 ** n)).unref();
    }
  }

  private async reconcile(kind: Kind, ns: string, name: string): Promise<void> {
    if (kind === 'pods') await this.reconcilePod(ns, name);
    else if (kind === 'services') this.reconcileService(ns, name);
    else if (kind === 'deployments') this.reconcileDeployment(ns, name);
    else if (kind === 'replicasets') this.reconcileReplicaSet(ns, name);
    else if (kind === 'daemonsets') this.reconcileDaemonSet(ns, name);
    else if (kind === 'gc') this.collectGarbage(ns, name);
    else if (kind === 'netpol') for (const n of this.nodes.values()) n.netpol.update(snapshotFromStore(this.store, (pns, pname) => n.runner.get(`${pns}/${pname}`)?.veth));
    else {
      const rules = servicePortRules(this.store.list('services'), this.store.list('endpointslices'));
      for (const n of this.nodes.values()) n.proxier.update(rules); // every node runs its own kube-proxy
    }
  }

  private async reconcilePod(ns: string, name: string): Promise<void> {
    const pod = this.store.get('pods', ns, name);
    if (!pod || pod.metadata.deletionTimestamp) {
      for (const n of this.nodes.values()) await n.runner.remove(`${ns}/${name}`);
      if (pod) this.store.delete('pods', ns, name);
      return;
    }
    if (!pod.spec?.nodeName) {
      const names = this.nodeNames; // the scheduler's job: round-robin over the nodes
      pod.spec = { ...(pod.spec ?? {}), nodeName: names[this.scheduled++ % names.length] };
      this.store.update('pods', pod);
      return; // the MODIFIED event brings us back
    }
    const part = this.nodes.get(pod.spec.nodeName as string);
    if (!part) return; // a node the sandbox does not run: the pod stays Pending, as on a real cluster
    const run = await part.runner.ensure(pod);
    this.writePodStatus(pod, run, part.node);
  }

  private writePodStatus(pod: KubeObject, run: RunningPod, node: SandboxNode): void {
    const current = this.store.get('pods', pod.metadata.namespace, pod.metadata.name);
    if (!current || current.metadata.uid !== run.uid) return;
    const status = podStatus(run, node, current);
    if (JSON.stringify(current.status ?? {}) === JSON.stringify(status)) return;
    this.store.update('pods', { ...current, status });
  }

  private reconcileService(ns: string, name: string): void {
    const sliceName = `${name}-fl`;
    const svc = this.store.get('services', ns, name);
    const existing = this.store.get('endpointslices', ns, sliceName);
    if (!svc || !svc.spec?.selector) {
      if (existing) this.store.delete('endpointslices', ns, sliceName);
      this.enqueue('proxy', '');
      return;
    }
    const slice = buildEndpointSlice(svc, this.store.list('pods', ns));
    if (!existing) this.store.create('endpointslices', slice);
    else if (JSON.stringify([existing.endpoints, existing.ports, existing.metadata.labels]) !== JSON.stringify([slice.endpoints, slice.ports, slice.metadata.labels])) {
      this.store.update('endpointslices', { ...existing, endpoints: slice.endpoints, ports: slice.ports, metadata: { ...existing.metadata, labels: slice.metadata.labels } });
    }
    this.enqueue('proxy', '');
  }

  private owned(resource: Resource, owner: KubeObject): KubeObject[] {
    return this.store.list(resource, owner.metadata.namespace).filter((o) => isOwnedBy(o, owner));
  }

  private setStatus(resource: Resource, obj: KubeObject, status: Record<string, unknown>): void {
    if (JSON.stringify(obj.status ?? {}) !== JSON.stringify(status)) this.store.update(resource, { ...obj, status });
  }

  private reconcileDeployment(ns: string, name: string): void {
    const deploy = this.store.get('deployments', ns, name);
    if (!deploy) return; // owned ReplicaSets are garbage-collected in reconcileReplicaSet
    const want = desiredReplicaSet(deploy);
    for (const rs of this.owned('replicasets', deploy)) if (rs.metadata.name !== want.metadata.name) this.store.delete('replicasets', ns, rs.metadata.name);
    const have = this.store.get('replicasets', ns, want.metadata.name);
    if (!have) this.store.create('replicasets', want);
    else if (have.spec?.replicas !== want.spec.replicas) this.store.update('replicasets', { ...have, spec: { ...have.spec, replicas: want.spec.replicas } });
    const rs = this.store.get('replicasets', ns, want.metadata.name);
    const replicas = deploy.spec?.replicas ?? 1;
    const ready = (rs?.status?.readyReplicas as number | undefined) ?? 0;
    const cond = (type: string, ok: boolean, reason: string): Record<string, string> => ({ type, status: ok ? 'True' : 'False', reason, lastUpdateTime: deploy.metadata.creationTimestamp ?? '', lastTransitionTime: deploy.metadata.creationTimestamp ?? '' });
    this.setStatus('deployments', deploy, {
      observedGeneration: deploy.metadata.generation ?? 1, replicas: rs?.status?.replicas ?? 0, updatedReplicas: rs?.status?.replicas ?? 0,
      readyReplicas: ready, availableReplicas: ready, unavailableReplicas: Math.max(0, replicas - ready),
      conditions: [cond('Available', ready >= replicas, ready >= replicas ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable'), cond('Progressing', true, 'NewReplicaSetAvailable')],
    });
  }

  private reconcileReplicaSet(ns: string, name: string): void {
    const rs = this.store.get('replicasets', ns, name);
    if (!rs) return;
    const ownerRef = rs.metadata.ownerReferences?.find((r) => r.kind === 'Deployment');
    const owner = ownerRef ? this.store.get('deployments', ns, ownerRef.name) : undefined;
    if (ownerRef && (!owner || owner.metadata.uid !== ownerRef.uid)) { this.deleteWithPods('replicasets', rs); return; }
    const pods = this.owned('pods', rs);
    const want = rs.spec?.replicas ?? 1;
    for (let i = pods.length; i < want; i++) this.store.create('pods', podFromTemplate(rs));
    for (const extra of pods.slice(want)) this.store.delete('pods', ns, extra.metadata.name);
    const now = this.owned('pods', rs);
    const ready = now.filter(podReady).length;
    this.setStatus('replicasets', rs, { replicas: now.length, fullyLabeledReplicas: now.length, readyReplicas: ready, availableReplicas: ready, observedGeneration: rs.metadata.generation ?? 1 });
    if (owner) this.enqueue('deployments', `${ns}/${owner.metadata.name}`);
  }

  private reconcileDaemonSet(ns: string, name: string): void {
    const ds = this.store.get('daemonsets', ns, name);
    if (!ds) return; // its pods are garbage-collected by owner uid
    const nodes = this.store.list('nodes').map((n) => n.metadata.name);
    const pods = this.owned('pods', ds);
    for (const node of nodes) if (!pods.some((p) => p.spec?.nodeName === node)) this.store.create('pods', podFromTemplate(ds, node));
    for (const p of pods) if (!nodes.includes(p.spec?.nodeName)) this.store.delete('pods', ns, p.metadata.name);
    const now = this.owned('pods', ds);
    const ready = now.filter(podReady).length;
    this.setStatus('daemonsets', ds, {
      desiredNumberScheduled: nodes.length, currentNumberScheduled: now.length, updatedNumberScheduled: now.length, numberReady: ready,
      numberAvailable: ready, numberUnavailable: Math.max(0, nodes.length - ready), numberMisscheduled: 0, observedGeneration: ds.metadata.generation ?? 1,
    });
  }

  /** Deletes what the (deleted) owner with this uid owned: ReplicaSets, then their pods via their own gc. */
  private collectGarbage(ns: string, uid: string): void {
    for (const r of ['replicasets', 'pods', 'endpointslices'] as const) {
      for (const o of this.store.list(r, ns)) {
        if ((o.metadata.ownerReferences ?? []).some((ref) => ref.uid === uid)) this.store.delete(r, ns, o.metadata.name);
      }
    }
  }

  private deleteWithPods(resource: Resource, owner: KubeObject): void {
    for (const pod of this.owned('pods', owner)) this.store.delete('pods', owner.metadata.namespace, pod.metadata.name);
    this.store.delete(resource, owner.metadata.namespace, owner.metadata.name);
  }
}

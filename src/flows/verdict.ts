// Policy verdicts on flows, computed on the client (which holds the whole cluster model; an agent
// knows only its node): Hubble's ingress/egress_allowed_by and _denied_by, and a connection
// attempt that the policies deny becomes a DROPPED flow even though the client only saw a timeout.
import { PolicyEngine } from '../policy/engine';
import { clusterFromApiObjects } from '../policy/objects';
import type { ApiObject } from '../policy/objects';
import type { EndpointRef, Pod, Policy, Protocol, Verdict } from '../policy/types';
import { policyKey } from '../policy/types';
import type { Endpoint, Flow, PolicyRef } from './flow';

export interface PolicySource {
  namespaces(): ApiObject[];
  pods(): ApiObject[];
  networkPolicies(): ApiObject[];
  onDidChange(listener: () => void): () => void;
}

/** Hubble's PolicyRef for a Kubernetes NetworkPolicy. */
export function policyRef(p: Policy): PolicyRef {
  const labels = [
    'k8s:io.cilium.k8s.policy.derived-from=NetworkPolicy', `k8s:io.cilium.k8s.policy.name=${p.name}`,
    `k8s:io.cilium.k8s.policy.namespace=${p.namespace}`, ...(p.uid ? [`k8s:io.cilium.k8s.policy.uid=${p.uid}`] : []),
  ];
  return { name: p.name, namespace: p.namespace, labels, ...(p.resourceVersion && /^\d+$/.test(p.resourceVersion) ? { revision: p.resourceVersion } : {}), kind: 'NetworkPolicy' };
}

function l4(flow: Flow): { port: number; protocol: Protocol } | undefined {
  if (flow.l4.TCP) return { port: flow.l4.TCP.destination_port, protocol: 'TCP' };
  if (flow.l4.UDP) return { port: flow.l4.UDP.destination_port, protocol: 'UDP' };
  return undefined;
}

const shared = new WeakMap<PolicySource, FlowVerdicts>();

export class FlowVerdicts {
  /** One instance (one change listener) per cluster model. */
  static for(source: PolicySource): FlowVerdicts {
    let v = shared.get(source);
    if (!v) { v = new FlowVerdicts(source); shared.set(source, v); }
    return v;
  }

  private engine: PolicyEngine | undefined;
  private pods = new Map<string, Pod>();
  private policies = new Map<string, Policy>();

  constructor(private readonly source: PolicySource) {
    source.onDidChange(() => { this.engine = undefined; });
  }

  /** Sets the policy fields on the flow (in place) when a policy selects either end; returns it. */
  apply(flow: Flow): Flow {
    const ports = l4(flow);
    if (!ports || ports.port < 1) return flow;
    const engine = this.current();
    const v = engine.verdict({ from: this.endpoint(flow.source, flow.IP.source), to: this.endpoint(flow.destination, flow.IP.destination), port: ports.port, protocol: ports.protocol });
    if (!v.egress.isolated && !v.ingress.isolated) return flow;
    this.annotate(flow, v);
    return flow;
  }

  private annotate(flow: Flow, v: Verdict): void {
    const refs = (keys: string[]) => [...new Set(keys)].map((k) => this.policies.get(k)).filter((p): p is Policy => p !== undefined).map(policyRef);
    if (v.egress.isolated) {
      if (v.egress.allowed) flow.egress_allowed_by ??= refs(v.egress.allowedBy.map((m) => m.policy));
      else flow.egress_denied_by ??= refs(v.egress.deniedBy.map((p) => p.policy));
    }
    if (v.ingress.isolated) {
      if (v.ingress.allowed) flow.ingress_allowed_by ??= refs(v.ingress.allowedBy.map((m) => m.policy));
      else flow.ingress_denied_by ??= refs(v.ingress.deniedBy.map((p) => p.policy));
    }
    flow.extensions = { ...flow.extensions, policy: { allowed: v.allowed, egress: v.egress, ingress: v.ingress } };
    const attempt = flow.extensions.tcp_event === 'connect_failed' || (flow.l4.UDP !== undefined && flow.verdict !== 'FORWARDED');
    if (!v.allowed && attempt) {
      flow.verdict = 'DROPPED';
      flow.drop_reason_desc ??= 'POLICY_DENIED';
    }
  }

  private endpoint(e: Endpoint, ip: string): EndpointRef {
    const pod = e.namespace && e.pod_name ? this.pods.get(`${e.namespace}/${e.pod_name}`) : undefined;
    return pod ? { pod, ip } : { ip };
  }

  private current(): PolicyEngine {
    if (this.engine) return this.engine;
    const { cluster } = clusterFromApiObjects(this.source.namespaces(), this.source.pods(), this.source.networkPolicies());
    this.pods = new Map(cluster.pods.map((p) => [policyKey(p), p]));
    this.policies = new Map(cluster.policies.map((p) => [policyKey(p), p]));
    this.engine = new PolicyEngine(cluster);
    return this.engine;
  }
}

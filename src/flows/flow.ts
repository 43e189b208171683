// The flow model: the shape `hubble observe -o json` prints (proto3 JSON with proto field names),
// so users' jq recipes work. Flowlens-only fields live under `extensions`.

export type Verdict = 'FORWARDED' | 'DROPPED' | 'ERROR' | 'AUDIT' | 'REDIRECTED' | 'TRACED' | 'TRANSLATED' | 'VERDICT_UNKNOWN';
export type TrafficDirection = 'INGRESS' | 'EGRESS' | 'TRAFFIC_DIRECTION_UNKNOWN';

export interface Workload { name: string; kind: string }

export interface Endpoint {
  ID?: number;
  identity?: number;
  namespace?: string;
  /** "k8s:key=value", as Hubble prints them. */
  labels?: string[];
  pod_name?: string;
  workloads?: Workload[];
}

export interface TcpFlags { SYN?: boolean; ACK?: boolean; FIN?: boolean; RST?: boolean; PSH?: boolean; URG?: boolean; ECE?: boolean; CWR?: boolean; NS?: boolean }

export interface Layer4 {
  TCP?: { source_port: number; destination_port: number; flags?: TcpFlags };
  UDP?: { source_port: number; destination_port: number };
  ICMPv4?: { type: number; code: number };
  ICMPv6?: { type: number; code: number };
}

export interface Service { name: string; namespace: string }

export interface PolicyRef { name: string; namespace: string; labels?: string[]; revision?: string; kind?: string }

export interface FlowExtensions {
  /** Where the socket was pointed before translation (Service VIP:port), when it differs from IP.destination. */
  original_destination?: { ip: string; port: number };
  /** On a reply of a translated connection: the Service VIP:port it came from before the reverse NAT (IP.source is the backend). */
  original_source?: { ip: string; port: number };
  /** Connection lifecycle event that produced this flow (socket view). */
  tcp_event?: 'connect' | 'accept' | 'close' | 'connect_failed' | 'reset_sent' | 'reset_received';
  /** tc flow aggregate: which emission of the per-flow counters this is. */
  flow_event?: 'start' | 'update' | 'end' | 'timeout';
  /** The kernel's own drop reason (enum skb_drop_reason, named from the running kernel's BTF). */
  drop_reason?: { value: number; name: string; location?: string };
  /** TCP retransmits of the connection (tcp:tcp_retransmit_skb), on flow end. */
  retransmits?: number;
  /** Connect latency (SYN_SENT -> ESTABLISHED) in ns, on connect events. */
  connect_latency_ns?: number;
  /** Connection lifetime in ns, on close events. */
  duration_ns?: number;
  /** Kernel network namespace inode of the observing socket. */
  netns?: number;
  pid?: number;
  comm?: string;
  [key: string]: unknown;
}

export interface Flow {
  time: string;
  uuid?: string;
  verdict: Verdict;
  drop_reason_desc?: string;
  IP: { source: string; destination: string; ipVersion: 'IPv4' | 'IPv6' };
  l4: Layer4;
  source: Endpoint;
  destination: Endpoint;
  Type: 'L3_L4' | 'L7' | 'SOCK';
  node_name: string;
  source_names?: string[];
  destination_names?: string[];
  l7?: Record<string, unknown>;
  is_reply?: boolean;
  event_type?: { type: number; sub_type?: number };
  source_service?: Service;
  destination_service?: Service;
  traffic_direction: TrafficDirection;
  trace_observation_point?: string;
  ingress_allowed_by?: PolicyRef[];
  egress_allowed_by?: PolicyRef[];
  ingress_denied_by?: PolicyRef[];
  egress_denied_by?: PolicyRef[];
  Summary?: string;
  extensions?: FlowExtensions;
}

/** One line of `observe -o json`: the GetFlowsResponse proto3 JSON mapping. */
export interface FlowResponse { flow: Flow; node_name: string; time: string }

export function toResponse(flow: Flow): FlowResponse {
  return { flow, node_name: flow.node_name, time: flow.time };
}

/** Hubble's label strings for a Kubernetes label map. */
export function labelStrings(labels: Record<string, string> | undefined, namespace?: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) out.push(`k8s:${k}=${v}`);
  if (namespace !== undefined) out.push(`k8s:io.kubernetes.pod.namespace=${namespace}`);
  return out.sort();
}

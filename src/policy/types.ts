// The policy engine's own model of networking.k8s.io/v1 NetworkPolicy, Pods and Namespaces:
// normalised (defaults applied, from/to folded into `peers`) and validated by parse.ts.
export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type Direction = 'ingress' | 'egress';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export interface Requirement { key: string; operator: Operator; values: string[] }
/** A label selector; {} (no labels, no expressions) selects everything. */
export interface Selector { matchLabels: Record<string, string>; matchExpressions: Requirement[] }

export interface IPBlock { cidr: string; except: string[] }

/** One entry of `from` / `to`: either ipBlock, or one or both selectors (AND). */
export interface Peer { podSelector?: Selector; namespaceSelector?: Selector; ipBlock?: IPBlock }

/** `port` absent: every port of the protocol. A string is a named port of the destination pod. */
export interface PortSpec { protocol: Protocol; port?: number | string; endPort?: number }

/** One ingress or egress rule. Empty `peers`: every peer; empty `ports`: every port. */
export interface Rule { peers: Peer[]; ports: PortSpec[] }

export interface Position { line: number; col: number }
export interface SourceRange { file: string; /** 1-based document number in the file */ document: number; start: Position; end: Position }

export interface PolicySource { range: SourceRange; ingress: (SourceRange | undefined)[]; egress: (SourceRange | undefined)[] }

export interface Policy {
  namespace: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
  labels: Record<string, string>;
  podSelector: Selector;
  ingress: Rule[];
  egress: Rule[];
  /** policyTypes after defaulting: Ingress always when absent, Egress when spec.egress is non-empty. */
  types: { ingress: boolean; egress: boolean };
  source?: PolicySource;
}

export interface ContainerPort { name?: string; containerPort: number; protocol: Protocol }

export interface Pod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ips: string[];
  /** Host-network pods are never selected by policies: they are treated as their (node) IP. */
  hostNetwork: boolean;
  ports: ContainerPort[];
}

export interface Namespace { name: string; labels: Record<string, string> }

export interface Cluster { namespaces: Namespace[]; pods: Pod[]; policies: Policy[] }

/** One end of a connection: a pod (with the address used, default its first IP) or a bare address. */
export type EndpointRef = { pod: Pod; ip?: string } | { ip: string };

export interface Query { from: EndpointRef; to: EndpointRef; port: number; protocol: Protocol }

/** A rule that allowed the traffic. peerIndex/portIndex are null when the rule's list is empty (= all). */
export interface RuleMatch {
  policy: string;
  namespace: string;
  name: string;
  ruleIndex: number;
  peerIndex: number | null;
  portIndex: number | null;
  range?: SourceRange;
}

export interface PolicyRef { policy: string; namespace: string; name: string; range?: SourceRange }

export interface DirectionVerdict {
  /** False when this side is not a (non-host-network) pod: no policy can apply here. */
  evaluated: boolean;
  /** Some policy selects the pod with this policy type. */
  isolated: boolean;
  allowed: boolean;
  /** Every rule (of every selecting policy) that allows the traffic. */
  allowedBy: RuleMatch[];
  /** When denied: the policies that select the pod for this direction (none of their rules matched). */
  deniedBy: PolicyRef[];
  /** Set when no policy applies for a reason other than isolation: a pod talking to itself. */
  reason?: 'loopback';
}

export interface Verdict { allowed: boolean; port: number; protocol: Protocol; egress: DirectionVerdict; ingress: DirectionVerdict }

export function policyKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

// The Service → backend map's contract, imported by the host (src/panels/backends/host.ts) and the
// webview (webview/backends/main.ts). No `vscode`, no DOM. Every message is validated on arrival.
import { type ContractGuards, isRecord } from '../ipc';

export interface Frontend { kind: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalIP'; address: string; port: number; protocol: string; targetPort: string }
export interface BackendRow {
  ip: string;
  pod?: string;
  node?: string;
  ready: boolean;
  /** Connections observed to this backend in the window, and their share of the service's. */
  connections: number;
  share: number;
  /** In the EndpointSlices / programmed in the node's dataplane (undefined: not reported) / seen in flows. */
  declared: boolean;
  programmed?: boolean;
  observed: boolean;
}
export interface BackendsView {
  seq: number;
  service: string;
  type: string;
  sessionAffinity: string;
  frontends: Frontend[];
  backends: BackendRow[];
  total: number;
  /** Connections to a frontend address whose backend was not seen (no translation observed): not in the shares. */
  untranslated: number;
  windowSec: number;
  /** Why programmed backends are unknown, when they are. */
  programmedNote?: string;
  drift: string[];
  error?: string;
}

type Empty = Record<string, never>;

export type BackendsContract = {
  commands: { ready: Empty; tracePod: { pod: string } };
  requests: Record<string, never>;
  notifications: { view: BackendsView };
};

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isOptStr = (v: unknown) => v === undefined || isStr(v);
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

function isFrontend(v: unknown): v is Frontend {
  return isRecord(v) && isStr(v.kind) && ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalIP'].includes(v.kind) && isStr(v.address) && isNum(v.port) && isStr(v.protocol) && isStr(v.targetPort);
}

function isRow(v: unknown): v is BackendRow {
  return isRecord(v) && isStr(v.ip) && isOptStr(v.pod) && isOptStr(v.node) && isBool(v.ready) && isNum(v.connections) && isNum(v.share) && v.share <= 1
    && isBool(v.declared) && (v.programmed === undefined || isBool(v.programmed)) && isBool(v.observed);
}

export function isBackendsView(v: unknown): v is BackendsView {
  return isRecord(v) && isNum(v.seq) && isStr(v.service) && isStr(v.type) && isStr(v.sessionAffinity) && Array.isArray(v.frontends) && v.frontends.every(isFrontend)
    && Array.isArray(v.backends) && v.backends.every(isRow) && isNum(v.total) && isNum(v.untranslated) && isNum(v.windowSec) && isOptStr(v.programmedNote)
    && Array.isArray(v.drift) && v.drift.every(isStr) && isOptStr(v.error);
}

export const backendsGuards: ContractGuards<BackendsContract> = {
  commands: {
    ready: (v): v is Empty => isRecord(v) && Object.keys(v).length === 0,
    tracePod: (v): v is { pod: string } => isRecord(v) && isStr(v.pod) && /^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(v.pod),
  },
  requests: {},
  notifications: { view: isBackendsView },
};

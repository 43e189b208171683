// The Service map panel's contract, imported by the host (src/panels/map/host.ts) and the webview
// (webview/map/main.ts). No `vscode`, no DOM. Every message is validated on arrival.
import { type ContractGuards, isRecord } from '../ipc';

export type MapNodeKind = 'namespace' | 'service' | 'workload' | 'external';
export interface MapNode { id: string; kind: MapNodeKind; label: string; parent?: string; /** Flows panel filter text for a click. */ filter: string }
export interface MapEdge { id: string; source: string; target: string; flows: number; rate: number; drops: number; filter: string }
export interface Graph { seq: number; nodes: MapNode[]; edges: MapEdge[]; windowSec: number; error?: string }

type Empty = Record<string, never>;

export type MapContract = {
  commands: {
    ready: Empty;
    /** Open the Flows panel with this filter (a node or edge was clicked). */
    openFlows: { filter: string };
  };
  requests: Record<string, never>;
  notifications: {
    /** The whole graph; the webview adds, updates and removes elements incrementally. */
    graph: Graph;
  };
};

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const KINDS: readonly string[] = ['namespace', 'service', 'workload', 'external'];

function isNode(v: unknown): v is MapNode {
  return isRecord(v) && isStr(v.id) && isStr(v.kind) && KINDS.includes(v.kind) && isStr(v.label) && (v.parent === undefined || isStr(v.parent)) && isStr(v.filter);
}

function isEdge(v: unknown): v is MapEdge {
  return isRecord(v) && isStr(v.id) && isStr(v.source) && isStr(v.target) && isNum(v.flows) && isNum(v.rate) && isNum(v.drops) && isStr(v.filter);
}

export function isGraph(v: unknown): v is Graph {
  return isRecord(v) && isNum(v.seq) && Array.isArray(v.nodes) && v.nodes.every(isNode) && Array.isArray(v.edges) && v.edges.every(isEdge) && isNum(v.windowSec) && (v.error === undefined || isStr(v.error));
}

export const mapGuards: ContractGuards<MapContract> = {
  commands: {
    ready: (v): v is Empty => isRecord(v) && Object.keys(v).length === 0,
    openFlows: (v): v is { filter: string } => isRecord(v) && isStr(v.filter) && v.filter.length <= 4096,
  },
  requests: {},
  notifications: { graph: isGraph },
};

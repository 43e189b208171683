// Reaches every agent pod through port-forward, subscribes, enriches flows with the cluster
// model, and merges nodes by time. Follow subscriptions reconnect when an agent goes away.
import type { ClusterAccess } from '../cluster/kubeconfig';
import type { ClusterModel } from '../cluster/model';
import { errorMessage } from '../cluster/errorable';
import { enrichFlow } from '../flows/enrich';
import { type FlowResponse, toResponse } from '../flows/flow';
import type { KubeObject } from '../sandbox/apiserver/types';
import { AgentConnection } from './client';
import { openPortForward } from './portforward';
import { DEFAULT_AGENT_PORT, type SubscribeRequest } from './protocol';

export const AGENT_LABEL = 'app.kubernetes.io/name=flowlens-agent';

export interface HubStatus { agents: number; connected: number; error?: string; lost?: number }
export type HubRequest = Omit<SubscribeRequest, 'type'>;

export function agentPods(model: ClusterModel): KubeObject[] {
  const [k, v] = AGENT_LABEL.split('=') as [string, string];
  return model.pods().filter((p) => p.metadata.labels?.[k] === v && p.status?.phase === 'Running');
}

export function agentPort(pod: KubeObject): number {
  for (const c of pod.spec?.containers ?? []) {
    for (const p of (c.ports ?? []) as { name?: string; containerPort: number }[]) if (p.name === 'flows') return p.containerPort;
  }
  return DEFAULT_AGENT_PORT;
}

interface Session { conn?: AgentConnection; ended: boolean; closed: boolean; retry?: ReturnType<typeof setTimeout> }

export class AgentHub {
  constructor(private readonly access: ClusterAccess, private readonly model: ClusterModel) {}

  subscribe(req: HubRequest, onFlows: (flows: FlowResponse[]) => void, onStatus: (s: HubStatus) => void = () => undefined): { close(): void; done: Promise<void> } {
    const sessions = new Map<string, Session>();
    let closed = false;
    let lost = 0;
    let lastError: string | undefined;
    let backlog: FlowResponse[] | undefined = [];
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((r) => (resolveDone = r));
    const status = () => onStatus({ agents: sessions.size, connected: [...sessions.values()].filter((s) => s.conn).length, error: lastError, lost });
    const deliver = (flows: FlowResponse[]) => {
      if (backlog) backlog.push(...flows);
      else if (flows.length) onFlows(flows);
    };
    const maybeFinishBacklog = () => {
      if (!backlog || [...sessions.values()].some((s) => !s.ended)) return;
      const all = backlog.sort((a, b) => a.time.localeCompare(b.time));
      backlog = undefined;
      const n = req.last ?? all.length;
      if (all.length) onFlows(all.slice(Math.max(0, all.length - n)));
      if (!req.follow) finish();
    };
    const finish = () => {
      if (closed) return;
      closed = true;
      for (const s of sessions.values()) { s.closed = true; s.conn?.close(); if (s.retry) clearTimeout(s.retry); }
      unsubscribe();
      resolveDone();
    };
    const connect = async (pod: KubeObject, session: Session, attempt: number): Promise<void> => {
      const ns = pod.metadata.namespace ?? 'default';
      try {
        const stream = await openPortForward(this.access, ns, pod.metadata.name, agentPort(pod));
        const conn = await AgentConnection.connect('ws://agent/flows', stream, {
          onMessage: (m) => {
            if (m.type === 'flows') deliver(m.flows.map((f) => toResponse(enrichFlow(f, this.model))));
            else if (m.type === 'lost_events') { lost += m.count; status(); }
            else if (m.type === 'end' || m.type === 'caught_up') { session.ended = true; maybeFinishBacklog(); }
            else if (m.type === 'error') { lastError = `${ns}/${pod.metadata.name}: ${m.message}`; status(); }
          },
          onClose: (reason) => {
            session.conn = undefined;
            status();
            if (!session.ended) { session.ended = true; maybeFinishBacklog(); }
            if (!session.closed && req.follow) session.retry = setTimeout(() => void connect(pod, session, 1), 500);
            void reason;
          },
        });
        if (session.closed) return conn.close();
        session.conn = conn;
        lastError = undefined;
        conn.send({ type: 'subscribe', ...req, last: attempt === 0 ? req.last : 0 });
        status();
      } catch (e) {
        lastError = `agent ${ns}/${pod.metadata.name}: ${errorMessage(e)}`;
        status();
        if (!session.ended) { session.ended = true; maybeFinishBacklog(); }
        if (!session.closed && req.follow) session.retry = setTimeout(() => void connect(pod, session, attempt + 1), Math.min(5000, 500 * 2 ** attempt));
      }
    };
    const sync = () => {
      if (closed) return;
      const pods = agentPods(this.model);
      const keys = new Set(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
      for (const [k, s] of sessions) if (!keys.has(k)) { s.closed = true; s.conn?.close(); sessions.delete(k); }
      for (const p of pods) {
        const k = `${p.metadata.namespace}/${p.metadata.name}`;
        if (sessions.has(k)) continue;
        const s: Session = { ended: false, closed: false };
        sessions.set(k, s);
        void connect(p, s, 0);
      }
      if (pods.length === 0) {
        lastError = 'no Flowlens agents found (pods labelled ' + AGENT_LABEL + '); install them first';
        maybeFinishBacklog();
      }
      status();
    };
    const unsubscribe = this.model.onDidChange(sync);
    sync();
    return { close: finish, done };
  }
}

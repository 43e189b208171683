// Reaches every agent pod through port-forward, subscribes with server-side filters, enriches
// flows with the cluster model, and merges nodes by time. Follow subscriptions reconnect when an
// agent goes away (within ~1 s of it coming back), resuming from the last flow seen.
import type { ClusterAccess } from '../cluster/kubeconfig';
import type { ClusterModel } from '../cluster/model';
import { errorMessage } from '../cluster/errorable';
import { enrichFlow } from '../flows/enrich';
import type { FilterSet } from '../flows/filter';
import { parseFilterArgs } from '../flows/filter-args';
import { type FlowResponse, toResponse } from '../flows/flow';
import { FlowVerdicts } from '../flows/verdict';
import { sortByTime } from '../flows/store';
import type { KubeObject } from '../sandbox/apiserver/types';
import { AgentConnection, resolveAgentToken } from './client';
import { openPortForward } from './portforward';
import { DEFAULT_AGENT_PORT, type NodeStatusMessage, type SubscribeRequest } from './protocol';


export const AGENT_LABEL = 'app.kubernetes.io/name=flowlens-agent';

export interface HubStatus { agents: number; connected: number; error?: string; lost?: number; nodes?: NodeStatusMessage[] }
/**
 * What to read: the protocol's subscribe fields; `namespace`/`pod` are shorthands for
 * `--namespace`/`--pod` (either end), used when `filters` is absent.
 */
export type HubRequest = Omit<SubscribeRequest, 'type'> & { namespace?: string; pod?: string; /** Only the agents on these nodes. */ nodes?: string[] };

export interface HubOptions {
  /** Agent token; default: $FLOWLENS_AGENT_TOKEN, else the Secret when RBAC allows reading it (src/agents/token.ts). */
  token?: string;
  /** First reconnect delay; doubles per failed attempt up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
}

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

/** The request's filters: `filters`, else the namespace/pod shorthands through the one parser. */
export function requestFilters(req: HubRequest): { ok: true; value: FilterSet | undefined } | { ok: false; error: string } {
  if (req.filters) return { ok: true, value: req.filters };
  const words = [...(req.namespace ? ['--namespace', req.namespace] : []), ...(req.pod ? ['--pod', req.pod] : [])];
  if (words.length === 0) return { ok: true, value: undefined };
  return parseFilterArgs(words);
}

interface Session { conn?: AgentConnection; ended: boolean; closed: boolean; retry?: ReturnType<typeof setTimeout>; lastTime?: string; status?: NodeStatusMessage }

export class AgentHub {
  constructor(private readonly access: ClusterAccess, private readonly model: ClusterModel, private readonly opts: HubOptions = {}) {}

  subscribe(req: HubRequest, onFlows: (flows: FlowResponse[]) => void, onStatus: (s: HubStatus) => void = () => undefined): { close(): void; done: Promise<void> } {
    return new HubSubscription(this.access, this.model, this.opts, req, onFlows, onStatus).start();
  }
}

class HubSubscription {
  private sessions = new Map<string, Session>();
  private closed = false;
  private lost = 0;
  private lastError: string | undefined;
  private backlog: FlowResponse[] | undefined = [];
  private resolveDone: () => void = () => undefined;
  private unsubscribe: () => void = () => undefined;
  private token: Promise<string | undefined> | undefined;
  private base: Omit<SubscribeRequest, 'type'> = {};

  constructor(
    private readonly access: ClusterAccess, private readonly model: ClusterModel, private readonly opts: HubOptions,
    private readonly req: HubRequest, private readonly onFlows: (flows: FlowResponse[]) => void, private readonly onStatus: (s: HubStatus) => void,
  ) {}

  start(): { close(): void; done: Promise<void> } {
    const done = new Promise<void>((r) => (this.resolveDone = r));
    const filters = requestFilters(this.req);
    if (!filters.ok) {
      this.lastError = filters.error;
      this.status();
      this.finish();
      return { close: () => this.finish(), done };
    }
    const { namespace: _ns, pod: _pod, nodes: _nodes, ...rest } = this.req;
    this.base = { ...rest, ...(filters.value ? { filters: filters.value } : {}) };
    this.unsubscribe = this.model.onDidChange(() => this.sync());
    this.sync();
    return { close: () => this.finish(), done };
  }

  private status(): void {
    const sessions = [...this.sessions.values()];
    const nodes = sessions.flatMap((s) => (s.status ? [s.status] : []));
    this.onStatus({ agents: this.sessions.size, connected: sessions.filter((s) => s.conn).length, error: this.lastError, lost: this.lost, ...(nodes.length ? { nodes } : {}) });
  }

  private deliver(session: Session, flows: FlowResponse[]): void {
    for (const f of flows) if (!session.lastTime || f.time > session.lastTime) session.lastTime = f.time;
    if (this.backlog) this.backlog.push(...flows);
    else if (flows.length) this.onFlows(flows);
  }

  /** Once every agent has sent its stored flows: merge by time, apply first/last across nodes. */
  private maybeFinishBacklog(): void {
    if (!this.backlog || [...this.sessions.values()].some((s) => !s.ended)) return;
    let all = sortByTime(this.backlog);
    this.backlog = undefined;
    if (this.req.first !== undefined) all = all.slice(0, this.req.first);
    else if (this.req.last !== undefined) all = all.slice(Math.max(0, all.length - this.req.last));
    if (all.length) this.onFlows(all);
    if (!this.req.follow) this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sessions.values()) this.closeSession(s);
    this.unsubscribe();
    this.resolveDone();
  }

  private closeSession(s: Session): void {
    s.closed = true;
    s.conn?.close();
    if (s.retry) clearTimeout(s.retry);
  }

  private ended(session: Session): void {
    if (session.ended) return;
    session.ended = true;
    this.maybeFinishBacklog();
  }

  private retry(pod: KubeObject, session: Session, attempt: number): void {
    if (session.closed || !this.req.follow) return;
    const delay = Math.min(this.opts.maxRetryMs ?? 2000, (this.opts.retryMs ?? 250) * 2 ** Math.min(attempt, 10));
    session.retry = setTimeout(() => void this.connect(pod, session, attempt + 1), delay);
  }

  /** A reconnect resumes from the last flow seen (no gap, no repeats); the first connect sends the request as given. */
  private request(session: Session, attempt: number): SubscribeRequest {
    if (attempt === 0 || !session.lastTime) return { type: 'subscribe', ...this.base, ...(attempt === 0 ? {} : { last: 0 }) };
    const { last: _l, first: _f, ...rest } = this.base;
    return { type: 'subscribe', ...rest, since: session.lastTime };
  }

  private async connect(pod: KubeObject, session: Session, attempt: number): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const name = `${ns}/${pod.metadata.name}`;
    const resumeAfter = attempt > 0 ? session.lastTime : undefined;
    try {
      this.token ??= this.opts.token !== undefined ? Promise.resolve(this.opts.token) : resolveAgentToken(this.access);
      const token = await this.token;
      const stream = await openPortForward(this.access, ns, pod.metadata.name, agentPort(pod));
      const conn = await AgentConnection.connect('ws://agent/flows', stream, {
        onMessage: (m) => {
          if (m.type === 'flows') {
            const flows = resumeAfter ? m.flows.filter((f) => f.time > resumeAfter) : m.flows;
            this.deliver(session, flows.map((f) => toResponse(FlowVerdicts.for(this.model).apply(enrichFlow(f, this.model)))));
          } else if (m.type === 'lost_events') { this.lost += m.count; this.status(); }
          else if (m.type === 'end' || m.type === 'caught_up') this.ended(session);
          else if (m.type === 'node_status') { session.status = m; this.status(); }
          else if (m.type === 'error') { this.lastError = `${name}: ${m.message}`; this.status(); }
        },
        onClose: () => {
          session.conn = undefined;
          this.status();
          this.ended(session);
          this.retry(pod, session, 0);
        },
      }, { token });
      if (session.closed) return conn.close();
      session.conn = conn;
      this.lastError = undefined;
      conn.send(this.request(session, attempt));
      this.status();
    } catch (e) {
      this.lastError = `agent ${name}: ${errorMessage(e)}`;
      this.status();
      this.ended(session);
      this.retry(pod, session, attempt);
    }
  }

  private sync(): void {
    if (this.closed) return;
    const only = this.req.nodes;
    const pods = agentPods(this.model).filter((p) => !only?.length || only.includes(p.spec?.nodeName as string));
    const keys = new Set(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
    for (const [k, s] of this.sessions) if (!keys.has(k)) { this.closeSession(s); this.sessions.delete(k); }
    for (const p of pods) {
      const k = `${p.metadata.namespace}/${p.metadata.name}`;
      if (this.sessions.has(k)) continue;
      const s: Session = { ended: false, closed: false };
      this.sessions.set(k, s);
      void this.connect(p, s, 0);
    }
    if (pods.length === 0) {
      this.lastError = only?.length ? `no Flowlens agent runs on node ${only.join(', ')}` : `no Flowlens agents found (pods labelled ${AGENT_LABEL}); install them first (flowlens install)`;
      this.maybeFinishBacklog();
    }
    this.status();
  }
}

// A cluster session: the access, the cluster model and the agent hub for one kubeconfig context.
// Opening one is the only place that touches the cluster and agent clients' constructors.
import type { ClusterAccess } from '../cluster/kubeconfig';
import { loadClusterAccess } from '../cluster/kubeconfig';
import { ClusterModel } from '../cluster/model';
import { AgentHub } from '../agents/hub';
import { type Errorable, errorMessage, fail, ok } from '../cluster/errorable';
import type { FlowlensConfig } from './config';

export interface Session {
  readonly access: ClusterAccess;
  readonly model: ClusterModel;
  readonly hub: AgentHub;
  dispose(): void;
}

export type SessionFactory = (config: FlowlensConfig) => Promise<Errorable<Session>>;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export function makeSessionFactory(timeoutMs = 15_000): SessionFactory {
  return async (config) => {
    const access = loadClusterAccess({ kubeconfig: config.kubeconfig, context: config.context });
    if (!access.ok) return access;
    const model = new ClusterModel(access.value);
    try {
      // Connected once the tree's first levels are listed; pods, EndpointSlices and policies follow.
      await withTimeout(model.start(['namespaces', 'services']), timeoutMs, `listing from ${access.value.server}`);
    } catch (e) {
      model.stop();
      return fail(`cannot reach cluster "${access.value.context}" at ${access.value.server}: ${errorMessage(e)}`);
    }
    const hub = new AgentHub(access.value, model);
    return ok({ access: access.value, model, hub, dispose: () => model.stop() });
  };
}

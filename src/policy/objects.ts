// Kubernetes objects as the API server returns them (already validated there) -> the engine's
// cluster. Objects the engine cannot read are skipped and reported, never fatal.
import { InputError, parseNamespace, parsePod, parsePolicy } from './parse';
import type { Cluster } from './types';

export interface ApiObject { metadata: { name: string; namespace?: string } }

function each<T>(objs: ApiObject[], kind: string, errors: string[], f: (ctx: { where: string }, o: Record<string, unknown>) => T): T[] {
  const out: T[] = [];
  for (const o of objs) {
    const where = `${kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
    try {
      out.push(f({ where }, o as unknown as Record<string, unknown>));
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      errors.push(e.message);
    }
  }
  return out;
}

export function clusterFromApiObjects(namespaces: ApiObject[], pods: ApiObject[], policies: ApiObject[]): { cluster: Cluster; errors: string[] } {
  const errors: string[] = [];
  const cluster: Cluster = {
    namespaces: each(namespaces, 'namespace', errors, parseNamespace),
    pods: each(pods, 'pod', errors, parsePod),
    policies: each(policies, 'networkpolicy', errors, (ctx, o) => parsePolicy(ctx, o)),
  };
  return { cluster, errors };
}

// What-if: which observed flows would a draft change (allowed <-> denied)?
import { PolicyEngine } from './engine';
import { flowQuery, podLookup } from './flows';
import type { ObservedFlow } from './flows';
import type { ObjectSet } from './source';
import type { Cluster, Verdict } from './types';
import { policyKey } from './types';

export interface WhatIfChange { flow: ObservedFlow; before: Verdict; after: Verdict }

function byKey<T>(base: T[], extra: T[], key: (x: T) => string): T[] {
  const m = new Map(base.map((x) => [key(x), x]));
  for (const x of extra) m.set(key(x), x);
  return [...m.values()];
}

/** The cluster with the draft applied: its objects create or replace (by namespace/name). */
export function applyDraft(base: Cluster, draft: ObjectSet): Cluster {
  return {
    namespaces: byKey(base.namespaces, draft.namespaces, (n) => n.name),
    pods: byKey(base.pods, draft.pods, policyKey),
    policies: byKey(base.policies, draft.policies, policyKey),
  };
}

export function whatIf(flows: ObservedFlow[], before: Cluster, after: Cluster): WhatIfChange[] {
  const a = new PolicyEngine(before);
  const b = new PolicyEngine(after);
  const la = podLookup(before);
  const lb = podLookup(after);
  const out: WhatIfChange[] = [];
  for (const flow of flows) {
    const v1 = a.verdict(flowQuery(flow, la));
    const v2 = b.verdict(flowQuery(flow, lb));
    if (v1.allowed !== v2.allowed) out.push({ flow, before: v1, after: v2 });
  }
  return out;
}

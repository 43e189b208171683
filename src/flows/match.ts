// The skeleton's flow filters (namespace, pod): either end matches.
import type { Flow } from './flow';

export interface SimpleFilter { namespace?: string; pod?: string }

export function matchesSimple(f: Flow, filter: SimpleFilter): boolean {
  const ends = [f.source, f.destination];
  if (filter.namespace && !ends.some((e) => e.namespace === filter.namespace)) return false;
  if (filter.pod) {
    const [ns, name] = filter.pod.includes('/') ? filter.pod.split('/', 2) : [undefined, filter.pod];
    if (!ends.some((e) => e.pod_name !== undefined && e.pod_name.startsWith(name as string) && (ns === undefined || e.namespace === ns))) return false;
  }
  return true;
}

// Pure helpers for the flows table: labels, time format and the pod filter. No DOM.
import type { FlowRow, PanelFilter, RowEndpoint } from '../../src/panels/flows/protocol';

/** "namespace/pod", or the IP when the address is not a known pod. */
export function endpointLabel(e: RowEndpoint): string {
  if (e.pod) return e.namespace ? `${e.namespace}/${e.pod}` : e.pod;
  return e.ip;
}

export function endpointTitle(e: RowEndpoint): string {
  const addr = e.port !== undefined ? `${e.ip}:${e.port}` : e.ip;
  return e.pod ? `${endpointLabel(e)} (${addr})` : addr;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Local wall-clock time with milliseconds: "11:33:46.867". */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function protoLabel(r: FlowRow): string {
  return r.flags ? `${r.proto} ${r.flags}` : r.proto;
}

export function directionLabel(d: string): string {
  if (d === 'INGRESS') return 'ingress';
  if (d === 'EGRESS') return 'egress';
  return '';
}

/**
 * The pod filter: every whitespace-separated term must occur (case-insensitively) in either end's
 * "namespace/pod" or IP, or in the destination service.
 */
export function rowMatches(r: FlowRow, text: string): boolean {
  return searchMatcher(text)(r);
}

function haystack(r: FlowRow): string {
  // Kept on the row (a WeakMap of 100,000 entries costs every major GC its ephemeron pass).
  if (r.search === undefined) r.search = [endpointLabel(r.src), r.src.ip, endpointLabel(r.dst), r.dst.ip, r.service ?? ''].join('\n').toLowerCase();
  return r.search;
}

/** Computes a row's search text ahead of time (the page does it while ingesting, in slices). */
export function warmSearch(r: FlowRow): void {
  haystack(r);
}

/** The quick search compiled once: the terms split once, each row's text lower-cased once (cached). */
export function searchMatcher(text: string): (r: FlowRow) => boolean {
  const terms = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (terms.length === 0) return () => true;
  return (r) => {
    const hay = haystack(r);
    for (const t of terms) if (!hay.includes(t)) return false;
    return true;
  };
}

export function scopeLabel(f: PanelFilter): string {
  if (f.pod) return `pod ${f.pod}`;
  if (f.namespace) return `namespace ${f.namespace}`;
  return 'all pods';
}

/** Index of the first row whose id is at least `id` (rows are in id order). */
export function firstAtLeast(rows: readonly FlowRow[], id: number, from = 0): number {
  let lo = from;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((rows[mid]?.id ?? Infinity) < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

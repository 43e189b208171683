// The filter bar's text → a row predicate, through THE shared filter parser (src/flows/filter-args,
// hubble observe's flags: `--namespace shop --verdict DROPPED --not --port 53`). Text without any
// flag is a quick search instead: every word must occur in either end, an IP or the service.
// Also the chips' edits of the text (add or remove one flag and value). No DOM.
import { parseFilterText, tokenize } from '../../src/flows/filter-args';
import { compileFilterSet } from '../../src/flows/filter-compile';
import type { FlowRow } from '../../src/panels/flows/protocol';
import { searchMatcher } from './format';

export type RowPredicate = (r: FlowRow) => boolean;
export type Query = { ok: true; mode: 'all' | 'search' | 'filter'; match: RowPredicate } | { ok: false; error: string };

const ALL: RowPredicate = () => true;

export function compileQuery(text: string): Query {
  const t = text.trim();
  if (!t) return { ok: true, mode: 'all', match: ALL };
  const words = tokenize(t);
  if (words.ok && !words.value.some((w) => w.startsWith('-'))) return { ok: true, mode: 'search', match: searchMatcher(t) };
  const set = parseFilterText(t);
  if (!set.ok) return { ok: false, error: set.error };
  const pred = compileFilterSet(set.value);
  if (!pred.ok) return { ok: false, error: pred.error };
  const p = pred.value;
  return { ok: true, mode: 'filter', match: (r) => p(r.flow) };
}

function quote(v: string): string {
  return /^[^\s"'\\]+$/.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/** Whether the text holds `--flag value` (not negated by a preceding --not). */
export function hasFlag(text: string, flag: string, value: string): boolean {
  const w = tokenize(text);
  if (!w.ok) return false;
  return w.value.some((x, i) => (x === `--${flag}` && w.value[i + 1] === value && w.value[i - 1] !== '--not') || (x === `--${flag}=${value}` && w.value[i - 1] !== '--not'));
}

/** Adds `--flag value`, or removes it when present (a chip toggles). */
export function toggleFlag(text: string, flag: string, value: string): string {
  const w = tokenize(text);
  if (!w.ok) return text;
  const words = w.value;
  const out: string[] = [];
  let removed = false;
  for (let i = 0; i < words.length; i++) {
    const x = words[i] as string;
    if (words[i - 1] !== '--not' && x === `--${flag}` && words[i + 1] === value) { i++; removed = true; continue; }
    if (words[i - 1] !== '--not' && x === `--${flag}=${value}`) { removed = true; continue; }
    out.push(x);
  }
  if (!removed) out.push(`--${flag}`, value);
  return out.map((x) => (x.startsWith('--') ? x : quote(x))).join(' ');
}

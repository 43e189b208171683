// Label and field selectors with the API server's syntax. Parse errors are ApiError 400.
import type { KubeObject } from './types';
import { ApiError } from './types';

type Labels = Record<string, string> | undefined;
export type LabelPredicate = (labels: Labels) => boolean;
export type ObjectPredicate = (obj: KubeObject) => boolean;

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function bad(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

/** Splits on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { out.push(cur); cur = ''; } else cur += ch;
  }
  if (depth !== 0) throw bad(`unable to parse requirement: unbalanced parentheses in "${s}"`);
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

function checkKey(k: string): string {
  if (!KEY.test(k) || k.length > 316) throw bad(`unable to parse requirement: invalid label key "${k}"`);
  return k;
}

function checkValue(v: string): string {
  if (v.length > 63 || !VALUE.test(v)) throw bad(`unable to parse requirement: invalid label value: "${v}"`);
  return v;
}

function parseSet(s: string): Set<string> {
  const m = /^\((.*)\)$/.exec(s.trim());
  if (!m) throw bad(`unable to parse requirement: expected a parenthesised value list, found "${s}"`);
  return new Set((m[1] ?? '').split(',').map((v) => checkValue(v.trim())));
}

function parseTerm(term: string): LabelPredicate {
  let m = /^!\s*([^\s=!<>()]+)$/.exec(term);
  if (m) { const k = checkKey(m[1]!); return (l) => !(l && k in l); }
  m = /^([^\s=!<>()]+)\s+(in|notin)\s*(\(.*\))$/.exec(term);
  if (m) {
    const k = checkKey(m[1]!); const set = parseSet(m[3]!);
    return m[2] === 'in' ? (l) => !!l && k in l && set.has(l[k]!) : (l) => !l || !(k in l) || !set.has(l[k]!);
  }
  m = /^([^\s=!<>()]+)\s*(==|=|!=|<|>)\s*([^\s=!<>()]*)$/.exec(term);
  if (m) return comparison(checkKey(m[1]!), m[2]!, m[3]!);
  m = /^([^\s=!<>()]+)$/.exec(term);
  if (m) { const k = checkKey(m[1]!); return (l) => !!l && k in l; }
  throw bad(`unable to parse requirement: "${term}"`);
}

function comparison(k: string, op: string, value: string): LabelPredicate {
  if (op === '<' || op === '>') {
    if (!/^-?\d+$/.test(value)) throw bad(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
    const n = Number(value);
    return (l) => !!l && k in l && /^-?\d+$/.test(l[k]!) && (op === '<' ? Number(l[k]) < n : Number(l[k]) > n);
  }
  checkValue(value);
  return op === '!=' ? (l) => !l || l[k] !== value : (l) => !!l && l[k] === value;
}

export function parseLabelSelector(selector: string | null | undefined): LabelPredicate {
  if (!selector || !selector.trim()) return () => true;
  const preds = splitTerms(selector).map(parseTerm);
  return (labels) => preds.every((p) => p(labels));
}

/** Splits on unescaped separators; field selector values escape with backslash. */
function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) { cur += ch + s[i + 1]; i++; continue; }
    if (ch === sep) { out.push(cur); cur = ''; continue; }
    cur += ch;
  }
  out.push(cur);
  return out;
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, '$1');
}

/** Reads a dotted path (metadata.name, spec.nodeName, status.phase, ...) as a string; missing is "". */
export function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

function parseFieldTerm(term: string): ObjectPredicate {
  const m = /^([A-Za-z0-9_.]+)\s*(==|!=|=)(.*)$/s.exec(term);
  if (!m) throw bad(`invalid selector: '${term}'; can't understand '${term}'`);
  const path = m[1]!; const op = m[2]!; const value = unescape(m[3]!.trim());
  return op === '!=' ? (o) => fieldValue(o, path) !== value : (o) => fieldValue(o, path) === value;
}

export function parseFieldSelector(selector: string | null | undefined): ObjectPredicate {
  if (!selector || !selector.trim()) return () => true;
  const preds = splitEscaped(selector, ',').map((t) => t.trim()).filter(Boolean).map(parseFieldTerm);
  return (obj) => preds.every((p) => p(obj));
}

/** Both selectors of a request, as one predicate on objects. */
export function objectFilter(labelSelector: string | null | undefined, fieldSelector: string | null | undefined): ObjectPredicate {
  const labels = parseLabelSelector(labelSelector);
  const fields = parseFieldSelector(fieldSelector);
  return (obj) => labels(obj.metadata?.labels) && fields(obj);
}

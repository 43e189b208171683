// Label selectors as `hubble observe --label` reads them: Kubernetes selector syntax
// (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma = AND) over Hubble's label
// strings `source:key=value` (e.g. `k8s:app=cart`, `reserved:world`). A key may carry a source
// prefix (`k8s:app=cart`); without one it matches a label of any source. Matching allocates nothing.
import { type Errorable, fail, ok } from '../cluster/errorable';
import { q } from './filter';

type Op = 'exists' | 'notexists' | 'eq' | 'neq' | 'in' | 'notin';
interface Requirement { source: string | undefined; key: string; op: Op; values: string[] }
export interface LabelSelector { requirements: Requirement[] }

const KEY = /^(?:([A-Za-z0-9_-]+):)?([A-Za-z0-9]([A-Za-z0-9_.\-/]*[A-Za-z0-9])?)$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Splits on commas outside parentheses. */
function splitTerms(text: string): string[] | undefined {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')' && --depth < 0) return undefined;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return undefined;
  out.push(text.slice(start));
  return out;
}

function parseKey(text: string, term: string): Errorable<{ source: string | undefined; key: string }> {
  const m = KEY.exec(text.trim());
  if (!m) return fail(`invalid label key ${q(text.trim())} in ${q(term)}`);
  return ok({ source: m[1], key: m[2] as string });
}

function parseValues(text: string, term: string): Errorable<string[]> {
  const vals = text.split(',').map((v) => v.trim());
  for (const v of vals) if (!VALUE.test(v) || v.length > 63) return fail(`invalid label value ${q(v)} in ${q(term)}`);
  return ok(vals);
}

function parseTerm(raw: string): Errorable<Requirement> {
  const term = raw.trim();
  if (term === '') return fail('empty term');
  const set = /^(.*?)\s+(in|notin)\s*\((.*)\)$/.exec(term);
  if (set) {
    const k = parseKey(set[1] as string, term);
    const vals = parseValues(set[3] as string, term);
    if (!k.ok) return k;
    if (!vals.ok) return vals;
    return ok({ ...k.value, op: set[2] as Op, values: vals.value });
  }
  const cmp = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
  if (cmp) {
    const k = parseKey(cmp[1] as string, term);
    const vals = parseValues(cmp[3] as string, term);
    if (!k.ok) return k;
    if (!vals.ok) return vals;
    if (vals.value.length !== 1) return fail(`one value expected in ${q(term)}`);
    return ok({ ...k.value, op: cmp[2] === '!=' ? 'neq' : 'eq', values: vals.value });
  }
  const neg = term.startsWith('!');
  const k = parseKey(neg ? term.slice(1) : term, term);
  if (!k.ok) return k;
  return ok({ ...k.value, op: neg ? 'notexists' : 'exists', values: [] });
}

export function parseLabelSelector(text: string): Errorable<LabelSelector> {
  const terms = splitTerms(text);
  if (!terms) return fail(`unbalanced parentheses in label selector ${q(text)}`);
  const requirements: Requirement[] = [];
  for (const t of terms) {
    const r = parseTerm(t);
    if (!r.ok) return fail(`label selector ${q(text)}: ${r.error}`);
    requirements.push(r.value);
  }
  return ok({ requirements });
}

/** Index in `label` where the value starts (after `=`), -1 when the label has no value, -2 when the key differs. */
function valueStart(label: string, r: Requirement): number {
  const colon = label.indexOf(':');
  if (r.source !== undefined && (colon !== r.source.length || !label.startsWith(r.source))) return -2;
  const keyAt = colon + 1;
  if (!label.startsWith(r.key, keyAt)) return -2;
  const end = keyAt + r.key.length;
  if (end === label.length) return -1;
  return label.charCodeAt(end) === 61 /* = */ ? end + 1 : -2;
}

function valueEquals(label: string, at: number, value: string): boolean {
  return at >= 0 ? label.length - at === value.length && label.startsWith(value, at) : value === '';
}

function matchRequirement(r: Requirement, labels: readonly string[]): boolean {
  let found = false;
  let matched = false;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i] as string;
    const at = valueStart(l, r);
    if (at === -2) continue;
    found = true;
    for (let j = 0; j < r.values.length; j++) if (valueEquals(l, at, r.values[j] as string)) matched = true;
  }
  switch (r.op) {
    case 'exists': return found;
    case 'notexists': return !found;
    case 'eq':
    case 'in': return matched;
    default: return !matched;
  }
}

export function matchLabelSelector(s: LabelSelector, labels: readonly string[] | undefined): boolean {
  const ls = labels ?? [];
  for (let i = 0; i < s.requirements.length; i++) if (!matchRequirement(s.requirements[i] as Requirement, ls)) return false;
  return true;
}

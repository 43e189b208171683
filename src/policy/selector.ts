// Label selector semantics (metav1.LabelSelector): matchLabels AND every matchExpression.
// NotIn and DoesNotExist match when the key is absent; {} matches everything.
import type { Selector } from './types';

export function selectorMatches(sel: Selector, labels: Record<string, string>): boolean {
  for (const k in sel.matchLabels) if (labels[k] !== sel.matchLabels[k]) return false;
  for (const r of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = labels[r.key];
    if (r.operator === 'Exists' && !has) return false;
    if (r.operator === 'DoesNotExist' && has) return false;
    if (r.operator === 'In' && (!has || !r.values.includes(v ?? ''))) return false;
    if (r.operator === 'NotIn' && has && r.values.includes(v ?? '')) return false;
  }
  return true;
}

export function isEmptySelector(sel: Selector): boolean {
  return Object.keys(sel.matchLabels).length === 0 && sel.matchExpressions.length === 0;
}

/** A canonical text for a selector (equal selectors, equal keys). */
export function selectorKey(sel: Selector): string {
  const labels = Object.keys(sel.matchLabels).sort().map((k) => `${k}=${sel.matchLabels[k]}`);
  const exprs = sel.matchExpressions.map((r) => `${r.key} ${r.operator} (${[...r.values].sort().join(',')})`).sort();
  return `${labels.join(',')};${exprs.join(';')}`;
}

/** A canonical text for a label set. */
export function labelsKey(labels: Record<string, string>): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',');
}

/** Interns selectors and label sets to small integers and memoizes matches between them. */
export class SelectorCache {
  private readonly selectors = new Map<string, number>();
  private readonly selectorList: Selector[] = [];
  private readonly labelSets = new Map<string, number>();
  private readonly labelList: Record<string, string>[] = [];
  private readonly memo = new Map<number, boolean>();

  selectorId(sel: Selector): number {
    const k = selectorKey(sel);
    let id = this.selectors.get(k);
    if (id === undefined) {
      id = this.selectorList.length;
      this.selectors.set(k, id);
      this.selectorList.push(sel);
    }
    return id;
  }

  labelsId(labels: Record<string, string>): number {
    const k = labelsKey(labels);
    let id = this.labelSets.get(k);
    if (id === undefined) {
      id = this.labelList.length;
      this.labelSets.set(k, id);
      this.labelList.push(labels);
    }
    return id;
  }

  matches(selectorId: number, labelsId: number): boolean {
    const key = selectorId * 4294967296 + labelsId;
    let m = this.memo.get(key);
    if (m === undefined) {
      m = selectorMatches(this.selectorList[selectorId] as Selector, this.labelList[labelsId] as Record<string, string>);
      this.memo.set(key, m);
    }
    return m;
  }
}

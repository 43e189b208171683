// Objects from YAML (multi-document) or JSON text (a v1 List, an array, or single objects), with
// the source range of each NetworkPolicy and of each of its rules (the `yaml` library keeps node
// ranges; a LineCounter turns offsets into 1-based line/column). Pure: the caller reads the file.
import { isMap, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { InputError, parseNamespace, parsePod, parsePolicy } from './parse';
import type { Cluster, Namespace, Pod, Policy, PolicySource, SourceRange } from './types';
import { policyKey } from './types';

export interface LoadedObject { object: Record<string, unknown>; where: string; node: YamlNode | undefined; document: number }

function range(file: string, document: number, lc: LineCounter, node: YamlNode | undefined): SourceRange | undefined {
  const r = node?.range;
  if (!r) return undefined;
  const s = lc.linePos(r[0]);
  const e = lc.linePos(r[1]);
  return { file, document, start: { line: s.line, col: s.col }, end: { line: e.line, col: e.col } };
}

function ruleRanges(file: string, o: LoadedObject, lc: LineCounter, dir: 'ingress' | 'egress'): (SourceRange | undefined)[] {
  if (!isMap(o.node)) return [];
  const seq = o.node.getIn(['spec', dir], true) as YamlNode | undefined;
  if (!isSeq(seq)) return [];
  return seq.items.map((item) => range(file, o.document, lc, item as YamlNode));
}

function flatten(doc: Document.Parsed, where: string, document: number): LoadedObject[] {
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  const node = doc.contents ?? undefined;
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) {
    const items = isSeq(node) ? node.items : [];
    return value.map((v, i) => ({ object: v as Record<string, unknown>, where: `${where}, item ${i}`, node: items[i] as YamlNode | undefined, document }));
  }
  if (typeof value !== 'object') throw new InputError(where, '', `expected an object, a List or an array, got ${JSON.stringify(value)}`);
  const o = value as Record<string, unknown>;
  if (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items)) {
    const seq = isMap(node) ? node.get('items', true) : undefined;
    const items = isSeq(seq) ? seq.items : [];
    return o.items.map((v, i) => ({ object: v as Record<string, unknown>, where: `${where}, items[${i}]`, node: items[i] as YamlNode | undefined, document }));
  }
  return [{ object: o, where, node: node as YamlNode | undefined, document }];
}

/** Every object in the text; throws InputError for YAML syntax errors, naming the document. */
export function loadObjects(text: string, file: string): { objects: LoadedObject[]; lineCounter: LineCounter } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [];
  const objects: LoadedObject[] = [];
  list.forEach((doc, i) => {
    const where = `${file}: document ${i + 1}`;
    const err = doc.errors[0];
    if (err) {
      const pos = lineCounter.linePos(err.pos[0]);
      throw new InputError(where, '', `YAML syntax error at line ${pos.line}, column ${pos.col}: ${err.message.split('\n')[0] ?? ''}`);
    }
    objects.push(...flatten(doc, where, i + 1));
  });
  return { objects, lineCounter };
}

export interface ObjectSet { namespaces: Namespace[]; pods: Pod[]; policies: Policy[] }

/** Namespace, Pod and NetworkPolicy objects (other kinds are skipped); later ones replace earlier ones. */
export function readObjects(text: string, file: string, into: ObjectSet = { namespaces: [], pods: [], policies: [] }): ObjectSet {
  const { objects, lineCounter } = loadObjects(text, file);
  for (const o of objects) {
    if (typeof o.object !== 'object' || o.object === null || Array.isArray(o.object)) throw new InputError(o.where, '', 'expected an object');
    const kind = o.object.kind;
    if (typeof kind !== 'string') throw new InputError(o.where, 'kind', 'required');
    const desc = { where: `${o.where} (${kind} ${describe(o.object)})` };
    if (kind === 'Namespace') upsert(into.namespaces, parseNamespace(desc, o.object), (n) => n.name);
    else if (kind === 'Pod') upsert(into.pods, parsePod(desc, o.object), policyKey);
    else if (kind === 'NetworkPolicy') {
      const r = range(file, o.document, lineCounter, o.node);
      const source: PolicySource | undefined = r ? { range: r, ingress: ruleRanges(file, o, lineCounter, 'ingress'), egress: ruleRanges(file, o, lineCounter, 'egress') } : undefined;
      upsert(into.policies, parsePolicy(desc, o.object, source), policyKey);
    }
  }
  return into;
}

function describe(o: Record<string, unknown>): string {
  const m = o.metadata as Record<string, unknown> | undefined;
  const name = typeof m?.name === 'string' ? m.name : '?';
  return typeof m?.namespace === 'string' ? `${m.namespace}/${name}` : name;
}

const positions = new WeakMap<unknown[], Map<string, number>>();

function upsert<T>(list: T[], item: T, key: (x: T) => string): void {
  let pos = positions.get(list);
  if (!pos) { pos = new Map(list.map((x, i) => [key(x), i])); positions.set(list, pos); }
  const k = key(item);
  const i = pos.get(k);
  if (i !== undefined) list[i] = item;
  else { pos.set(k, list.length); list.push(item); }
}

export function toCluster(set: ObjectSet): Cluster {
  return { namespaces: set.namespaces, pods: set.pods, policies: set.policies };
}

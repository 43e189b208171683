// NetworkPolicy documents in YAML text: where each one is (document start, metadata.name line,
// each ingress/egress rule's line), and the parsed object. Pure (no vscode): the CodeLens, What-if
// and "open the policy at the rule" features read it. Lines are 0-based.
import { LineCounter, parseAllDocuments } from 'yaml';

export interface PolicyDoc {
  namespace: string;
  name: string;
  /** 1-based document number in the file. */
  document: number;
  /** The document's first line, and the line of metadata.name. */
  line: number;
  nameLine: number;
  ingressLines: number[];
  egressLines: number[];
  object: Record<string, unknown>;
}

function lineOf(lc: LineCounter, offset: number | undefined): number {
  return offset === undefined ? 0 : lc.linePos(offset).line - 1;
}

interface Ranged { range?: [number, number, number] | null }

/** Every NetworkPolicy document in `text` (documents with YAML errors or other kinds are skipped). */
export function findPolicies(text: string): PolicyDoc[] {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc });
  if (!Array.isArray(docs)) return [];
  const out: PolicyDoc[] = [];
  docs.forEach((doc, i) => {
    if (doc.errors.length) return;
    const o = doc.toJS() as unknown;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return;
    const obj = o as Record<string, unknown>;
    const meta = obj.metadata as { name?: unknown; namespace?: unknown } | undefined;
    if (obj.kind !== 'NetworkPolicy' || typeof meta?.name !== 'string') return;
    const rules = (dir: string) => {
      const seq = doc.getIn(['spec', dir], true) as { items?: Ranged[] } | undefined;
      return (seq?.items ?? []).map((n) => lineOf(lc, n.range?.[0]));
    };
    const contents = doc.contents as Ranged | null;
    out.push({
      namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default',
      name: meta.name,
      document: i + 1,
      line: lineOf(lc, contents?.range?.[0]),
      nameLine: lineOf(lc, (doc.getIn(['metadata', 'name'], true) as Ranged | undefined)?.range?.[0]),
      ingressLines: rules('ingress'),
      egressLines: rules('egress'),
      object: obj,
    });
  });
  return out;
}

/** The line to open for a link: the rule's line when known, else metadata.name. */
export function linkLine(doc: PolicyDoc, direction?: 'ingress' | 'egress', ruleIndex?: number): number {
  if (direction && ruleIndex !== undefined) {
    const l = (direction === 'ingress' ? doc.ingressLines : doc.egressLines)[ruleIndex];
    if (l !== undefined) return l;
  }
  return doc.nameLine;
}

// PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch (treated as a merge patch with
// the $-directives dropped: adequate for the resources served here), JSON patch (RFC 6902).
import { ApiError } from './types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergePatch(target: Json, patch: Json, dropDirectives = false): Json {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (dropDirectives && k.startsWith('$')) continue;
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], stripDirectives(v, dropDirectives), dropDirectives);
  }
  return out;
}

function stripDirectives(v: Json, drop: boolean): Json {
  if (!drop) return v;
  if (Array.isArray(v)) return v.filter((e) => !(isObject(e) && '$patch' in e)).map((e) => stripDirectives(e, drop));
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(e, drop);
  return out;
}

function bad(message: string): ApiError {
  return new ApiError(422, 'Invalid', message);
}

function parsePointer(path: unknown): string[] {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) throw bad(`invalid JSON pointer: ${String(path)}`);
  return path === '' ? [] : path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function resolveParent(doc: Json, parts: string[]): { parent: Json; last: string } {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
    if (cur === undefined) throw bad(`jsonpatch: path not found: /${parts.join('/')}`);
  }
  return { parent: cur, last: parts[parts.length - 1] ?? '' };
}

function getAt(doc: Json, parts: string[]): Json {
  if (parts.length === 0) return doc;
  const { parent, last } = resolveParent(doc, parts);
  const v = Array.isArray(parent) ? parent[Number(last)] : parent?.[last];
  if (v === undefined) throw bad(`jsonpatch: path not found: /${parts.join('/')}`);
  return v;
}

function removeAt(doc: Json, parts: string[]): Json {
  const { parent, last } = resolveParent(doc, parts);
  const v = getAt(doc, parts);
  if (Array.isArray(parent)) parent.splice(Number(last), 1); else delete parent[last];
  return v;
}

function addAt(doc: Json, parts: string[], value: Json, replace: boolean): Json {
  if (parts.length === 0) return value;
  const { parent, last } = resolveParent(doc, parts);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(i) || i < 0 || i > parent.length) throw bad(`jsonpatch: index out of range: ${last}`);
    if (replace) parent[i] = value; else parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    if (replace && !(last in parent)) throw bad(`jsonpatch replace: missing key ${last}`);
    parent[last] = value;
  } else throw bad(`jsonpatch: cannot add to a scalar at /${parts.join('/')}`);
  return doc;
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new ApiError(400, 'BadRequest', 'a JSON patch must be an array of operations');
  let doc = structuredClone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string') throw bad('jsonpatch: each operation needs an "op"');
    const path = parsePointer(op.path);
    switch (op.op) {
      case 'add': doc = addAt(doc, path, structuredClone(op.value), false); break;
      case 'replace': getAt(doc, path); doc = addAt(doc, path, structuredClone(op.value), true); break;
      case 'remove': removeAt(doc, path); break;
      case 'move': { const v = removeAt(doc, parsePointer(op.from)); doc = addAt(doc, path, v, false); break; }
      case 'copy': doc = addAt(doc, path, structuredClone(getAt(doc, parsePointer(op.from))), false); break;
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(op.value)) throw bad(`jsonpatch test operation does not apply: /${path.join('/')}`);
        break;
      default: throw bad(`jsonpatch: unknown op "${String(op.op)}"`);
    }
  }
  return doc;
}

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct === 'application/merge-patch+json') return 'merge';
  if (ct === 'application/strategic-merge-patch+json') return 'strategic';
  if (ct === 'application/json-patch+json') return 'json';
  if (ct === 'application/apply-patch+yaml' || ct === 'application/apply-patch+json') return 'apply';
  return undefined;
}

export function applyPatch(type: PatchType, target: Json, patch: Json): Json {
  if (type === 'json') return jsonPatch(target, patch);
  if (!isObject(patch)) throw new ApiError(400, 'BadRequest', 'a merge patch must be a JSON object');
  return mergePatch(target, patch, type !== 'merge');
}

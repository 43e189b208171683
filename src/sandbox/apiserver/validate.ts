// Request-body validation: the checks the real API server makes that matter for the sandbox
// (kind/apiVersion against the URL, names, namespaces, labels, a few required spec fields).
import type { KubeObject } from './types';
import { ApiError } from './types';
import type { ResourceInfo } from './resources';
import { apiVersionOf } from './resources';

interface Cause { reason: 'FieldValueRequired' | 'FieldValueInvalid'; message: string; field: string }

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_KEY_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
/** Resources whose names must be DNS-1123 labels rather than subdomains. */
const LABEL_NAMED = new Set(['namespaces', 'services']);

function bad(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

function required(field: string, what = 'Required value'): Cause {
  return { reason: 'FieldValueRequired', message: what, field };
}

function invalid(field: string, value: unknown, why: string): Cause {
  return { reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the envelope (kind, apiVersion, name, namespace) against the request. */
export function checkEnvelope(info: ResourceInfo, body: unknown, ns: string | undefined, urlName?: string): KubeObject {
  if (!isObject(body)) throw bad('the request body must be a JSON or YAML object');
  const want = apiVersionOf(info);
  if (body.apiVersion !== undefined && body.apiVersion !== want) {
    throw bad(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${want})`);
  }
  if (body.kind !== undefined && body.kind !== info.kind) {
    throw bad(`the kind in the data (${String(body.kind)}) does not match the expected kind (${info.kind}) for ${info.resource}`);
  }
  if (body.apiVersion === undefined || body.kind === undefined) {
    throw bad(`Object 'Kind' and 'apiVersion' are required in the body (expected ${want}, ${info.kind})`);
  }
  if (body.metadata !== undefined && !isObject(body.metadata)) throw bad('metadata must be an object');
  const meta = (body.metadata ?? {}) as Record<string, unknown>;
  body.metadata = meta;
  if (info.namespaced && meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== ns) {
    throw bad('the namespace of the provided object does not match the namespace sent on the request');
  }
  if (info.namespaced) meta.namespace = ns;
  if (urlName !== undefined && meta.name !== undefined && meta.name !== urlName) {
    throw bad(`the name of the object (${String(meta.name)}) does not match the name on the URL (${urlName})`);
  }
  if (urlName !== undefined) meta.name = urlName;
  return body as KubeObject;
}

function metaCauses(info: ResourceInfo, obj: KubeObject): Cause[] {
  const causes: Cause[] = [];
  const { name, generateName, labels } = obj.metadata;
  if (!name && !generateName) causes.push(required('metadata.name', 'Required value: name or generateName is required'));
  if (name !== undefined && typeof name !== 'string') causes.push(invalid('metadata.name', name, 'must be a string'));
  else if (name) {
    const asLabel = LABEL_NAMED.has(info.resource);
    const ok = asLabel ? LABEL.test(name) && name.length <= 63 : SUBDOMAIN.test(name) && name.length <= 253;
    if (!ok) causes.push(invalid('metadata.name', name, asLabel
      ? `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`
      : `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`));
  }
  if (labels !== undefined) causes.push(...labelCauses(labels));
  return causes;
}

function labelCauses(labels: unknown): Cause[] {
  if (!isObject(labels)) return [invalid('metadata.labels', labels, 'must be a map of strings')];
  const causes: Cause[] = [];
  for (const [k, v] of Object.entries(labels)) {
    const name = k.includes('/') ? k.slice(k.indexOf('/') + 1) : k;
    const prefix = k.includes('/') ? k.slice(0, k.indexOf('/')) : '';
    if (!LABEL_KEY_NAME.test(name) || name.length > 63 || (prefix && !SUBDOMAIN.test(prefix))) {
      causes.push(invalid('metadata.labels', k, 'name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\''));
    }
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) {
      causes.push(invalid(`metadata.labels`, v, 'a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\' (at most 63)'));
    }
  }
  return causes;
}

function podCauses(obj: KubeObject): Cause[] {
  const containers = obj.spec?.containers;
  if (!Array.isArray(containers) || containers.length === 0) return [required('spec.containers')];
  const causes: Cause[] = [];
  containers.forEach((c: unknown, i: number) => {
    if (!isObject(c) || typeof c.name !== 'string' || !c.name) causes.push(required(`spec.containers[${i}].name`));
    else if (typeof c.image !== 'string' || !c.image) causes.push(required(`spec.containers[${i}].image`));
  });
  return causes;
}

function serviceCauses(obj: KubeObject): Cause[] {
  const ports = obj.spec?.ports ?? [];
  if (!Array.isArray(ports)) return [invalid('spec.ports', ports, 'must be a list')];
  const causes: Cause[] = [];
  ports.forEach((p: unknown, i: number) => {
    const port = isObject(p) ? p.port : undefined;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      causes.push(invalid(`spec.ports[${i}].port`, port, 'must be between 1 and 65535, inclusive'));
    }
  });
  const type = obj.spec?.type;
  if (type !== 'ExternalName' && type !== undefined && !['ClusterIP', 'NodePort', 'LoadBalancer'].includes(type)) {
    causes.push(invalid('spec.type', type, 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'));
  }
  return causes;
}

function specCauses(info: ResourceInfo, obj: KubeObject): Cause[] {
  switch (info.resource) {
    case 'pods': return podCauses(obj);
    case 'services': return serviceCauses(obj);
    case 'deployments': case 'daemonsets': case 'replicasets':
      return isObject(obj.spec?.selector) ? [] : [required('spec.selector')];
    default: return [];
  }
}

/** Field validation; throws 422 Invalid naming every bad field. */
export function validateObject(info: ResourceInfo, obj: KubeObject): void {
  const causes = [...metaCauses(info, obj), ...specCauses(info, obj)];
  if (causes.length === 0) return;
  const name = obj.metadata.name ?? '';
  const list = causes.map((c) => `${c.field}: ${c.message}`);
  const text = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  throw new ApiError(422, 'Invalid', `${info.kind} "${name}" is invalid: ${text}`, {
    name, group: info.group, kind: info.kind, causes,
  });
}

// The contract between the API-server emulator (src/sandbox/apiserver) and the sandbox controller.
// The emulator owns an in-memory object store; the controller reads and writes it through this
// interface and reacts to its events (pods created with kubectl become network namespaces, ...).
import type { Socket } from 'node:net';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  generateName?: string;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status?: any;
  [key: string]: unknown;
}

/** Plural resource names served by the emulator. */
export type Resource =
  | 'namespaces' | 'nodes' | 'pods' | 'services' | 'endpoints' | 'secrets' | 'serviceaccounts' | 'configmaps' | 'events'
  | 'endpointslices' | 'networkpolicies' | 'deployments' | 'replicasets' | 'daemonsets'
  | 'clusterroles' | 'clusterrolebindings';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent { type: WatchEventType; resource: Resource; object: KubeObject }

/** metav1.StatusDetails: what an error is about, and which fields are wrong (422 Invalid). */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason: string; message: string; field?: string }[];
}

export class ApiError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: StatusDetails) { super(message); }
}

export interface ObjectStore {
  list(resource: Resource, namespace?: string): KubeObject[];
  get(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined;
  /** Assigns uid, resourceVersion, creationTimestamp; throws ApiError 409 if it exists. */
  create(resource: Resource, obj: KubeObject): KubeObject;
  /** Replaces (spec, metadata, status); throws ApiError 404 if missing. */
  update(resource: Resource, obj: KubeObject): KubeObject;
  /** Returns the deleted object, or undefined if it was not there. */
  delete(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined;
  /** Called synchronously after each change; returns an unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void;
}

/** How the emulator reaches a pod's port for pods/portforward (the kubelet's job in a real cluster). */
export type PodDialer = (pod: KubeObject, port: number) => Promise<Socket>;

// Kubeconfig and context selection. Authentication and TLS come from @kubernetes/client-node's
// KubeConfig, so every auth method it supports (certs, tokens, exec plugins) works here too.
import { KubeConfig } from '@kubernetes/client-node';
import type { RequestOptions } from 'node:https';
import type { ClientOptions } from 'ws';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Errorable, errorMessage, fail, ok } from './errorable';

export interface ClusterAccess {
  kubeconfigPath?: string;
  context: string;
  server: string;
  namespace: string;
  /** Adds auth headers, client certificates and CA to an http(s) or WebSocket request. */
  authorize(opts: RequestOptions | ClientOptions): Promise<void>;
}

export function defaultKubeconfigPath(): string {
  const env = process.env.KUBECONFIG?.split(':').find((p) => p.length > 0);
  return env ?? join(homedir(), '.kube', 'config');
}

function loadConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  if (!kubeconfig && !process.env.KUBECONFIG && process.env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
    return kc;
  }
  const path = kubeconfig ?? defaultKubeconfigPath();
  if (!existsSync(path)) throw new Error(`kubeconfig not found: ${path}`);
  kc.loadFromFile(path);
  return kc;
}

export function loadClusterAccess(opts: { kubeconfig?: string; context?: string }): Errorable<ClusterAccess> {
  let kc: KubeConfig;
  try {
    kc = loadConfig(opts.kubeconfig);
  } catch (e) {
    return fail(`cannot read kubeconfig: ${errorMessage(e)}`);
  }
  const context = opts.context || kc.getCurrentContext();
  const ctx = kc.getContextObject(context);
  if (!ctx) return fail(`context "${context}" not found in kubeconfig (contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
  kc.setCurrentContext(context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) return fail(`context "${context}" names no cluster`);
  return ok({
    kubeconfigPath: opts.kubeconfig ?? defaultKubeconfigPath(),
    context,
    server: cluster.server.replace(/\/+$/, ''),
    namespace: ctx.namespace ?? 'default',
    authorize: cluster.server.startsWith('http:') ? plainHttpAuthorizer(kc) : (o) => kc.applyToHTTPSOptions(o),
  });
}

/**
 * client-node refuses plain-http servers; local ones (the sandbox emulator) are legitimate.
 * Apply only the credentials: TLS settings mean nothing without TLS.
 */
function plainHttpAuthorizer(kc: KubeConfig): ClusterAccess['authorize'] {
  const plain = new KubeConfig();
  plain.loadFromString(kc.exportConfig());
  plain.setCurrentContext(kc.getCurrentContext());
  const cluster = plain.getCurrentCluster();
  if (cluster) (cluster as { skipTLSVerify: boolean }).skipTLSVerify = true;
  return async (o) => {
    await plain.applyToHTTPSOptions(o);
    delete (o as { agent?: unknown }).agent;
  };
}

/** The kubeconfig's current-context, or undefined when it cannot be read or names none. */
export function kubeconfigCurrentContext(kubeconfig?: string): string | undefined {
  try {
    return loadConfig(kubeconfig).getCurrentContext() || undefined;
  } catch {
    return undefined;
  }
}

export function listContexts(kubeconfig?: string): string[] {
  try {
    return loadConfig(kubeconfig).getContexts().map((c) => c.name);
  } catch {
    return [];
  }
}

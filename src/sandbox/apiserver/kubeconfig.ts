// Writes a kubeconfig for the emulator (mode 0600: it may hold a token).
import { chmodSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  token?: string;
  contextName?: string;
  namespace?: string;
  /** PEM of the server's (self-signed) certificate, for https URLs. */
  caCert?: string;
}

export function kubeconfigYaml(url: string, opts: KubeconfigOptions = {}): string {
  const name = opts.contextName ?? 'flowlens-sandbox';
  const user: Record<string, unknown> = opts.token ? { token: opts.token } : {};
  const context: Record<string, unknown> = { cluster: name, user: name };
  if (opts.namespace) context.namespace = opts.namespace;
  return stringify({
    apiVersion: 'v1', kind: 'Config', preferences: {},
    clusters: [{ name, cluster: { server: url, ...(opts.caCert ? { 'certificate-authority-data': Buffer.from(opts.caCert).toString('base64') } : {}) } }],
    users: [{ name, user }],
    contexts: [{ name, context }],
    'current-context': name,
  });
}

export function writeKubeconfig(path: string, url: string, opts: KubeconfigOptions = {}): void {
  writeFileSync(path, kubeconfigYaml(url, opts), { mode: 0o600 });
  chmodSync(path, 0o600);
}

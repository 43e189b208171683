// `flowlens install` / `flowlens uninstall`: the agents through the API server (src/install).
import { loadClusterAccess } from '../cluster/kubeconfig';
import { installAgents, uninstallAgents, type InstallProgress } from '../install/install';
import { parseDuration } from '../flows/filter-time';
import { parse, usageFailure } from './args';

async function run(cmd: 'install' | 'uninstall', argv: string[]): Promise<number> {
  const a = parse(argv, { kubeconfig: { type: 'string' }, 'kube-context': { type: 'string' }, timeout: { type: 'string' }, manifests: { type: 'string' }, quiet: { type: 'boolean', short: 'q' } });
  if (!a.ok) return usageFailure(cmd, a.error);
  const v = a.value.values;
  const timeoutMs = v.timeout === undefined ? 180_000 : parseDuration(v.timeout as string);
  if (timeoutMs === undefined) return usageFailure(cmd, `--timeout must be a duration such as 90s or 3m, got "${String(v.timeout)}"`);
  const acc = loadClusterAccess({ kubeconfig: v.kubeconfig as string | undefined, context: v['kube-context'] as string | undefined });
  if (!acc.ok) return usageFailure(cmd, acc.error);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  const onProgress = (p: InstallProgress) => { if (!v.quiet) process.stderr.write(`${p.message}\n`); };
  const opts = { onProgress, signal: ac.signal, timeoutMs, manifestsDir: v.manifests as string | undefined };
  const r = cmd === 'install' ? await installAgents(acc.value, opts) : await uninstallAgents(acc.value, opts);
  process.off('SIGINT', stop);
  if (!r.ok) {
    process.stderr.write(`flowlens ${cmd}: ${r.error}\n`);
    return 1;
  }
  process.stdout.write(cmd === 'install' ? `flowlens agents installed in context ${acc.value.context}: ${'ready' in r.value ? `${r.value.ready}/${r.value.desired} ready` : ''}\n` : `flowlens agents removed from context ${acc.value.context}\n`);
  return 0;
}

export const installCommand = (argv: string[]): Promise<number> => run('install', argv);
export const uninstallCommand = (argv: string[]): Promise<number> => run('uninstall', argv);

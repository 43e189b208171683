// Typed getters for the `flowlens.*` settings (the only place that reads them).
import * as vscode from 'vscode';
import { homedir } from 'node:os';

export interface FlowlensConfig {
  /** Absolute kubeconfig path, or undefined for $KUBECONFIG / ~/.kube/config. */
  kubeconfig?: string;
  /** Context name, or undefined for the kubeconfig's current-context. */
  context?: string;
  maxRows: number;
}

export const DEFAULT_MAX_ROWS = 100_000;

export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? homedir() + p.slice(1) : p;
}

function optionalString(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

export function readConfig(): FlowlensConfig {
  const c = vscode.workspace.getConfiguration('flowlens');
  const kubeconfig = optionalString(c.get('kubeconfig'));
  const maxRows = c.get<number>('flows.maxRows');
  return {
    kubeconfig: kubeconfig === undefined ? undefined : expandHome(kubeconfig),
    context: optionalString(c.get('context')),
    maxRows: typeof maxRows === 'number' && Number.isSafeInteger(maxRows) && maxRows > 0 ? maxRows : DEFAULT_MAX_ROWS,
  };
}

/** True when a configuration change means the cluster session must be rebuilt. */
export function affectsSession(e: vscode.ConfigurationChangeEvent): boolean {
  return e.affectsConfiguration('flowlens.kubeconfig') || e.affectsConfiguration('flowlens.context');
}

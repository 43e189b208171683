// "Flowlens: Install agents" / "Flowlens: Uninstall agents": src/install's server-side apply (or
// delete) inside a cancellable progress notification, then one clear result message. The
// manifests ship with the extension (deploy/ beside dist/).
import { join } from 'node:path';
import * as vscode from 'vscode';
import { type InstallProgress, type InstallResult, installAgents, uninstallAgents } from '../../install/install';
import { loadManifests } from '../../install/manifests';
import type { Errorable } from '../../cluster/errorable';
import type { CommandSpec } from '../commands';
import type { Ctx } from '../ctx';
import type { Session } from '../session';

type Action = 'install' | 'uninstall';
const TITLES: Record<Action, string> = { install: 'Flowlens: installing agents', uninstall: 'Flowlens: removing agents' };
const SHOW_FLOWS = 'Show Flows';

export function agentCommands(): CommandSpec[] {
  return [
    { id: 'flowlens.installAgents', needsCluster: true, factory: (ctx) => (session) => installCommand(ctx, session) },
    { id: 'flowlens.uninstallAgents', needsCluster: true, factory: (ctx) => (session) => uninstallCommand(ctx, session) },
  ];
}

/** Fraction of the bar a progress event stands for: applies share the first half, readiness the second. */
export function progressShare(p: InstallProgress, objects: number): number {
  if (p.step === 'apply' || p.step === 'delete') return 50 / Math.max(1, objects);
  if (p.step === 'wait' && p.desired) return (50 * (p.ready ?? 0)) / p.desired;
  return 0;
}

export function installMessage(context: string, r: Errorable<InstallResult>, cancelled: boolean): { level: 'info' | 'error' | 'warning'; text: string } {
  if (cancelled) return { level: 'warning', text: `Flowlens: installing the agents in context ${context} was cancelled; what was already applied stays (run Install Agents again, or Uninstall Agents).` };
  if (!r.ok) return { level: 'error', text: `Flowlens: installing the agents in context ${context} failed: ${r.error}` };
  const v = r.value;
  return { level: 'info', text: `Flowlens: agents installed in context ${context}: ${v.ready}/${v.desired} ready (${v.daemonSet}, ${v.applied.length} objects applied).` };
}

interface Run<T> { result: Errorable<T>; cancelled: boolean }

async function withInstallProgress<T>(action: Action, objects: number, work: (onProgress: (p: InstallProgress) => void, signal: AbortSignal) => Promise<Errorable<T>>): Promise<Run<T>> {
  const ac = new AbortController();
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: TITLES[action], cancellable: true }, (progress, token) => {
    token.onCancellationRequested(() => ac.abort());
    let waited = 0;
    progress.report({ message: 'applying the manifests…' });
    return work((p) => {
      // readiness is reported as a level, the bar as increments
      const share = progressShare(p, objects);
      const increment = p.step === 'wait' ? Math.max(0, share - waited) : share;
      if (p.step === 'wait') waited = Math.max(waited, share);
      progress.report({ message: p.message, increment });
    }, ac.signal);
  });
  return { result, cancelled: ac.signal.aborted };
}

function manifestsDir(ctx: Ctx): string {
  return join(ctx.extension.extensionPath, 'deploy');
}

function objectCount(dir: string): number {
  const m = loadManifests(dir);
  return m.ok ? m.value.length : 1;
}

async function installCommand(ctx: Ctx, session: Session): Promise<void> {
  const context = session.access.context;
  const run = await withInstallProgress('install', objectCount(manifestsDir(ctx)), (onProgress, signal) => installAgents(session.access, { onProgress, signal, manifestsDir: manifestsDir(ctx) }));
  const m = installMessage(context, run.result, run.cancelled);
  if (m.level === 'error') void ctx.host.showErrorMessage(m.text);
  else if (m.level === 'warning') void ctx.host.showWarningMessage(m.text);
  else if ((await ctx.host.showInformationMessage(m.text, SHOW_FLOWS)) === SHOW_FLOWS) await vscode.commands.executeCommand('flowlens.showFlows');
}

async function uninstallCommand(ctx: Ctx, session: Session): Promise<void> {
  const context = session.access.context;
  const ok = await vscode.window.showWarningMessage(`Remove the Flowlens agents from context ${context}?`, { modal: true, detail: 'Deletes the DaemonSet, its RBAC objects and the flowlens-system namespace.' }, 'Uninstall');
  if (ok !== 'Uninstall') return;
  const run = await withInstallProgress('uninstall', objectCount(manifestsDir(ctx)), (onProgress, signal) => uninstallAgents(session.access, { onProgress, signal, manifestsDir: manifestsDir(ctx) }));
  if (run.cancelled) void ctx.host.showWarningMessage(`Flowlens: removing the agents from context ${context} was cancelled.`);
  else if (!run.result.ok) void ctx.host.showErrorMessage(`Flowlens: removing the agents from context ${context} failed: ${run.result.error}`);
  else void ctx.host.showInformationMessage(`Flowlens: agents removed from context ${context} (${run.result.value.deleted.length} objects deleted).`);
}

// Extension entry point: builds the one context that owns every disposable, lets each feature
// register itself, and connects to the cluster named by the settings.
import * as vscode from 'vscode';
import { listContexts } from '../cluster/kubeconfig';
import { FlowsFeature } from '../panels/flows/feature';
import { registerServiceMap } from '../panels/map/host';
import { registerBackends } from '../panels/backends/host';
import { agentCommands } from './agents/install';
import { type CommandSpec, registerCommands } from './commands';
import { affectsSession, readConfig } from './config';
import { Ctx } from './ctx';
import { vscodeHost } from './host';
import { makeSessionFactory } from './session';
import { LiveFeed } from './live/feed';
import { PoliciesFeature } from './policies/feature';
import { ServicesTree } from './services/tree';

function coreCommands(): CommandSpec[] {
  return [
    { id: 'flowlens.reconnect', needsCluster: false, factory: (ctx) => () => ctx.connect() },
    { id: 'flowlens.selectContext', needsCluster: false, factory: (ctx) => () => selectContext(ctx) },
  ];
}

async function selectContext(ctx: Ctx): Promise<void> {
  const contexts = listContexts(ctx.config.kubeconfig);
  if (contexts.length === 0) {
    void ctx.host.showWarningMessage('Flowlens: the kubeconfig has no contexts (see the flowlens.kubeconfig setting).');
    return;
  }
  const pick = await ctx.host.showQuickPick(contexts, { placeHolder: 'Kubernetes context for Flowlens' });
  if (pick) await vscode.workspace.getConfiguration('flowlens').update('context', pick, vscode.ConfigurationTarget.Global);
}

export function activate(extension: vscode.ExtensionContext): Ctx {
  const ctx = new Ctx(extension, vscodeHost, makeSessionFactory(), readConfig);
  extension.subscriptions.push(ctx);
  registerCommands(ctx, [...coreCommands(), ...agentCommands()]);
  const live = LiveFeed.register(ctx);
  ServicesTree.register(ctx, live);
  const policies = PoliciesFeature.register(ctx, live);
  FlowsFeature.register(ctx, policies);
  registerServiceMap(ctx, live);
  registerBackends(ctx, live);
  ctx.pushExtCleanup(vscode.workspace.onDidChangeConfiguration((e) => {
    if (affectsSession(e)) void ctx.connect();
  }));
  void ctx.connect();
  return ctx;
}

/** Nothing to do: the context is in `extension.subscriptions`, which VS Code disposes. */
export function deactivate(): void {}

// Commands are factories `(ctx) => handler`, registered through one helper that always pushes to
// the extension's subscriptions and, for cluster commands, says clearly when no cluster is connected.
import * as vscode from 'vscode';
import type { Ctx } from './ctx';
import type { Session } from './session';

export type CommandSpec =
  | { id: string; needsCluster: false; factory: (ctx: Ctx) => (...args: unknown[]) => unknown }
  | { id: string; needsCluster: true; factory: (ctx: Ctx) => (session: Session, ...args: unknown[]) => unknown };

const RETRY = 'Retry';
const SETTINGS = 'Open Settings';

/** What the user sees when a cluster command runs without a cluster. */
export function noClusterMessage(ctx: Ctx): string {
  const s = ctx.sessionState;
  if (s.kind === 'connecting') return 'Flowlens: still connecting to the cluster; try again in a moment.';
  const why = s.kind === 'disconnected' ? s.error : 'unknown state';
  return `Flowlens: no Kubernetes cluster is connected (${why}). Check the flowlens.kubeconfig and flowlens.context settings.`;
}

async function reportNoCluster(ctx: Ctx): Promise<void> {
  const pick = await ctx.host.showWarningMessage(noClusterMessage(ctx), RETRY, SETTINGS);
  if (pick === RETRY) await ctx.connect();
  else if (pick === SETTINGS) await vscode.commands.executeCommand('workbench.action.openSettings', 'flowlens');
}

function wrap(ctx: Ctx, spec: CommandSpec): (...args: unknown[]) => unknown {
  if (!spec.needsCluster) return spec.factory(ctx);
  const handler = spec.factory(ctx);
  return (...args: unknown[]) => {
    const session = ctx.session;
    if (!session) return reportNoCluster(ctx);
    return handler(session, ...args);
  };
}

export function registerCommands(ctx: Ctx, specs: readonly CommandSpec[]): void {
  for (const spec of specs) {
    const handler = wrap(ctx, spec);
    ctx.pushExtCleanup(vscode.commands.registerCommand(spec.id, async (...args: unknown[]) => {
      try {
        return await handler(...args);
      } catch (e) {
        void ctx.host.showErrorMessage(`Flowlens: ${spec.id} failed: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      }
    }));
  }
}

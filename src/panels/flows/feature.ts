// The Flows feature registers itself: its commands (Show Flows, Trace pod) and the one panel it
// keeps, which follows the session (re-subscribes after a reconnect or context switch).
import type { Ctx } from '../../extension/ctx';
import { type CommandSpec, registerCommands } from '../../extension/commands';
import type { Session } from '../../extension/session';
import { isPodNode, isServiceNode } from '../../extension/services/nodes';
import { FlowsPanel } from './host';
import type { PanelFilter } from './protocol';

export class FlowsFeature {
  private panel: FlowsPanel | undefined;

  private constructor(private readonly ctx: Ctx) {}

  static register(ctx: Ctx): FlowsFeature {
    const feature = new FlowsFeature(ctx);
    const specs: CommandSpec[] = [
      { id: 'flowlens.showFlows', needsCluster: true, factory: () => (session) => feature.show(session, {}) },
      { id: 'flowlens.tracePod', needsCluster: true, factory: () => (session, arg) => feature.tracePod(session, arg) },
    ];
    registerCommands(ctx, specs);
    ctx.pushExtCleanup(ctx.onDidChangeSession(() => feature.panel?.attach(ctx.session)));
    ctx.pushExtCleanup({ dispose: () => feature.panel?.dispose() });
    return feature;
  }

  show(session: Session, filter: PanelFilter): void {
    if (!this.panel) {
      const panel = FlowsPanel.create(this.ctx.extension.extensionUri, filter, this.ctx.config.maxRows, () => {
        if (this.panel === panel) this.panel = undefined;
      });
      this.panel = panel;
    }
    this.panel.attach(session, filter);
    this.panel.reveal();
  }

  /** From the Services tree's pod item, or from the palette with a pod picked from the model. */
  async tracePod(session: Session, arg: unknown): Promise<void> {
    let pod: string | undefined;
    if (isPodNode(arg)) pod = `${arg.pod.namespace}/${arg.pod.name}`;
    else {
      const svc = isServiceNode(arg) ? session.model.services(arg.namespace).find((s) => s.metadata.name === arg.name) : undefined;
      const pods = svc ? session.model.backendsOf(svc).flatMap((b) => (b.pod ? [b.pod] : [])) : session.model.pods();
      const names = pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
      pod = await this.ctx.host.showQuickPick(names, { placeHolder: 'Pod to trace' });
    }
    if (pod) this.show(session, { pod });
  }
}

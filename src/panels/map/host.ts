// The Service map panel host: one WebviewPanel that posts the whole graph (built from the live
// feed's recent flows and the model's services) after the ready handshake, at most once a second
// while visible, and again whenever it becomes visible (resync). Clicks open the Flows panel.
import * as vscode from 'vscode';
import type { Ctx } from '../../extension/ctx';
import type { LiveFeed } from '../../extension/live/feed';
import { type Handlers, type NotificationMessage, dispatchCommand } from '../ipc';
import { panelHtml } from '../html';
import { buildGraph } from './graph';
import { type MapContract, mapGuards } from './protocol';

export const MAP_VIEW_TYPE = 'flowlens.serviceMap';
type C = MapContract;

export class ServiceMapPanel implements vscode.Disposable {
  private ready = false;
  private seq = 0;
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;

  private readonly commands: Handlers<C['commands']> = {
    ready: () => {
      this.ready = true;
      this.post();
    },
    openFlows: ({ filter }) => void vscode.commands.executeCommand('flowlens.showFlows', filter),
  };

  private constructor(private readonly panel: vscode.WebviewPanel, private readonly ctx: Ctx, private readonly live: LiveFeed, readonly onDidDispose: () => void) {
    panel.webview.html = this.html();
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: unknown) => this.receive(m)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.onDidDispose(() => this.dispose()),
      live.onDidChange(() => this.post()),
      ctx.onDidChangeSession(() => this.post()),
    );
  }

  static create(ctx: Ctx, live: LiveFeed, onDidDispose: () => void): ServiceMapPanel {
    const uri = ctx.extension.extensionUri;
    const panel = vscode.window.createWebviewPanel(MAP_VIEW_TYPE, 'Service Map', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(uri, 'dist', 'webview')],
    });
    return new ServiceMapPanel(panel, ctx, live, onDidDispose);
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
    this.onDidDispose();
  }

  private post(): void {
    if (!this.ready || !this.panel.visible) return;
    const session = this.ctx.session;
    const now = Date.now();
    const windowSec = this.live.stats.windowMs / 1000;
    const graph = session
      ? buildGraph(this.live.stats.recent(now), session.model.services(), windowSec, ++this.seq)
      : { seq: ++this.seq, nodes: [], edges: [], windowSec, error: 'no cluster connected' };
    const m: NotificationMessage<C> = { kind: 'notification', name: 'graph', payload: graph };
    void this.panel.webview.postMessage(m);
  }

  private receive(raw: unknown): void {
    dispatchCommand(mapGuards, raw, this.commands, 'service map');
  }

  private html(): string {
    return panelHtml(this.panel.webview, this.ctx.extension.extensionUri, 'map', 'Service Map');
  }
}

/** Registers Flowlens: Show Service Map (one panel, revealed when it exists). */
export function registerServiceMap(ctx: Ctx, live: LiveFeed): void {
  let panel: ServiceMapPanel | undefined;
  ctx.pushExtCleanup(vscode.commands.registerCommand('flowlens.showServiceMap', () => {
    panel ??= ServiceMapPanel.create(ctx, live, () => { panel = undefined; });
    panel.reveal();
  }));
  ctx.pushExtCleanup({ dispose: () => panel?.dispose() });
}

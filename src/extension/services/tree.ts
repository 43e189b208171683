// The Services tree: namespaces → services → backend pods. Model changes enqueue one coalesced
// refresh; without a cluster the view shows why (TreeView.message).
import * as vscode from 'vscode';
import type { Ctx, SessionState } from '../ctx';
import { type ServicesNode, childrenOf, present, rootNodes } from './nodes';

export const SERVICES_VIEW = 'flowlens.services';
const REFRESH_DELAY_MS = 150;

export class ServicesTree implements vscode.TreeDataProvider<ServicesNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<ServicesNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private view: vscode.TreeView<ServicesNode> | undefined;

  private constructor(private readonly ctx: Ctx) {}

  static register(ctx: Ctx): ServicesTree {
    const tree = new ServicesTree(ctx);
    tree.view = vscode.window.createTreeView(SERVICES_VIEW, { treeDataProvider: tree, showCollapseAll: true });
    ctx.pushExtCleanup(tree.view);
    ctx.pushExtCleanup(tree);
    ctx.pushExtCleanup(ctx.onDidChangeSession((s) => tree.onSession(s)));
    ctx.pushExtCleanup(vscode.commands.registerCommand('flowlens.services.refresh', () => tree.queueRefresh()));
    tree.onSession(ctx.sessionState);
    return tree;
  }

  /** Coalesces bursts of model events into one refresh. */
  queueRefresh(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.updateMessage();
      this.emitter.fire(undefined);
    }, REFRESH_DELAY_MS);
  }

  getTreeItem(node: ServicesNode): vscode.TreeItem {
    const p = present(this.ctx.session?.model, node);
    const item = new vscode.TreeItem(p.label, p.collapsible ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = p.id;
    item.description = p.description;
    item.tooltip = p.tooltip;
    item.contextValue = p.contextValue;
    item.iconPath = new vscode.ThemeIcon(p.icon.id, p.icon.color ? new vscode.ThemeColor(p.icon.color) : undefined);
    return item;
  }

  getChildren(node?: ServicesNode): ServicesNode[] {
    const model = this.ctx.session?.model;
    if (!model) return [];
    return node ? childrenOf(model, node) : rootNodes(model);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.emitter.dispose();
  }

  private onSession(s: SessionState): void {
    if (s.kind === 'connected') {
      const off = s.session.model.onDidChange(() => this.queueRefresh());
      this.ctx.pushSessionCleanup({ dispose: off });
    }
    this.updateMessage();
    this.emitter.fire(undefined);
  }

  private updateMessage(): void {
    if (!this.view) return;
    const s = this.ctx.sessionState;
    // A message hides the viewsWelcome content, which covers the connecting state.
    if (s.kind === 'disconnected') this.view.message = `No cluster: ${s.error}. Set flowlens.kubeconfig / flowlens.context, or Reconnect.`;
    else if (s.kind === 'connecting') this.view.message = undefined;
    else {
      const err = s.session.model.error();
      this.view.message = err ? `Cluster ${s.session.access.context}: ${err}` : undefined;
    }
  }
}

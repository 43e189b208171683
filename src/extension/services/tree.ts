// The Services tree: kubeconfig contexts → namespaces → services → warnings and backends, with
// live badges from the session's feed. Model and feed changes enqueue one coalesced refresh; the
// index is rebuilt lazily on the next read after a model change. Without a cluster the view says why.
import * as vscode from 'vscode';
import { kubeconfigCurrentContext, listContexts } from '../../cluster/kubeconfig';
import type { ClusterModel } from '../../cluster/model';
import type { Ctx, SessionState } from '../ctx';
import type { LiveFeed } from '../live/feed';
import type { KeyStats } from '../live/stats';
import { ServicesIndex } from './index';
import { type ServicesNode, type TreeSource, childrenOf, present, rootNodes } from './nodes';

export const SERVICES_VIEW = 'flowlens.services';
const REFRESH_DELAY_MS = 150;
const COLLAPSIBLE = { none: vscode.TreeItemCollapsibleState.None, collapsed: vscode.TreeItemCollapsibleState.Collapsed, expanded: vscode.TreeItemCollapsibleState.Expanded };

export function indexOf(model: ClusterModel): ServicesIndex {
  const p = model.parts;
  return new ServicesIndex({ namespaces: () => p.namespaces.list(), services: () => p.services.list(), pods: () => p.pods.list(), endpointslices: () => p.endpointslices.list() });
}

export class ServicesTree implements vscode.TreeDataProvider<ServicesNode>, vscode.Disposable, TreeSource {
  private readonly emitter = new vscode.EventEmitter<ServicesNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private view: vscode.TreeView<ServicesNode> | undefined;
  private cached: ServicesIndex | undefined;
  allNamespaces = false;
  filter = '';

  private constructor(private readonly ctx: Ctx, private readonly live: LiveFeed) {}

  static register(ctx: Ctx, live: LiveFeed): ServicesTree {
    const tree = new ServicesTree(ctx, live);
    tree.view = vscode.window.createTreeView(SERVICES_VIEW, { treeDataProvider: tree, showCollapseAll: true });
    ctx.pushExtCleanup(tree.view);
    ctx.pushExtCleanup(tree);
    ctx.pushExtCleanup(ctx.onDidChangeSession((s) => tree.onSession(s)));
    ctx.pushExtCleanup(live.onDidChange(() => tree.queueRefresh()));
    const reg = (id: string, fn: (...a: unknown[]) => unknown) => ctx.pushExtCleanup(vscode.commands.registerCommand(id, fn));
    reg('flowlens.services.refresh', () => { tree.cached = undefined; tree.queueRefresh(); });
    reg('flowlens.services.filter', () => tree.askFilter());
    reg('flowlens.services.clearFilter', () => tree.setFilter(''));
    reg('flowlens.services.toggleAllNamespaces', () => tree.setAllNamespaces(!tree.allNamespaces));
    reg('flowlens.switchContext', (name) => typeof name === 'string' && vscode.workspace.getConfiguration('flowlens').update('context', name, vscode.ConfigurationTarget.Global));
    void vscode.commands.executeCommand('setContext', 'flowlens.services.filtered', false);
    tree.onSession(ctx.sessionState);
    return tree;
  }

  contexts(): string[] {
    try {
      return listContexts(this.ctx.config.kubeconfig);
    } catch {
      return [];
    }
  }

  currentContext(): string | undefined {
    const s = this.ctx.sessionState;
    return s.kind === 'connected' ? s.session.access.context : (this.ctx.config.context || kubeconfigCurrentContext(this.ctx.config.kubeconfig));
  }

  connection(): SessionState['kind'] {
    return this.ctx.sessionState.kind;
  }

  index(): ServicesIndex | undefined {
    const model = this.ctx.session?.model;
    if (!model) return undefined;
    return (this.cached ??= indexOf(model));
  }

  backendsLoading(): boolean {
    const model = this.ctx.session?.model;
    return model !== undefined && !(model.synced('pods') && model.synced('endpointslices'));
  }

  stats(key: string): KeyStats {
    return this.live.stats.stats(key, this.now);
  }

  /** One clock reading per refresh, so every badge of a render agrees (and stats aggregate once). */
  private now = Date.now();

  /** Coalesces bursts of model events into one refresh. */
  queueRefresh(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.now = Date.now();
      this.updateMessage();
      this.emitter.fire(undefined);
    }, REFRESH_DELAY_MS);
  }

  getTreeItem(node: ServicesNode): vscode.TreeItem {
    const p = present(this, node);
    const item = new vscode.TreeItem(p.label, COLLAPSIBLE[p.collapsible]);
    item.id = p.id;
    item.description = p.description;
    item.tooltip = p.tooltip;
    item.contextValue = p.contextValue;
    item.iconPath = new vscode.ThemeIcon(p.icon.id, p.icon.color ? new vscode.ThemeColor(p.icon.color) : undefined);
    if (p.command) item.command = { title: p.label, ...p.command };
    return item;
  }

  getChildren(node?: ServicesNode): ServicesNode[] {
    return node ? childrenOf(this, node) : rootNodes(this);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.emitter.dispose();
  }

  setFilter(text: string): void {
    this.filter = text.trim().toLowerCase();
    void vscode.commands.executeCommand('setContext', 'flowlens.services.filtered', this.filter !== '');
    if (this.view) this.view.description = this.filter ? `filter: ${this.filter}` : undefined;
    this.queueRefresh();
  }

  setAllNamespaces(on: boolean): void {
    this.allNamespaces = on;
    this.queueRefresh();
  }

  private async askFilter(): Promise<void> {
    const text = await this.ctx.host.showInputBox({ prompt: 'Show services whose "namespace/name" contains', value: this.filter, placeHolder: 'e.g. shop/ or redis' });
    if (text !== undefined) this.setFilter(text);
  }

  private onSession(s: SessionState): void {
    this.cached = undefined;
    if (s.kind === 'connected') {
      const off = s.session.model.onDidChange(() => { this.cached = undefined; this.queueRefresh(); });
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

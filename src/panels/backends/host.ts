// The Service → backend map host: one panel per Service, the view rebuilt from the model and the
// live feed after the ready handshake, on news (at most once a second) and when shown again.
import * as vscode from 'vscode';
import type { Ctx } from '../../extension/ctx';
import type { LiveFeed } from '../../extension/live/feed';
import { programmedBackends } from '../../agents/dataplane';
import { isServiceNode } from '../../extension/services/nodes';
import { type Handlers, type NotificationMessage, dispatchCommand } from '../ipc';
import { panelHtml } from '../html';
import type { KubeObject } from '../../sandbox/apiserver/types';
import { buildBackendsView } from './model';
import { type BackendsContract, backendsGuards } from './protocol';

type C = BackendsContract;

class BackendsPanel implements vscode.Disposable {
  private ready = false;
  private seq = 0;
  private readonly disposables: vscode.Disposable[] = [];

  private readonly commands: Handlers<C['commands']> = {
    ready: () => { this.ready = true; this.post(); },
    tracePod: ({ pod }) => {
      const [namespace, name] = pod.split('/') as [string, string];
      void vscode.commands.executeCommand('flowlens.tracePod', { kind: 'pod', namespace, service: this.name, ip: '', ready: true, pod: { namespace, name } });
    },
  };

  constructor(private readonly panel: vscode.WebviewPanel, private readonly ctx: Ctx, private readonly live: LiveFeed, private readonly namespace: string, private readonly name: string, onDispose: () => void) {
    panel.webview.html = this.html();
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: unknown) => this.receive(m)),
      panel.onDidChangeViewState(() => { if (!panel.visible) this.ready = false; }),
      panel.onDidDispose(() => { this.dispose(); onDispose(); }),
      live.onDidChange(() => this.post()),
    );
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private post(): void {
    if (!this.ready || !this.panel.visible) return;
    const model = this.ctx.session?.model;
    const svc = model?.services(this.namespace).find((s) => s.metadata.name === this.name);
    const windowSec = this.live.stats.windowMs / 1000;
    const view = model && svc
      ? buildBackendsView(svc, model.backendsOf(svc), this.live.stats.recent(Date.now()), programmedBackends(this.live.nodes(), frontendIPs(svc)), windowSec, ++this.seq)
      : { seq: ++this.seq, service: `${this.namespace}/${this.name}`, type: '', sessionAffinity: '', frontends: [], backends: [], total: 0, untranslated: 0, windowSec, drift: [], error: model ? 'the service no longer exists' : 'no cluster connected' };
    const m: NotificationMessage<C> = { kind: 'notification', name: 'view', payload: view };
    void this.panel.webview.postMessage(m);
  }

  private receive(raw: unknown): void {
    dispatchCommand(backendsGuards, raw, this.commands, 'backends panel');
  }

  private html(): string {
    return panelHtml(this.panel.webview, this.ctx.extension.extensionUri, 'backends', `Backends — ${this.namespace}/${this.name}`);
  }
}

/** Flowlens: Show Service Backends, from a Services tree item or a quick pick. */
export function registerBackends(ctx: Ctx, live: LiveFeed): void {
  const panels = new Map<string, BackendsPanel>();
  ctx.pushExtCleanup(vscode.commands.registerCommand('flowlens.showBackends', async (arg: unknown) => {
    const model = ctx.session?.model;
    if (!model) return void ctx.host.showWarningMessage('Flowlens: no cluster connected.');
    let key = isServiceNode(arg) ? `${arg.namespace}/${arg.name}` : undefined;
    key ??= await ctx.host.showQuickPick(model.services().map((s) => `${s.metadata.namespace}/${s.metadata.name}`), { placeHolder: 'Service' });
    if (!key) return;
    const [namespace, name] = key.split('/') as [string, string];
    let p = panels.get(key);
    if (!p) {
      const panel = vscode.window.createWebviewPanel('flowlens.backends', `Backends — ${key}`, vscode.ViewColumn.Active, {
        enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(ctx.extension.extensionUri, 'dist', 'webview')],
      });
      p = new BackendsPanel(panel, ctx, live, namespace, name, () => panels.delete(key));
      panels.set(key, p);
    }
    p.reveal();
  }));
  ctx.pushExtCleanup({ dispose: () => { for (const p of panels.values()) p.dispose(); } });
}

/** The addresses a Service is reached on before translation. */
function frontendIPs(svc: KubeObject): string[] {
  const spec = svc.spec ?? {};
  const ips: string[] = [...(spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])), ...(spec.externalIPs ?? [])];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) if (typeof ing.ip === 'string') ips.push(ing.ip);
  return ips.filter((ip) => ip && ip !== 'None');
}

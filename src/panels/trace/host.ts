// The Trace pod host: one panel per pod, a follow subscription to the agents filtered to that pod
// (re-made after a reconnect), the timeline posted at most 4 times a second after the ready
// handshake and in full when the panel is shown again. "Flows" opens the Flows panel for the pod.
import * as vscode from 'vscode';
import type { Ctx } from '../../extension/ctx';
import type { HubStatus } from '../../agents/hub';
import { type Handlers, type NotificationMessage, dispatchCommand } from '../ipc';
import { panelHtml } from '../html';
import { type TraceContract, traceGuards } from './protocol';
import { TraceTimeline } from './timeline';

type C = TraceContract;
const POST_MS = 250;

export class TracePanel implements vscode.Disposable {
  private ready = false;
  private dirty = false;
  private seq = 0;
  private timeline: TraceTimeline;
  private status: HubStatus = { agents: 0, connected: 0 };
  private subscription: { close(): void } | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly disposables: vscode.Disposable[] = [];

  private readonly commands: Handlers<C['commands']> = {
    ready: () => { this.ready = true; this.dirty = true; this.post(); },
    showFlows: () => void vscode.commands.executeCommand('flowlens.showPodFlows', this.key),
  };

  constructor(private readonly panel: vscode.WebviewPanel, private readonly ctx: Ctx, readonly namespace: string, readonly name: string, onDispose: () => void) {
    this.timeline = new TraceTimeline({ namespace, name });
    panel.webview.html = this.html();
    this.timer = setInterval(() => this.post(), POST_MS);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: unknown) => this.receive(m)),
      panel.onDidChangeViewState(() => { if (!panel.visible) this.ready = false; }),
      panel.onDidDispose(() => { this.dispose(); onDispose(); }),
      ctx.onDidChangeSession(() => this.attach()),
    );
    this.attach();
  }

  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  dispose(): void {
    clearInterval(this.timer);
    this.subscription?.close();
    this.subscription = undefined;
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  /** (Re)subscribes with the current session; a new session starts a fresh timeline. */
  private attach(): void {
    this.subscription?.close();
    this.subscription = undefined;
    this.timeline = new TraceTimeline({ namespace: this.namespace, name: this.name });
    this.status = { agents: 0, connected: 0 };
    this.dirty = true;
    const session = this.ctx.session;
    if (!session) return;
    this.subscription = session.hub.subscribe({ pod: this.key, last: 2000, follow: true }, (flows) => {
      if (this.timeline.add(flows.map((r) => r.flow))) this.dirty = true;
    }, (s) => { this.status = s; this.dirty = true; });
  }

  private post(): void {
    if (!this.ready || !this.dirty || !this.panel.visible) return;
    this.dirty = false;
    const session = this.ctx.session;
    const status = session ? `${this.status.connected}/${this.status.agents} agents` : 'no cluster connected';
    const error = !session ? this.ctx.sessionState.kind === 'connecting' ? 'connecting to the cluster…' : 'no cluster connected' : this.status.error;
    const m: NotificationMessage<C> = { kind: 'notification', name: 'view', payload: this.timeline.view(++this.seq, status, error) };
    void this.panel.webview.postMessage(m);
  }

  private receive(raw: unknown): void {
    dispatchCommand(traceGuards, raw, this.commands, 'trace panel');
  }

  private html(): string {
    return panelHtml(this.panel.webview, this.ctx.extension.extensionUri, 'trace', `Trace — ${this.key}`);
  }
}

/** The open Trace panels, one per pod. */
export class TracePanels implements vscode.Disposable {
  private readonly panels = new Map<string, TracePanel>();

  constructor(private readonly ctx: Ctx) {}

  open(pod: string): void {
    let p = this.panels.get(pod);
    if (!p) {
      const [namespace, name] = pod.split('/') as [string, string];
      const panel = vscode.window.createWebviewPanel('flowlens.trace', `Trace — ${pod}`, vscode.ViewColumn.Active, {
        enableScripts: true, retainContextWhenHidden: false, localResourceRoots: [vscode.Uri.joinPath(this.ctx.extension.extensionUri, 'dist', 'webview')],
      });
      p = new TracePanel(panel, this.ctx, namespace, name, () => this.panels.delete(pod));
      this.panels.set(pod, p);
    }
    p.reveal();
  }

  dispose(): void {
    for (const p of this.panels.values()) p.dispose();
    this.panels.clear();
  }
}

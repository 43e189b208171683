// The "Why can't A reach B?" panel host: one panel, reused for each question. It shows the report
// after the ready handshake (and again when shown after being hidden), re-runs the diagnosis on
// request (after the user tried the connection) and copies the report as Markdown.
import * as vscode from 'vscode';
import type { Ctx } from '../../extension/ctx';
import { type ReachReport, reachMarkdown } from '../../extension/policies/reach';
import { type Handlers, type NotificationMessage, dispatchCommand } from '../ipc';
import { panelHtml } from '../html';
import { type ReachContract, type ReachView, reachGuards } from './protocol';

type C = ReachContract;
export type ReachCompute = () => Promise<ReachReport>;

const title = (r: ReachReport) => `Reach — ${r.from} → ${r.to}:${r.port}`;

class ReachPanel implements vscode.Disposable {
  private ready = false;
  private seq = 0;
  private view: Omit<ReachView, 'seq'>;
  private readonly disposables: vscode.Disposable[] = [];

  private readonly commands: Handlers<C['commands']> = {
    ready: () => { this.ready = true; this.post(); },
    copyMarkdown: () => void this.copy(),
    rerun: () => void this.run(),
  };

  constructor(private readonly panel: vscode.WebviewPanel, private readonly ctx: Ctx, private compute: ReachCompute, report: ReachReport, onDispose: () => void) {
    this.view = { report, at: new Date().toISOString() };
    panel.webview.html = this.html();
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: unknown) => this.receive(m)),
      panel.onDidChangeViewState(() => { if (!panel.visible) this.ready = false; }),
      panel.onDidDispose(() => { this.dispose(); onDispose(); }),
    );
  }

  /** Shows a new question's report in this panel. */
  show(compute: ReachCompute, report: ReachReport): void {
    this.compute = compute;
    this.view = { report, at: new Date().toISOString() };
    this.panel.title = title(report);
    this.panel.reveal(undefined, false);
    this.post();
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private async run(): Promise<void> {
    try {
      this.view = { report: await this.compute(), at: new Date().toISOString() };
    } catch (e) {
      this.view = { ...this.view, error: `cannot re-run: ${e instanceof Error ? e.message : String(e)}` };
    }
    this.post();
  }

  private async copy(): Promise<void> {
    await vscode.env.clipboard.writeText(reachMarkdown(this.view.report));
    void this.ctx.host.showInformationMessage('Flowlens: reach report copied as Markdown.');
  }

  private post(): void {
    if (!this.ready || !this.panel.visible) return;
    const m: NotificationMessage<C> = { kind: 'notification', name: 'view', payload: { ...this.view, seq: ++this.seq } };
    void this.panel.webview.postMessage(m);
  }

  private receive(raw: unknown): void {
    dispatchCommand(reachGuards, raw, this.commands, 'reach panel');
  }

  private html(): string {
    return panelHtml(this.panel.webview, this.ctx.extension.extensionUri, 'reach', 'Why can\'t A reach B?');
  }
}

/** The reach panel of this extension: created on first use, reused afterwards. */
export class ReachPanels implements vscode.Disposable {
  private panel: ReachPanel | undefined;

  constructor(private readonly ctx: Ctx) {}

  async show(compute: ReachCompute): Promise<void> {
    const report = await compute();
    if (this.panel) return this.panel.show(compute, report);
    const panel = vscode.window.createWebviewPanel('flowlens.reach', title(report), vscode.ViewColumn.Active, {
      enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.ctx.extension.extensionUri, 'dist', 'webview')],
    });
    this.panel = new ReachPanel(panel, this.ctx, compute, report, () => { this.panel = undefined; });
  }

  dispose(): void {
    this.panel?.dispose();
  }
}

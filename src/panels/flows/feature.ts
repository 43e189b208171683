// The Flows feature registers itself: its commands (Show Flows, Trace pod, Open recording) and the
// one live panel it keeps, which follows the session (re-subscribes after a reconnect or context
// switch). Recordings open in panels of their own.
import * as vscode from 'vscode';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Ctx } from '../../extension/ctx';
import { type CommandSpec, registerCommands } from '../../extension/commands';
import type { PoliciesFeature } from '../../extension/policies/feature';
import type { Session } from '../../extension/session';
import { isPodNode, isServiceNode } from '../../extension/services/nodes';
import { compileQuery } from '../../../webview/flows/query';
import { parseRecording, toCsv, toJsonLines } from './files';
import { FlowsPanel, type FlowsServices } from './host';
import { TracePanels } from '../trace/host';
import type { ExportFormat, FlowRow, PanelFilter } from './protocol';

/** A pod item of the Kubernetes extension's cluster explorer (vscode-kubernetes-tools ResourceNode). */
function isExplorerPod(v: unknown): v is { namespace: string; name: string } {
  if (typeof v !== 'object' || v === null) return false;
  const n = v as { nodeType?: unknown; name?: unknown; namespace?: unknown; kind?: { abbreviation?: unknown } };
  return n.nodeType === 'resource' && typeof n.name === 'string' && typeof n.namespace === 'string' && (n.kind?.abbreviation === undefined || n.kind.abbreviation === 'pod' || n.kind.abbreviation === 'po');
}

export class FlowsFeature {
  private panel: FlowsPanel | undefined;
  private readonly services: FlowsServices;
  private readonly traces: TracePanels;

  private constructor(private readonly ctx: Ctx, policies: PoliciesFeature) {
    this.traces = new TracePanels(ctx);
    this.services = {
      explain: (row) => policies.explain(row.flow),
      openPolicy: async (link) => {
        const session = ctx.session;
        if (session) await policies.openPolicy(session, link);
      },
      exportRows: (rows, format, filter) => this.exportRows(rows, format, filter),
    };
  }

  static register(ctx: Ctx, policies: PoliciesFeature): FlowsFeature {
    const feature = new FlowsFeature(ctx, policies);
    const specs: CommandSpec[] = [
      { id: 'flowlens.showFlows', needsCluster: true, factory: () => (session, text) => feature.show(session, typeof text === 'string' ? { text } : {}) },
      { id: 'flowlens.tracePod', needsCluster: true, factory: () => (session, arg) => feature.tracePod(session, arg) },
      { id: 'flowlens.showPodFlows', needsCluster: true, factory: () => (session, pod) => feature.podFlows(session, pod) },
      { id: 'flowlens.openRecording', needsCluster: false, factory: () => (arg) => feature.openRecording(arg) },
    ];
    registerCommands(ctx, specs);
    ctx.pushExtCleanup(ctx.onDidChangeSession(() => feature.panel?.attach(ctx.session)));
    ctx.pushExtCleanup({ dispose: () => feature.panel?.dispose() });
    ctx.pushExtCleanup(feature.traces);
    return feature;
  }

  show(session: Session, filter: PanelFilter): void {
    if (!this.panel) {
      const panel = FlowsPanel.create(this.ctx.extension.extensionUri, filter, this.ctx.config.maxRows, this.services, () => {
        if (this.panel === panel) this.panel = undefined;
      });
      this.panel = panel;
    }
    const { text, ...scope } = filter;
    this.panel.attach(session, scope);
    if (text !== undefined) this.panel.setFilterText(text);
    this.panel.reveal();
  }

  /** The Flows panel scoped to one pod ("namespace/name"; picked when absent). */
  async podFlows(session: Session, arg: unknown): Promise<void> {
    const pod = typeof arg === 'string' && /^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(arg) ? arg : await this.pickPod(session, arg);
    if (pod) this.show(session, { pod });
  }

  /** The Trace timeline of one pod: from the Services tree's pod or service item, the Kubernetes extension's explorer, or the palette. */
  async tracePod(session: Session, arg: unknown): Promise<void> {
    const pod = await this.pickPod(session, arg);
    if (pod) this.traces.open(pod);
  }

  private async pickPod(session: Session, arg: unknown): Promise<string | undefined> {
    let pod: string | undefined;
    if (isPodNode(arg)) pod = `${arg.pod.namespace}/${arg.pod.name}`;
    else if (isExplorerPod(arg)) pod = `${arg.namespace}/${arg.name}`;
    else {
      const svc = isServiceNode(arg) ? session.model.services(arg.namespace).find((s) => s.metadata.name === arg.name) : undefined;
      const pods = svc ? session.model.backendsOf(svc).flatMap((b) => (b.pod ? [b.pod] : [])) : session.model.pods();
      const names = pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
      pod = names.length === 1 ? names[0] : await this.ctx.host.showQuickPick(names, { placeHolder: 'Pod to trace' });
    }
    return pod;
  }

  /** Opens a saved `*.flows.jsonl` (or any `observe -o json` output) offline, in its own panel. */
  async openRecording(arg: unknown): Promise<void> {
    let uri = arg instanceof vscode.Uri ? arg : undefined;
    if (!uri) {
      const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Flow recordings': ['jsonl', 'json'] }, title: 'Open a flow recording' });
      uri = picked?.[0];
    }
    if (!uri) return;
    const rec = parseRecording(await readFile(uri.fsPath, 'utf8'));
    const name = basename(uri.fsPath);
    const panel = FlowsPanel.create(this.ctx.extension.extensionUri, { recording: name }, Math.max(this.ctx.config.maxRows, rec.flows.length), this.services, () => undefined);
    panel.attachRecording(name, rec.flows);
    this.ctx.pushExtCleanup(panel);
    if (rec.skipped.length) void this.ctx.host.showWarningMessage(`Flowlens: ${name}: skipped ${rec.skipped.length} invalid line(s), first at line ${rec.skipped[0]?.line}: ${rec.skipped[0]?.error}`);
  }

  private async exportRows(rows: readonly FlowRow[], format: ExportFormat, filter: string): Promise<void> {
    const q = compileQuery(filter);
    if (!q.ok) return void this.ctx.host.showErrorMessage(`Flowlens: cannot export: ${q.error}`);
    const shown = q.mode === 'all' ? rows : rows.filter(q.match);
    const ext = format === 'csv' ? 'csv' : 'flows.jsonl';
    const uri = await vscode.window.showSaveDialog({ filters: format === 'csv' ? { CSV: ['csv'] } : { 'Flow recording': ['jsonl'] }, saveLabel: 'Export flows', defaultUri: vscode.Uri.file(`flows.${ext}`) });
    if (!uri) return;
    await writeFile(uri.fsPath, format === 'csv' ? toCsv(shown) : toJsonLines(shown));
    void this.ctx.host.showInformationMessage(`Flowlens: saved ${shown.length} flows to ${uri.fsPath}`);
  }
}

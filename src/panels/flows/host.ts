// The Flows panel host: one WebviewPanel, subscribed through the AgentHub with the panel's filter,
// posting sequence-numbered batches at ~15 Hz after the ready handshake, and a full snapshot when
// the panel becomes visible again (postMessage to hidden panels can stall or drop).
import * as vscode from 'vscode';
import type { FlowResponse } from '../../flows/flow';
import type { HubStatus } from '../../agents/hub';
import type { Session } from '../../extension/session';
import { type FromWebview, type Handlers, type NotificationMessage, type RequestHandlers, type ResponseMessage, parseFromWebview } from '../ipc';
import { panelHtml } from '../html';
import { type Explanation, type ExportFormat, type FlowRow, type FlowsContract, type InitialState, type PanelFilter, type PolicyLink, type Status, flowsGuards, panelTitle } from './protocol';
import { RowBuffer } from './rows';
import { Pacer } from '../../flows/pacer';

export const FLOWS_VIEW_TYPE = 'flowlens.flows';
const FLUSH_INTERVAL_MS = 66;
const BACKLOG = 1000;

type C = FlowsContract;

/** What the panel asks of the rest of the extension (policies, files). */
export interface FlowsServices {
  explain(row: FlowRow): Promise<Explanation>;
  openPolicy(link: PolicyLink): Promise<void>;
  exportRows(rows: readonly FlowRow[], format: ExportFormat, filter: string): Promise<void>;
}

export class FlowsPanel implements vscode.Disposable {
  private ready = false;
  private paused = false;
  private needsReset = true;
  private readonly buffer: RowBuffer;
  private subscription: { close(): void } | undefined;
  private status: Status = { agents: 0, connected: 0, paused: false };
  private readonly disposables: vscode.Disposable[] = [];
  private readonly pacer = new Pacer(FLUSH_INTERVAL_MS, () => this.flush());
  /** Resets and resumes wait for no flow: checked at the same cadence. */
  private readonly timer: ReturnType<typeof setInterval>;
  private disposed = false;

  private readonly commands: Handlers<C['commands']> = {
    ready: () => {
      this.ready = true;
      this.postReset();
      this.postStatus();
      if (this.filter.text) this.post({ kind: 'notification', name: 'setFilter', payload: { text: this.filter.text } });
    },
    clear: () => {
      this.buffer.clear();
      this.postReset();
    },
    pause: ({ paused }) => {
      this.paused = paused;
      this.status = { ...this.status, paused };
      if (!paused) this.needsReset = true;
      this.postStatus();
    },
    openPolicy: (link) => void this.services.openPolicy(link),
    export: ({ format, filter }) => void this.services.exportRows(this.buffer.all(), format, filter),
  };

  private readonly requests: RequestHandlers<C['requests']> = {
    snapshot: () => {
      this.needsReset = false;
      return this.buffer.snapshot(this.filter);
    },
    explain: ({ id }) => {
      const row = this.buffer.find(id);
      if (!row) throw new Error(`flow ${id} is no longer held`);
      return this.services.explain(row);
    },
  };

  constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private filter: PanelFilter,
    maxRows: number,
    private readonly services: FlowsServices,
    readonly onDidDispose: () => void,
  ) {
    this.buffer = new RowBuffer(maxRows);
    panel.title = panelTitle(filter);
    panel.webview.html = this.html(maxRows);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: unknown) => this.receive(m)),
      panel.onDidChangeViewState(() => {
        // Without retainContextWhenHidden a hidden webview is torn down: wait for its next ready.
        if (!panel.visible) this.ready = false;
        this.needsReset = true;
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    this.timer = setInterval(() => this.pacer.poke(), FLUSH_INTERVAL_MS);

  }

  static create(extensionUri: vscode.Uri, filter: PanelFilter, maxRows: number, services: FlowsServices, onDidDispose: () => void): FlowsPanel {
    const dist = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
    const panel = vscode.window.createWebviewPanel(FLOWS_VIEW_TYPE, panelTitle(filter), vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [dist],
    });
    panel.iconPath = {
      light: vscode.Uri.joinPath(extensionUri, 'media', 'flows-light.svg'),
      dark: vscode.Uri.joinPath(extensionUri, 'media', 'flows-dark.svg'),
    };
    return new FlowsPanel(panel, extensionUri, filter, maxRows, services, onDidDispose);
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  /** Shows a saved recording instead of live flows (no subscription). */
  attachRecording(name: string, flows: readonly FlowResponse[]): void {
    this.subscription?.close();
    this.subscription = undefined;
    this.filter = { recording: name };
    this.panel.title = panelTitle(this.filter);
    this.buffer.clear();
    this.buffer.add(flows);
    this.needsReset = true;
    this.status = { agents: 0, connected: 0, paused: this.paused, recording: `recording ${name}: ${flows.length} flows (offline)` };
    this.postStatus();
  }

  /** Sets the filter bar's text (for example from a service map click). */
  setFilterText(text: string): void {
    this.filter = { ...this.filter, text };
    if (this.ready) this.post({ kind: 'notification', name: 'setFilter', payload: { text } });
  }

  get isRecording(): boolean {
    return this.filter.recording !== undefined;
  }

  /** Points the panel at a session (or none) and a filter; drops the old rows and subscription. */
  attach(session: Session | undefined, filter: PanelFilter = this.filter): void {
    if (filter.recording) return;
    this.subscription?.close();
    this.subscription = undefined;
    this.filter = filter;
    this.panel.title = panelTitle(filter);
    this.buffer.clear();
    this.needsReset = true;
    if (!session) {
      this.status = { agents: 0, connected: 0, error: 'no cluster connected', paused: this.paused };
      this.postStatus();
      return;
    }
    this.status = { agents: 0, connected: 0, paused: this.paused };
    const req = { last: BACKLOG, follow: true, ...(filter.pod ? { pod: filter.pod } : {}), ...(filter.namespace ? { namespace: filter.namespace } : {}) };
    this.subscription = session.hub.subscribe(req, (flows) => this.onFlows(flows), (s) => this.onStatus(s));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearInterval(this.timer);
    this.pacer.dispose();
    this.subscription?.close();
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
    this.onDidDispose();
  }

  private onFlows(flows: FlowResponse[]): void {
    this.buffer.add(flows);
    this.pacer.poke();
  }

  private onStatus(s: HubStatus): void {
    this.status = { agents: s.agents, connected: s.connected, paused: this.paused, ...(s.error ? { error: s.error } : {}), ...(s.lost ? { lost: s.lost } : {}) };
    this.postStatus();
  }

  private flush(): void {
    if (!this.ready || !this.panel.visible || this.paused) return;
    if (this.needsReset) return this.postReset();
    const batch = this.buffer.takeBatch();
    if (batch) this.post({ kind: 'notification', name: 'batch', payload: batch });
  }

  private postReset(): void {
    if (!this.ready) return;
    this.needsReset = false;
    this.post({ kind: 'notification', name: 'reset', payload: this.buffer.snapshot(this.filter) });
  }

  private postStatus(): void {
    if (this.ready) this.post({ kind: 'notification', name: 'status', payload: this.status });
  }

  private post(m: NotificationMessage<C> | ResponseMessage): void {
    this.panel.webview.postMessage(m).then(
      (delivered) => { if (!delivered) this.needsReset = true; },
      () => { this.needsReset = true; },
    );
  }

  private receive(raw: unknown): void {
    const parsed = parseFromWebview(flowsGuards, raw);
    if (!parsed.ok) {
      console.warn(`flowlens: flows panel: dropped message: ${parsed.error}`);
      return;
    }
    this.handle(parsed.value);
  }

  private handle(m: FromWebview<C>): void {
    if (m.kind === 'command') {
      (this.commands[m.name] as (p: unknown) => void)(m.payload);
      return;
    }
    const { id } = m;
    Promise.resolve()
      .then(() => (this.requests[m.name] as (p: unknown) => unknown)(m.payload))
      .then(
        (payload) => this.post({ kind: 'response', id, ok: true, payload }),
        (e: unknown) => this.post({ kind: 'response', id, ok: false, error: e instanceof Error ? e.message : String(e) }),
      );
  }

  private html(maxRows: number): string {
    const state: InitialState = { filter: this.filter, maxRows };
    return panelHtml(this.panel.webview, this.extensionUri, 'flows', panelTitle(this.filter), state);
  }
}

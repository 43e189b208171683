// The session's live feed: one follow subscription to every agent, feeding LiveStats; tells
// listeners at most once a second that there is news; owns the status bar item (agents
// connected, flows/s, lost events). Re-subscribes whenever the session changes.
import * as vscode from 'vscode';
import type { HubStatus } from '../../agents/hub';
import type { Ctx } from '../ctx';
import { LiveStats } from './stats';

const NOTIFY_MS = 1000;

export class LiveFeed implements vscode.Disposable {
  readonly stats = new LiveStats();
  private readonly emitter = new vscode.EventEmitter<void>();
  /** Fires at most once a second while flows arrive, and on session changes. */
  readonly onDidChange = this.emitter.event;
  private status: HubStatus = { agents: 0, connected: 0 };
  private dirty = false;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly item: vscode.StatusBarItem;

  private constructor(private readonly ctx: Ctx) {
    this.item = vscode.window.createStatusBarItem('flowlens.status', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'Flowlens';
    this.item.command = 'flowlens.showFlows';
    this.timer = setInterval(() => this.tick(), NOTIFY_MS);
  }

  static register(ctx: Ctx): LiveFeed {
    const feed = new LiveFeed(ctx);
    ctx.pushExtCleanup(feed);
    ctx.pushExtCleanup(ctx.onDidChangeSession(() => feed.attach()));
    feed.attach();
    return feed;
  }

  private attach(): void {
    this.stats.clear();
    this.status = { agents: 0, connected: 0 };
    const session = this.ctx.session;
    if (session) {
      const sub = session.hub.subscribe({ last: 5000, follow: true }, (flows) => {
        this.stats.ingest(flows, Date.now());
        this.dirty = true;
      }, (s) => this.onStatus(s));
      this.ctx.pushSessionCleanup({ dispose: () => sub.close() });
    }
    this.render();
    this.emitter.fire();
  }

  private onStatus(s: HubStatus): void {
    const added = (s.lost ?? 0) - (this.status.lost ?? 0);
    if (added > 0) this.stats.addLost(added);
    this.status = s;
    this.render();
  }

  private tick(): void {
    this.render();
    if (!this.dirty) return;
    this.dirty = false;
    this.emitter.fire();
  }

  private render(): void {
    const st = this.ctx.sessionState;
    if (st.kind !== 'connected') {
      this.item.text = st.kind === 'connecting' ? '$(sync~spin) Flowlens' : '$(debug-disconnect) Flowlens';
      this.item.tooltip = st.kind === 'connecting' ? 'Connecting to the cluster…' : `No cluster: ${st.error}`;
      this.item.show();
      return;
    }
    const t = this.stats.totals(Date.now());
    const lost = t.lost ? ` · $(warning) ${t.lost} lost` : '';
    this.item.text = `$(pulse) ${this.status.connected}/${this.status.agents} agents · ${t.rate.toFixed(1)} flows/s${lost}`;
    this.item.tooltip = new vscode.MarkdownString(`**Flowlens** — ${st.session.access.context}\n\n`
      + `Agents connected: ${this.status.connected} of ${this.status.agents}\n\nFlows (last 5 min): ${t.flows}, dropped or failed: ${t.drops}\n\n`
      + `Lost events: ${t.lost}${this.status.error ? `\n\n$(error) ${this.status.error}` : ''}`, true);
    this.item.backgroundColor = t.lost ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  /** Every connected agent's latest node_status (dataplane reports included). */
  nodes(): NonNullable<HubStatus['nodes']> {
    return this.status.nodes ?? [];
  }

  dispose(): void {
    clearInterval(this.timer);
    this.item.dispose();
    this.emitter.dispose();
  }
}

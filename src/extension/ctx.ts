// The one owner of everything disposable. Two buckets: the extension's lifetime, and the current
// cluster session (torn down whenever the kubeconfig or context changes, or on reconnect).
import * as vscode from 'vscode';
import type { FlowlensConfig } from './config';
import type { Host } from './host';
import type { Session, SessionFactory } from './session';

export type SessionState =
  | { kind: 'connecting' }
  | { kind: 'connected'; session: Session }
  | { kind: 'disconnected'; error: string };

export class Ctx implements vscode.Disposable {
  private readonly extCleanup: vscode.Disposable[] = [];
  private sessionCleanup: vscode.Disposable[] = [];
  private state: SessionState = { kind: 'disconnected', error: 'not connected yet' };
  private readonly changed = new vscode.EventEmitter<SessionState>();
  private generation = 0;
  /** Fires after every session state change (connecting, connected, disconnected). */
  readonly onDidChangeSession = this.changed.event;

  constructor(
    readonly extension: vscode.ExtensionContext,
    readonly host: Host,
    private readonly openSession: SessionFactory,
    private readonly readConfig: () => FlowlensConfig,
  ) {
    this.pushExtCleanup(this.changed);
  }

  get sessionState(): SessionState {
    return this.state;
  }

  get session(): Session | undefined {
    return this.state.kind === 'connected' ? this.state.session : undefined;
  }

  get config(): FlowlensConfig {
    return this.readConfig();
  }

  pushExtCleanup(d: vscode.Disposable): void {
    this.extCleanup.push(d);
  }

  /** Disposed when the current session ends; disposed at once when there is no session. */
  pushSessionCleanup(d: vscode.Disposable): void {
    if (this.state.kind === 'connected') this.sessionCleanup.push(d);
    else d.dispose();
  }

  /** (Re)connects with the current settings; concurrent calls: the last one wins. */
  async connect(): Promise<SessionState> {
    const gen = ++this.generation;
    this.endSession();
    this.setState({ kind: 'connecting' });
    let result: SessionState;
    try {
      const r = await this.openSession(this.readConfig());
      if (gen !== this.generation) {
        if (r.ok) r.value.dispose();
        return this.state;
      }
      result = r.ok ? { kind: 'connected', session: r.value } : { kind: 'disconnected', error: r.error };
    } catch (e) {
      if (gen !== this.generation) return this.state;
      result = { kind: 'disconnected', error: e instanceof Error ? e.message : String(e) };
    }
    if (result.kind === 'connected') this.sessionCleanup.push(result.session);
    this.setState(result);
    return result;
  }

  dispose(): void {
    this.generation++;
    this.endSession();
    for (const d of this.extCleanup.splice(0).reverse()) safeDispose(d);
  }

  private endSession(): void {
    for (const d of this.sessionCleanup.splice(0).reverse()) safeDispose(d);
    if (this.state.kind === 'connected') this.setState({ kind: 'disconnected', error: 'session closed' });
  }

  private setState(s: SessionState): void {
    this.state = s;
    void vscode.commands.executeCommand('setContext', 'flowlens.state', s.kind);
    this.changed.fire(s);
  }
}

function safeDispose(d: vscode.Disposable): void {
  try {
    d.dispose();
  } catch (e) {
    console.error('flowlens: dispose failed', e);
  }
}

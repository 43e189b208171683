// What the one-view panels (trace, service → backends, reach) share: a text-only element helper
// and the boot: the ready handshake, every message validated by the panel's contract, stale views
// (by seq) ignored, at most one render per animation frame.
import { type CommandMessage, type Contract, type ContractGuards, parseFromHost } from '../../src/panels/ipc';

declare function acquireVsCodeApi(): { postMessage(m: unknown): void };

/** An element with a class and text (textContent: never HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

type ViewContract = Contract & { notifications: { view: { seq: number } } };

export function startViewPanel<C extends ViewContract>(
  name: string,
  guards: ContractGuards<C>,
  show: (app: HTMLElement, view: C['notifications']['view'], post: (m: CommandMessage<C>) => void) => void,
): void {
  const api = acquireVsCodeApi();
  const post = (m: CommandMessage<C>) => api.postMessage(m);
  const app = document.getElementById('app') as HTMLElement;
  app.append(el('div', 'meta', 'waiting for the extension…'));
  let seq = 0;
  let pending: C['notifications']['view'] | undefined;
  window.addEventListener('message', (e: MessageEvent) => {
    const p = parseFromHost(guards, e.data);
    if (!p.ok || p.value.kind !== 'notification' || p.value.name !== 'view') return console.warn(`${name}: dropped message`, p.ok ? p.value.kind : p.error);
    const v = p.value.payload as C['notifications']['view'];
    if (v.seq <= seq) return;
    seq = v.seq;
    if (!pending) requestAnimationFrame(() => { if (pending) show(app, pending, post); pending = undefined; });
    pending = v;
  });
  post({ kind: 'command', name: 'ready', payload: {} } as CommandMessage<C>);
}

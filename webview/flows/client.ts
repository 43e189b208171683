// The webview end of the Flows contract: posts commands and requests through the VS Code API,
// validates every incoming message, settles requests by id and dispatches notifications to a
// handler map (a missing handler is a compile error).
import { type CommandMessage, type Handlers, RequestClient, parseFromHost } from '../../src/panels/ipc';
import { type FlowsContract, flowsGuards } from '../../src/panels/flows/protocol';

type C = FlowsContract;

export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState?(): unknown;
  setState?(state: unknown): void;
}

declare global {
  function acquireVsCodeApi(): VsCodeApi;
}

export class FlowsClient {
  private readonly requests: RequestClient<C>;

  constructor(readonly api: VsCodeApi, private readonly handlers: Handlers<C['notifications']>, timeoutMs = 5000) {
    this.requests = new RequestClient<C>(flowsGuards.requests, (m) => api.postMessage(m), timeoutMs);
  }

  /** Installs the message listener, then tells the host it may post (the ready handshake). */
  start(target: Pick<Window, 'addEventListener'>): void {
    target.addEventListener('message', (e: MessageEvent) => this.receive(e.data));
    this.command('ready', {});
  }

  command<K extends keyof C['commands'] & string>(name: K, payload: C['commands'][K]): void {
    this.api.postMessage({ kind: 'command', name, payload } as CommandMessage<C>);
  }

  request<K extends keyof C['requests'] & string>(name: K, payload: C['requests'][K]['req']): Promise<C['requests'][K]['res']> {
    return this.requests.request(name, payload);
  }

  receive(raw: unknown): void {
    const parsed = parseFromHost(flowsGuards, raw);
    if (!parsed.ok) {
      console.warn(`flows webview: dropped message: ${parsed.error}`);
      return;
    }
    const m = parsed.value;
    if (m.kind === 'response') this.requests.settle(m);
    else (this.handlers[m.name] as (p: unknown) => void)(m.payload);
  }
}

// A fake extension host for the Flows webview: serves dist/webview/flows.js in the real panel
// shell (same CSP) on 127.0.0.1, stubs acquireVsCodeApi in Chromium, and speaks the same contract
// (validated messages, handler maps), with scripted failures for requests.
import { createServer, type Server } from 'node:http';
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { type Page, chromium } from 'playwright-core';
import { type FromWebview, type Handlers, type NotificationMessage, type ResponseMessage, parseFromWebview } from '../../src/panels/ipc';
import { type Batch, type Explanation, type FlowRow, type FlowsContract, type InitialState, type Snapshot, type WireRows, flowsGuards } from '../../src/panels/flows/protocol';
import { wire } from '../../src/panels/flows/rows';
import { renderShell } from '../../src/panels/shell';
import type { Flow } from '../../src/flows/flow';
import { CHROMIUM, CHROMIUM_ARGS, ROOT, buildExtension } from './harness';

type C = FlowsContract;
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.map': 'application/json' };

/** Serves the shell at / and the bundle and codicons from the repository. */
export async function serveShell(state: InitialState | Record<string, never>, panel = 'flows'): Promise<{ server: Server; url: string }> {
  const roots: Record<string, string> = { '/dist/webview/': join(ROOT, 'dist/webview'), '/codicons/': join(ROOT, 'dist/webview/codicons') };
  let origin = '';
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(renderShell({ title: panel, cspSource: origin, nonce: 'testnonce123', scriptUri: `${origin}/dist/webview/${panel}.js`, styleUri: `${origin}/dist/webview/${panel}.css`, codiconsUri: `${origin}/codicons/codicon.css`, state }));
      return;
    }
    for (const [prefix, dir] of Object.entries(roots)) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (file.startsWith(dir) && existsSync(file)) {
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
        res.end(readFileSync(file));
        return;
      }
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  origin = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  return { server, url: `${origin}/` };
}

/** Installed before the page's scripts: the VS Code API stub, a message log and CSP violations. */
export const INIT_SCRIPT = `
  window.__sent = [];
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('acquireVsCodeApi called twice');
    acquired = true;
    return { postMessage: (m) => window.__sent.push(JSON.parse(JSON.stringify(m))), getState: () => undefined, setState: () => undefined };
  };
`;

export interface PanelPage { page: Page; close(): Promise<void> }

/** A panel's bundle (built first) in the shell, served, in a fresh Chromium page with the VS Code API stub. */
export async function openPanelPage(panel: string, viewport: { width: number; height: number }, outDir: string, state: InitialState | Record<string, never> = {}): Promise<PanelPage> {
  buildExtension();
  mkdirSync(outDir, { recursive: true });
  const { server, url } = await serveShell(state, panel);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport });
  await page.addInitScript(INIT_SCRIPT);
  await page.goto(url);
  return { page, close: async () => { await browser.close(); server.close(); } };
}

export type SnapshotScript = 'ok' | 'fail' | 'hang';

export class FakeFlowsHost {
  readonly received: FromWebview<C>[] = [];
  readonly rejected: string[] = [];
  ready = false;
  snapshotScript: SnapshotScript = 'ok';
  private cursor = 0;

  readonly commands: Handlers<C['commands']> = {
    ready: () => { this.ready = true; },
    clear: () => undefined,
    pause: () => undefined,
    openPolicy: () => undefined,
    export: () => undefined,
  };
  explanation: Explanation = { lines: ['denied: shop/frontend-2 → payments/payments-1:8080/TCP', 'ingress: denied — payments/payments-from-frontend selects payments/payments-1 and no rule allows this traffic'], links: [{ namespace: 'payments', name: 'payments-from-frontend' }] };

  constructor(private readonly page: Page, public snapshot: Snapshot) {}

  /** Reads what the webview posted since the last call, validating each message. */
  async drain(): Promise<FromWebview<C>[]> {
    const all = (await this.page.evaluate('window.__sent')) as unknown[];
    const fresh = all.slice(this.cursor);
    this.cursor = all.length;
    const out: FromWebview<C>[] = [];
    for (const raw of fresh) {
      const p = parseFromWebview(flowsGuards, raw);
      if (!p.ok) { this.rejected.push(p.error); continue; }
      out.push(p.value);
      this.received.push(p.value);
      await this.handle(p.value);
    }
    return out;
  }

  async notify(m: NotificationMessage<C>): Promise<void> {
    await this.postRaw(m);
  }

  async postRaw(m: unknown): Promise<void> {
    await this.page.evaluate((msg) => window.postMessage(msg, '*'), m as object);
  }

  private async handle(m: FromWebview<C>): Promise<void> {
    if (m.kind === 'command') {
      (this.commands[m.name] as (p: unknown) => void)(m.payload);
      return;
    }
    if (this.snapshotScript === 'hang') return;
    if (m.name === 'explain') {
      await this.postRaw({ kind: 'response', id: m.id, ok: true, payload: this.explanation } satisfies ResponseMessage);
      return;
    }
    const reply: ResponseMessage = this.snapshotScript === 'ok'
      ? { kind: 'response', id: m.id, ok: true, payload: this.snapshot }
      : { kind: 'response', id: m.id, ok: false, error: 'scripted failure' };
    await this.postRaw(reply);
  }
}

export function row(id: number, src: string, dst: string, extra: Partial<FlowRow> = {}): FlowRow {
  const ep = (s: string, ip: string, port?: number) => {
    const [namespace, pod] = s.split('/');
    return pod ? { ip, namespace, pod, ...(port ? { port } : {}) } : { ip: s, ...(port ? { port } : {}) };
  };
  const r: Omit<FlowRow, 'flow'> = {
    id, time: new Date(Date.UTC(2026, 0, 1, 12, 0, 0, id)).toISOString(),
    src: ep(src, `10.0.0.${id % 250}`, 40000 + id), dst: ep(dst, `10.0.1.${id % 250}`, 8080),
    proto: 'TCP', flags: 'SYN', verdict: 'FORWARDED', direction: 'EGRESS', node: 'node-1', l7: '', policy: '', ...extra,
  };
  const end = (e: { ip: string; namespace?: string; pod?: string }, app: string) => (e.pod ? { namespace: e.namespace, pod_name: e.pod, labels: [`k8s:app=${app}`, `k8s:io.kubernetes.pod.namespace=${e.namespace}`] } : {});
  const flow: Flow = {
    time: r.time, verdict: r.verdict as Flow['verdict'], IP: { source: r.src.ip, destination: r.dst.ip, ipVersion: 'IPv4' },
    l4: { TCP: { source_port: r.src.port ?? 0, destination_port: r.dst.port ?? 0, flags: { SYN: true } } },
    source: end(r.src, (r.src.pod ?? '').replace(/-\d+$/, '')), destination: end(r.dst, (r.dst.pod ?? '').replace(/-\d+$/, '')),
    Type: 'L3_L4', node_name: r.node, traffic_direction: r.direction as Flow['traffic_direction'],
    ...(r.dropReason ? { drop_reason_desc: r.dropReason } : {}),
    ...(r.service ? { destination_service: { namespace: r.service.split('/')[0] as string, name: r.service.split('/')[1] as string } } : {}),
  };
  return { ...r, flow: extra.flow ?? flow };
}

/** Rows as the real host posts them (src/panels/flows/rows.ts `wire`): wire lines from the first id. */
export function wireRows(rows: readonly FlowRow[]): WireRows {
  rows.forEach((r, i) => { if (r.id !== (rows[0] as FlowRow).id + i) throw new Error('wire rows need consecutive ids'); });
  return wire(rows);
}

export function batchOf(seq: number, rows: readonly FlowRow[]): Batch {
  return { seq, ...wireRows(rows) };
}

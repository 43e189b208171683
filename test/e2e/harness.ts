// End-to-end harness: the built extension, unpacked into a temp extensions dir, in real VS Code
// (code-server 4.100.3 from test/e2e/.code-server) driven through Debian's Chromium with
// playwright-core. Everything it starts or creates is torn down by close(), also after failures.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type Browser, type FrameLocator, type Locator, type Page, chromium } from 'playwright-core';

export const ROOT = resolve(__dirname, '..', '..');
export const CODE_SERVER_ENTRY = join(ROOT, 'test/e2e/.code-server/node_modules/code-server/out/node/entry.js');
export const RESULTS = join(ROOT, 'test-results', 'e2e');
export const EXTENSION_ID = 'flowlens.flowlens-0.1.0';
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Why e2e tests cannot run here, or undefined when they can. */
export function missingPrerequisite(): string | undefined {
  if (!existsSync(CHROMIUM)) return `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)`;
  if (!existsSync(CODE_SERVER_ENTRY)) return 'needs code-server: run scripts/install-code-server.sh (or scripts/test-e2e.sh)';
  return undefined;
}

const EXTENSION_OUTPUTS = ['dist/extension.js', 'dist/webview/flows.js', 'dist/webview/flows.css'];

/**
 * `node scripts/build.mjs` once per process. The extension and webview bundles must be fresh after
 * it; a failure in another entry point (the CLI) is reported but does not stop these tests.
 * FLOWLENS_E2E_NO_BUILD=1 uses dist/ as it is (for trying a locally built variant).
 */
let built = false;
export function buildExtension(): void {
  if (built || process.env.FLOWLENS_E2E_NO_BUILD) return;
  const start = Date.now() - 1000;
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  const stale = EXTENSION_OUTPUTS.filter((f) => !existsSync(join(ROOT, f)) || statSync(join(ROOT, f)).mtimeMs < start);
  if (stale.length) throw new Error(`node scripts/build.mjs did not produce ${stale.join(', ')}:\n${r.stdout}\n${r.stderr}`);
  if (r.status !== 0) console.warn(`e2e: scripts/build.mjs failed outside the extension; going on:\n${r.stderr.slice(0, 2000)}`);
  built = true;
}

/** Lays the extension out unpacked as publisher.name-version, the way VS Code installs a .vsix. */
export function layOutExtension(extensionsDir: string): string {
  const dir = join(extensionsDir, EXTENSION_ID);
  const files = ['package.json', 'dist/extension.js', 'dist/webview', 'media', 'deploy'];
  for (const f of files) {
    const dest = join(dir, f);
    mkdirSync(dirname(dest), { recursive: true });
    cpSync(join(ROOT, f), dest, { recursive: true });
  }
  return dir;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

async function waitForHttp(url: string, proc: ChildProcess, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`code-server exited with ${proc.exitCode}:\n${log()}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer ${url} within ${timeoutMs} ms:\n${log()}`);
}

/**
 * A TCP pass-through to 127.0.0.1:`target` that holds new connections until release(): lets a
 * test see the extension while it is still connecting, then let it connect. Held sockets are
 * paused, not refused, so the client waits as it would for a slow API server. It runs in a child
 * process: the tests' spawnSync calls block their own event loop, which would stall the traffic.
 */
const GATE_SCRIPT = `
const net = require('node:net');
const target = Number(process.argv[1]);
let released = false;
const held = [];
const pipe = (s) => {
  const up = net.connect(target, '127.0.0.1');
  up.on('error', () => s.destroy());
  s.on('error', () => up.destroy());
  up.on('close', () => s.destroy());
  s.on('close', () => up.destroy());
  s.pipe(up);
  up.pipe(s);
  s.resume();
};
const server = net.createServer((s) => {
  if (released) return pipe(s);
  s.pause();
  held.push(s);
  process.stdout.write('held ' + held.length + '\\n');
});
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
process.stdin.on('data', () => { released = true; for (const s of held.splice(0)) pipe(s); process.stdout.write('released\\n'); });
process.stdin.on('end', () => process.exit(0));
`;

export class ConnectionGate {
  private heldCount = 0;
  private lines: ((line: string) => void)[] = [];
  private buf = '';
  port = 0;
  private constructor(private readonly proc: ChildProcess) {
    proc.stdout?.on('data', (d: Buffer) => {
      this.buf += d.toString();
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const held = /^held (\d+)$/.exec(line);
        if (held) this.heldCount = Number(held[1]);
        for (const f of this.lines) f(line);
      }
    });
  }

  static async open(target: number): Promise<ConnectionGate> {
    const proc = spawn(process.execPath, ['-e', GATE_SCRIPT, String(target)], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
    const gate = new ConnectionGate(proc);
    gate.port = await new Promise<number>((res, rej) => {
      proc.once('exit', (code) => rej(new Error(`connection gate exited with ${code}`)));
      gate.lines.push((l) => {
        const m = /^port (\d+)$/.exec(l);
        if (m) res(Number(m[1]));
      });
    });
    return gate;
  }

  /** Connections accepted and waiting for release(). */
  get waiting(): number {
    return this.heldCount;
  }

  /** Lets the held connections and all later ones through. */
  async release(): Promise<void> {
    const done = new Promise<void>((res) => this.lines.push((l) => l === 'released' && res()));
    this.proc.stdin?.write('release\n');
    await done;
    this.heldCount = 0;
  }

  close(): void {
    this.proc.stdin?.end();
    stopProcess(this.proc);
  }
}

export interface WorkbenchOptions {
  /** Test name: screenshots and logs go to test-results/e2e/<name>/. */
  name: string;
  /** Value of flowlens.kubeconfig. */
  kubeconfig: string;
  settings?: Record<string, unknown>;
}

export class Workbench {
  private shot = 0;

  private constructor(
    readonly page: Page,
    private readonly browser: Browser,
    private readonly server: ChildProcess,
    private readonly tmp: string,
    readonly outDir: string,
  ) {}

  /** Builds, lays out, starts code-server and Chromium, and waits for the workbench. */
  static async start(opts: WorkbenchOptions): Promise<Workbench> {
    buildExtension();
    const tmp = mkdtempSync(join(tmpdir(), 'flowlens-e2e-'));
    const outDir = join(RESULTS, opts.name);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    const server = await startCodeServer(tmp, outDir, opts);
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      const wb = new Workbench(page, browser, server.proc, tmp, outDir);
      await page.goto(`http://127.0.0.1:${server.port}/?folder=${encodeURIComponent(join(tmp, 'workspace'))}`);
      await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      await page.locator('.activitybar').waitFor({ timeout: 60_000 });
      return wb;
    } catch (e) {
      await browser?.close().catch(() => undefined);
      stopProcess(server.proc);
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Opens the Flowlens view container from the activity bar (found by its aria-label). */
  async openFlowlens(): Promise<void> {
    if (await this.servicesView().isVisible()) return; // clicking the active item would hide it
    const item = this.page.locator('.activitybar [aria-label^="Flowlens"]').first();
    await item.waitFor({ timeout: 60_000 });
    await item.click();
    await this.servicesView().waitFor({ timeout: 30_000 });
  }

  /** The Services view's pane body. */
  servicesView(): Locator {
    return this.page.locator('.pane', { has: this.page.locator('.pane-header', { hasText: /Services/i }) }).locator('.pane-body');
  }

  /**
   * Clicks a Services view title action. Alone in its container the view's own header is hidden
   * and its actions sit in the side bar's title; the actions show on hover.
   */
  async viewAction(label: string): Promise<void> {
    const sidebar = this.page.locator('.part.sidebar');
    await sidebar.hover();
    await sidebar.locator(`.action-label[aria-label^="${label}"]`).locator('visible=true').first().click();
  }

  /** A tree row of the Services view whose label is exactly `label`. */
  treeRow(label: string): Locator {
    return this.servicesView().locator('.monaco-list-row', { has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(label)}$`) }) });
  }

  /** Expands a collapsed tree row (clicking its twistie). */
  async expand(row: Locator): Promise<void> {
    if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
  }

  /** Right-clicks a row and picks a context menu item (retrying: menus ignore clicks right after opening). */
  async contextMenu(row: Locator, item: string): Promise<void> {
    const menu = this.page.locator('.monaco-menu');
    for (let attempt = 0; ; attempt++) {
      if ((await menu.count()) === 0) await row.click({ button: 'right' });
      const entry = menu.locator('.action-item', { hasText: item }).first();
      await entry.waitFor({ timeout: 10_000 });
      await this.page.waitForTimeout(300);
      await entry.click();
      try {
        await menu.first().waitFor({ state: 'detached', timeout: 2000 });
        return;
      } catch (e) {
        if (attempt >= 2) throw e;
      }
    }
  }

  async runCommand(title: string): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`>${title}`);
    await this.page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
    await input.press('Enter');
  }

  /** The (first visible) webview's content frame: iframe.webview → #active-frame. */
  webview(): FrameLocator {
    return this.page.frameLocator('iframe.webview.ready').first().frameLocator('#active-frame');
  }

  /** A notification toast containing `text`. */
  notification(text: string | RegExp): Locator {
    return this.page.locator('.notification-toast', { hasText: text });
  }

  async screenshot(step: string): Promise<string> {
    const file = join(this.outDir, `${String(++this.shot).padStart(2, '0')}-${step}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /**
   * Sets a string setting the way a user does, in the Settings editor (code-server does not pick
   * up edits to the settings file on disk), then closes the editor. `machine` settings live in
   * the Remote tab under code-server.
   */
  async setStringSetting(key: string, value: string, tab: 'User' | 'Remote' = 'User'): Promise<void> {
    await this.runCommand('Preferences: Open User Settings');
    const editor = this.page.locator('.settings-editor');
    await editor.waitFor();
    await editor.locator('.settings-header .suggest-input-container textarea, .settings-header input').first().fill(`@id:${key}`);
    if (tab !== 'User') await editor.locator('.settings-tabs-widget .action-label', { hasText: new RegExp(`^${tab}`) }).first().click();
    const input = editor.locator(`.setting-item-contents[data-key="${key}"] input, .setting-item[data-id="${key}"] input`).first();
    await input.waitFor({ timeout: 15_000 });
    await input.fill(value);
    await input.press('Enter');
    await this.page.waitForTimeout(500);
    await this.page.keyboard.press('Control+W');
  }

  /** A scratch directory removed by close(). */
  get scratch(): string {
    return this.tmp;
  }

  /** Runs a test body; on failure saves a screenshot named after the step, then rethrows. */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      await this.screenshot(`FAILED-${name}`).catch(() => undefined);
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    stopProcess(this.server);
    const logs = join(this.tmp, 'user-data', 'logs');
    if (existsSync(logs)) cpSync(logs, join(this.outDir, 'vscode-logs'), { recursive: true });
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

async function startCodeServer(tmp: string, outDir: string, opts: WorkbenchOptions): Promise<{ proc: ChildProcess; port: number }> {
  const extensions = join(tmp, 'extensions');
  const userData = join(tmp, 'user-data');
  const workspace = join(tmp, 'workspace');
  for (const d of [extensions, join(userData, 'User'), workspace]) mkdirSync(d, { recursive: true });
  layOutExtension(extensions);
  const settings = {
    'security.workspace.trust.enabled': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'telemetry.telemetryLevel': 'off',
    'flowlens.kubeconfig': opts.kubeconfig,
    ...opts.settings,
  };
  writeFileSync(join(userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  const port = await freePort();
  const args = [CODE_SERVER_ENTRY, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--extensions-dir', extensions,
    '--user-data-dir', userData, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', workspace];
  const proc = spawn(process.execPath, args, { cwd: tmp, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: opts.kubeconfig } });
  let log = '';
  const logFile = join(outDir, 'code-server.log');
  const append = (b: Buffer) => {
    log += b.toString();
    writeFileSync(logFile, log);
  };
  proc.stdout?.on('data', append);
  proc.stderr?.on('data', append);
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, proc, 60_000, () => log);
  } catch (e) {
    stopProcess(proc);
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { proc, port };
}

/** Ends code-server and its children (its own process group, which this harness started). */
function stopProcess(proc: ChildProcess): void {
  if (proc.pid === undefined || proc.exitCode !== null) return;
  try {
    process.kill(-proc.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  const pid = proc.pid;
  setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, 3000).unref();
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

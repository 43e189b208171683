// Runs bpf/.output/flowlens-loader as a child process and turns its stdout into decoded records.
// One LoaderProcess = one run of the binary: it never restarts it (the agent supervises).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join, resolve } from 'node:path';
import { repoRoot } from '../util/repo';
import { RecordDecodeError, RecordDecoder } from './records';
import type { CmdResultRecord, DecodedRecord, HelloRecord } from './records';

const STDERR_TAIL_BYTES = 16 * 1024;
const KILL_AFTER_MS = 2000;

export interface LoaderEvents {
  /** Records decoded from one chunk of stdout, in stream order (never empty). */
  records: [records: DecodedRecord[]];
  /** The process ended and its output was fully read. `stderr` is the tail of its stderr, plus
   *  a line from the agent when the stream was invalid or the binary could not be started. */
  exit: [code: number | null, signal: NodeJS.Signals | null, stderr: string];
}

export interface LoaderOptions {
  /** Ring buffer size in bytes (power of two, multiple of the page size). */
  ringbufBytes?: number;
  /** Only sockets of this network namespace (inode); default all. */
  netns?: number;
  /** Extra command-line arguments for the binary. */
  args?: string[];
}

/** Folder holding package.json, walking up from `start`. */
export const findRepoRoot = repoRoot;

/** $FLOWLENS_LOADER, else <repo root>/bpf/.output/flowlens-loader. */
export function defaultLoaderPath(): string {
  const env = process.env.FLOWLENS_LOADER;
  if (env) return resolve(env);
  return join(findRepoRoot(), 'bpf', '.output', 'flowlens-loader');
}

export function loaderArgs(opts: LoaderOptions): string[] {
  const args: string[] = [];
  if (opts.ringbufBytes !== undefined) args.push('--ringbuf-bytes', String(opts.ringbufBytes));
  if (opts.netns !== undefined) args.push('--netns', String(opts.netns));
  return args.concat(opts.args ?? []);
}

export class LoaderProcess extends EventEmitter<LoaderEvents> {
  readonly binary: string;
  private readonly args: string[];
  private child: ChildProcess | undefined;
  private readonly decoder = new RecordDecoder();
  private stderrTail = '';
  private closed: Promise<void> | undefined;
  private hello: HelloRecord | undefined;
  private sent = 0;
  private readonly waiting = new Map<number, (r: CmdResultRecord) => void>();

  constructor(binary?: string, opts: LoaderOptions = {}) {
    super();
    this.binary = binary ?? defaultLoaderPath();
    this.args = loaderArgs(opts);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.child) throw new Error('LoaderProcess.start() called twice: make a new LoaderProcess');
    const child = spawn(this.binary, this.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdin?.on('error', () => undefined); // EPIPE when the loader is gone: its exit says why
    child.stdout?.on('data', (chunk: Buffer) => this.onStdout(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => this.appendStderr(text));
    child.on('error', (err) => this.appendStderr(`flowlens agent: cannot run ${this.binary}: ${err.message}\n`));
    this.closed = new Promise((done) => {
      child.on('close', (code, signal) => {
        for (const [seq, done] of this.waiting) done({ type: 'cmd_result', cmd: 'invalid', arg: 0, seq, err: -32 /* EPIPE */ });
        this.waiting.clear();
        this.emit('exit', code, signal, this.stderrTail);
        done();
      });
    });
  }

  /** Resolves with the HELLO record (programs attached); rejects if the loader exits first. */
  ready(timeoutMs = 15000): Promise<HelloRecord> {
    if (this.hello) return Promise.resolve(this.hello);
    return new Promise((resolvePromise, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('records', onRecords);
        this.off('exit', onExit);
      };
      const onRecords = (): void => {
        if (!this.hello) return;
        cleanup();
        resolvePromise(this.hello);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null, stderr: string): void => {
        cleanup();
        reject(new Error(`loader exited before HELLO (code ${code}, signal ${signal}): ${stderr.trim()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no HELLO from loader in ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('records', onRecords);
      this.on('exit', onExit);
    });
  }

  /**
   * Sends one command line (bpf/commands.c: "attach IFINDEX", "detach IFINDEX", "flush",
   * "run HOOK IFINDEX HEX") and resolves with its CMD_RESULT (err -32 if the loader went away).
   */
  command(line: string): Promise<CmdResultRecord> {
    if (!this.child?.stdin || !this.running) return Promise.resolve({ type: 'cmd_result', cmd: 'invalid', arg: 0, seq: 0, err: -32 });
    if (/[\r\n]/.test(line)) throw new Error('a loader command is one line');
    const seq = ++this.sent;
    const result = new Promise<CmdResultRecord>((resolvePromise) => this.waiting.set(seq, resolvePromise));
    this.child.stdin.write(`${line}\n`);
    return result;
  }

  /** SIGTERM, then SIGKILL after 2 s; resolves when the process is gone and its output read. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.closed) return;
    if (this.running) child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.running) child.kill('SIGKILL');
    }, KILL_AFTER_MS);
    await this.closed;
    clearTimeout(timer);
  }

  private onStdout(chunk: Buffer): void {
    if (this.decoder.error) return; // already failed: the loader is being stopped
    let records: DecodedRecord[];
    try {
      records = this.decoder.push(chunk);
    } catch (err) {
      if (!(err instanceof RecordDecodeError)) throw err;
      this.appendStderr(`flowlens agent: invalid record stream, stopping loader: ${err.message}\n`);
      this.deliver(err.records);
      void this.stop();
      return;
    }
    this.deliver(records);
  }

  private deliver(records: DecodedRecord[]): void {
    if (records.length === 0) return;
    for (const r of records) {
      if (r.type === 'hello' && !this.hello) this.hello = r;
      if (r.type === 'cmd_result') {
        this.waiting.get(r.seq)?.(r);
        this.waiting.delete(r.seq);
      }
    }
    this.emit('records', records);
  }

  private appendStderr(text: string): void {
    this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
  }
}

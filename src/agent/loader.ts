// Runs bpf/.output/flowlens-loader as a child process and turns its stdout into decoded records.
// One LoaderProcess = one run of the binary: it never restarts it (the agent supervises).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join, resolve } from 'node:path';
import { repoRoot } from '../util/repo';
import { RecordDecodeError, RecordDecoder } from './records';
import type { CmdResultRecord, DecodedRecord, HelloRecord, RecordFrames } from './records';

const STDERR_TAIL_BYTES = 16 * 1024;
const KILL_AFTER_MS = 2000;

export interface LoaderEvents {
  /** Records decoded from one chunk of stdout, in stream order (never empty). */
  records: [records: DecodedRecord[]];
  /** With `lazy`: the whole records of one chunk of stdout, not decoded yet; pass each to decode(), in order. */
  frames: [frames: RecordFrames];
  /** The HELLO record was decoded. */
  hello: [hello: HelloRecord];
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
  /**
   * Emit 'frames' instead of 'records': the consumer decodes each with decode() when it gets to
   * it, so records queued behind a slow one wait as bytes, not as objects for the GC to copy.
   * HELLO (ready()) and command results are then seen when the consumer decodes them.
   */
  lazy?: boolean;
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
  private readonly lazy: boolean;
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
    this.lazy = opts.lazy ?? false;
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
        this.off('hello', onHello);
        this.off('exit', onExit);
      };
      const onHello = (hello: HelloRecord): void => {
        cleanup();
        resolvePromise(hello);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null, stderr: string): void => {
        cleanup();
        reject(new Error(`loader exited before HELLO (code ${code}, signal ${signal}): ${stderr.trim()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no HELLO from loader in ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('hello', onHello);
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
    if (this.decoder.error || this.decoder.badHeader) return; // already failed: the loader is being stopped
    const frames = this.decoder.frame(chunk);
    if (frames) {
      if (this.lazy) this.emit('frames', frames);
      else this.deliver(this.decode(frames));
    }
    const bad = this.decoder.badHeader; // the records before it were handed out
    if (bad) this.invalid(bad);
  }

  /**
   * Decodes frames (in stream order) and does the loader's own bookkeeping: HELLO, command
   * results. An invalid record stops the loader; the records before it are returned.
   */
  decode(frames: RecordFrames): DecodedRecord[] {
    return this.bookkeep(frames, (f) => this.decoder.decode(f));
  }

  /** For frames a consumer sheds: only their control records (HELLO, LOST, DROP_REASON, CMD_RESULT), bookkept. */
  discard(frames: RecordFrames): DecodedRecord[] {
    return this.bookkeep(frames, (f) => this.decoder.control(f));
  }

  private bookkeep(frames: RecordFrames, decode: (f: RecordFrames) => DecodedRecord[]): DecodedRecord[] {
    if (this.decoder.error) return [];
    let records: DecodedRecord[];
    try {
      records = decode(frames);
    } catch (err) {
      if (!(err instanceof RecordDecodeError)) throw err;
      this.invalid(err.message);
      records = err.records;
    }
    for (const r of records) {
      if (r.type === 'hello' && !this.hello) {
        this.hello = r;
        this.emit('hello', r);
      }
      if (r.type === 'cmd_result') {
        this.waiting.get(r.seq)?.(r);
        this.waiting.delete(r.seq);
      }
    }
    return records;
  }

  private invalid(message: string): void {
    this.appendStderr(`flowlens agent: invalid record stream, stopping loader: ${message}\n`);
    void this.stop();
  }

  private deliver(records: DecodedRecord[]): void {
    if (records.length > 0) this.emit('records', records);
  }

  private appendStderr(text: string): void {
    this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
  }
}

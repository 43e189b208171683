// Conntrack lookups one tuple at a time over ctnetlink, through bpf/.output/flowlens-ctquery (a
// line protocol, see bpf/ctquery.c). A lookup costs the same whatever the size of the node's
// table, where re-reading /proc/net/nf_conntrack (ConntrackTable) costs ~5 µs per entry, and a
// connection's answer comes in well under a millisecond instead of after the next spaced read.
// The queries of one synchronous pass go out in one write. When the helper cannot run or the
// kernel refuses (no ctnetlink, no CAP_NET_ADMIN), lookups fall back to the table, for good; when
// it dies, stalls or answers garbage, they fall back until it is restarted (1 s, doubling to 60 s).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { repoRoot } from '../util/repo';
import { ConntrackTable } from './conntrack';
import type { Translation } from './conntrack';
import type { Maybe, TranslationLookup } from './tcpflows';

/** $FLOWLENS_CTQUERY, else <repo root>/bpf/.output/flowlens-ctquery. */
export function defaultCtqueryPath(): string {
  const env = process.env.FLOWLENS_CTQUERY;
  return env ? resolve(env) : join(repoRoot(), 'bpf', '.output', 'flowlens-ctquery');
}

/** An entry's answer, `null` when there is none, or the errno the helper reported. */
export type CtAnswer = Translation | null | { errno: number };

const PROTO_NUMBERS = { tcp: 6, udp: 17, sctp: 132 } as const;
const ANSWER = /^(\d+) (?:= (\S+) (\d{1,5})(?: (\S+) (\d{1,5}))?|(-)|! (\d{1,4}))$/;
const EPIPE = 32;

export class ConntrackNetlink {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, (a: CtAnswer) => void>();
  private nextId = 1;
  private queued: string[] = [];
  private partial = '';
  /** Why lookups do not go through the helper now; undefined while they do. */
  failed: string | undefined;
  /** Lookups answered (for the agent's status). */
  answered = 0;
  /** Times the helper was started again after it failed (for the agent's status). */
  restarts = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Stopped, or a failure a restart cannot mend (the binary cannot run, the kernel refuses). */
  private forGood = false;
  private backoffMs: number;
  private startedAt = 0;

  constructor(
    private readonly binary = defaultCtqueryPath(),
    private readonly log: (m: string) => void = () => undefined,
    private readonly args: string[] = [],
    private readonly stallMs = 2000,
    private readonly restartMs = 1000,
    private readonly maxRestartMs = 60_000,
  ) {
    this.backoffMs = restartMs;
  }

  start(): void {
    const child = spawn(this.binary, this.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.failed = undefined;
    this.partial = '';
    this.startedAt = Date.now();
    // Events of a helper that has been replaced (a restart) are not about the current one.
    const current = () => this.child === child;
    let stderr = '';
    child.stdin?.on('error', () => undefined); // EPIPE when it is gone: 'close' says why
    child.stdout?.setEncoding('latin1');
    child.stdout?.on('data', (text: string) => { if (current()) this.onData(text); });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (t: string) => { stderr = (stderr + t).slice(-2000); });
    child.on('error', (e) => { if (current()) this.disable(`cannot run ${this.binary}: ${e.message}`, true); });
    child.on('close', (code, signal) => { if (current()) this.disable(`${this.binary} exited (code ${code}, signal ${signal}) ${stderr.trim()}`); });
    // A helper that stops answering must not hold the agent's records: a lookup still waiting a
    // whole interval after it was asked turns it off (the waiting ones fall back to the table).
    let askedBefore = this.nextId; // lookups with a smaller id were asked before the last tick
    this.watchdog = setInterval(() => {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined && oldest < askedBefore) this.disable(`no answer in ${this.stallMs} ms`);
      askedBefore = this.nextId;
    }, this.stallMs);
    this.watchdog.unref();
  }

  stop(): void {
    const child = this.child;
    this.child = undefined;
    this.disable('stopped', true);
    child?.kill('SIGTERM');
  }

  get usable(): boolean {
    return this.failed === undefined && this.child !== undefined;
  }

  /**
   * o: by the original tuple (src -> dst as the client sent it): where it really went. r: by the
   * reply tuple (src = the server's end, dst = its peer): what the client dialled.
   */
  query(dir: 'o' | 'r', proto: keyof typeof PROTO_NUMBERS, src: string, sport: number, dst: string, dport: number): Promise<CtAnswer> {
    if (!this.usable) return Promise.resolve({ errno: EPIPE });
    const id = this.nextId++;
    if (this.queued.length === 0) queueMicrotask(() => this.flush());
    this.queued.push(`${id} ${dir} ${PROTO_NUMBERS[proto]} ${src} ${sport} ${dst} ${dport}\n`);
    return new Promise((done) => this.pending.set(id, done));
  }

  private flush(): void {
    const lines = this.queued.join('');
    this.queued = [];
    if (this.child?.stdin?.writable) this.child.stdin.write(lines);
  }

  private onData(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > 4096) return this.disable('an answer line longer than 4 KiB');
    for (const line of lines) {
      const m = ANSWER.exec(line);
      const id = m ? Number(m[1]) : NaN;
      const done = this.pending.get(id);
      const valid = m && done && (m[2] === undefined || (isIP(m[2]) !== 0 && Number(m[3]) <= 65535 && (m[4] === undefined || (isIP(m[4]) !== 0 && Number(m[5]) <= 65535))));
      if (!valid) return this.disable(`unexpected answer ${JSON.stringify(line.slice(0, 200))}`); // answers every waiting lookup
      this.pending.delete(id);
      this.answered++;
      done(m[6] ? null : m[7] ? { errno: Number(m[7]) } : { ip: m[2]!, port: Number(m[3]), ...(m[4] ? { peer: { ip: m[4], port: Number(m[5]) } } : {}) });
    }
  }

  /**
   * Stops using the helper: every waiting lookup is answered EPIPE (its caller falls back to the
   * table). `forGood`: no restart (stopped, cannot run, the kernel refuses); else the helper is
   * killed and started again after a backoff (1 s, doubling up to 60 s; back to 1 s after a minute up).
   */
  disable(why: string, forGood = false): void {
    const first = this.failed === undefined;
    this.failed ??= why;
    if (forGood) {
      this.forGood = true;
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    clearInterval(this.watchdog);
    for (const done of this.pending.values()) done({ errno: EPIPE });
    this.pending.clear();
    this.queued = [];
    if (this.child && why !== 'stopped') this.child.kill('SIGKILL');
    if (!this.forGood && this.restartTimer === undefined) {
      if (Date.now() - this.startedAt >= this.maxRestartMs) this.backoffMs = this.restartMs;
      const delay = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.maxRestartMs);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.forGood) return;
        this.restarts++;
        this.start();
      }, delay);
      this.restartTimer.unref();
      if (first) this.log(`conntrack lookups over netlink off: ${why}; reading /proc/net/nf_conntrack until the helper restarts in ${delay} ms`);
    } else if (first && why !== 'stopped') {
      this.log(`conntrack lookups over netlink off: ${why}; reading /proc/net/nf_conntrack instead`);
    }
  }
}

/**
 * The agent's service translation lookups: over netlink while the helper answers, else from the
 * table. An error answer (the kernel refused) turns netlink off: from then on, the table.
 */
export class ConntrackLookups implements TranslationLookup {
  constructor(readonly netlink: ConntrackNetlink | undefined, readonly table = new ConntrackTable(), private readonly untranslatedIp?: (ip: string) => boolean) {}

  get source(): 'netlink' | 'proc' {
    return this.netlink?.usable ? 'netlink' : 'proc';
  }

  translated(src: string, sport: number, dst: string, dport: number, since: bigint): Maybe<Translation | undefined> {
    return this.ask('o', src, sport, dst, dport, dst, dport, { ip: src, port: sport }, () => this.table.lookup('tcp', src, sport, dst, dport, since));
  }

  original(peer: string, peerPort: number, local: string, localPort: number, since: bigint): Maybe<Translation | undefined> {
    return this.ask('r', local, localPort, peer, peerPort, local, localPort, { ip: peer, port: peerPort }, () => this.table.originalDestination('tcp', peer, peerPort, local, localPort, since));
  }

  /**
   * The helper's answer, undefined when it names (ip, port) itself (no translation); the table when
   * netlink is off or refuses. `client`: the client's end as asked; the answer's `peer` is kept only
   * when conntrack names that end otherwise (a rewritten source port or address).
   */
  private ask(dir: 'o' | 'r', src: string, sport: number, dst: string, dport: number, ip: string, port: number,
    client: { ip: string; port: number }, fromTable: () => Maybe<Translation | undefined>): Maybe<Translation | undefined> {
    const nl = this.netlink;
    if (!nl?.usable) return fromTable();
    return nl.query(dir, 'tcp', src, sport, dst, dport).then((a) => {
      if (a === null) return undefined;
      if ('errno' in a) {
        if (a.errno !== EPIPE) nl.disable(`the kernel answered errno ${a.errno}`, true);
        return fromTable();
      }
      const rewritten = a.peer !== undefined && (a.peer.ip !== client.ip || a.peer.port !== client.port);
      if (a.ip === ip && a.port === port && !rewritten) return undefined;
      return rewritten ? a : { ip: a.ip, port: a.port };
    });
  }

  untranslated(ip: string): boolean {
    return this.untranslatedIp?.(ip) ?? false;
  }
}

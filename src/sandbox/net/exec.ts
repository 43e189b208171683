// Runs host tools (ip, iptables-restore, ...) without a shell: arguments are never interpolated.
import { spawn } from 'node:child_process';

export interface RunResult { code: number; stdout: string; stderr: string }

export class CommandError extends Error {
  constructor(readonly command: string, readonly result: RunResult) {
    super(`${command} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

/** Runs `cmd args`, feeding `input` on stdin; never throws for a non-zero exit. */
export function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** Like run() but throws CommandError on a non-zero exit. */
export async function runOk(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) throw new CommandError(`${cmd} ${args.join(' ')}`, r);
  return r.stdout;
}

/** `cmd args` inside network namespace `netns` (by /run/netns name), or here when undefined. */
export function inNetns(netns: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
}

export function runIn(netns: string | undefined, cmd: string, args: string[], input?: string): Promise<RunResult> {
  const [c, a] = inNetns(netns, cmd, args);
  return run(c, a, input);
}

export function runOkIn(netns: string | undefined, cmd: string, args: string[], input?: string): Promise<string> {
  const [c, a] = inNetns(netns, cmd, args);
  return runOk(c, a, input);
}

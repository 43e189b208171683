// Argument parsing on node:util parseArgs, with usage errors as values (exit code 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { type Errorable, errorMessage, fail, ok } from '../cluster/errorable';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<O extends Options>(argv: string[], options: O, allowPositionals = false): Errorable<{ values: Record<string, string | boolean | string[] | undefined>; positionals: string[] }> {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return ok({ values: r.values as Record<string, string | boolean | string[] | undefined>, positionals: r.positionals });
  } catch (e) {
    return fail(errorMessage(e).replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

export function intOption(value: unknown, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${String(value)}"`);
  return n;
}

export function usageFailure(cmd: string, message: string): number {
  process.stderr.write(`flowlens ${cmd}: ${message}\n`);
  return 2;
}

// Times for flow queries. Flows carry RFC 3339 UTC times with nine fraction digits
// ("2026-01-01T00:00:00.123456789Z"); queries are normalised to the same form so the agent compares
// strings, without parsing per flow. `--since/--until` accept what `hubble observe` accepts:
// RFC 3339 (with or without fraction, any offset), a date, or a relative duration ("5m", "1h30m").
import { type Errorable, fail, ok } from '../cluster/errorable';
import { q } from './filter';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;
const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `fracNs`: the exact fraction digits when known (then `ms` has whole seconds), else taken from `ms`. */
function fromMillis(ms: number, fracNs: string): string {
  const iso = new Date(ms).toISOString();
  return fracNs ? iso.replace(/\.\d{3}Z$/, `.${fracNs.padEnd(9, '0')}Z`) : iso.replace(/Z$/, '000000Z');
}

/** RFC 3339 text to the canonical flow time form; undefined when it is not RFC 3339. */
export function canonicalTime(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', tz] = m as unknown as string[];
  const base = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const dt = new Date(base);
  if (Number.isNaN(base) || dt.getUTCDate() !== Number(d) || dt.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return undefined;
  let offset = 0;
  if (tz && tz !== 'Z' && tz !== 'z') offset = (tz.startsWith('-') ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000;
  const ms = base - offset;
  if (!Number.isFinite(ms) || ms < 0 || ms > 253_402_300_799_000) return undefined;
  return fromMillis(ms, frac);
}

/** A Go-style duration ("1h30m", "500ms", "2s") in milliseconds. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (UNITS[m[2] as string] as number);
  return Number.isFinite(total) ? total : undefined;
}

/** `--since`/`--until` text: relative ("5m" = 5 minutes ago), RFC 3339, or a date (midnight UTC). */
export function parseTimeArg(text: string, now: number = Date.now()): Errorable<string> {
  const t = text.trim();
  const rel = parseDuration(t.replace(/\s*ago$/, ''));
  if (rel !== undefined) return ok(fromMillis(Math.max(0, Math.floor(now - rel)), ''));
  const abs = canonicalTime(t) ?? (/^\d{4}-\d{2}-\d{2}$/.test(t) ? canonicalTime(`${t}T00:00:00Z`) : undefined);
  if (abs) return ok(abs);
  return fail(`invalid time ${q(text.slice(0, 80))}: expected RFC 3339 (2006-01-02T15:04:05Z07:00), a date, or a duration such as 5m or 1h30m`);
}

/** Expected failures as values, not exceptions. */
export type Errorable<T> = { ok: true; value: T } | { ok: false; error: string };

export function ok<T>(value: T): Errorable<T> {
  return { ok: true, value };
}

export function fail<T>(error: string): Errorable<T> {
  return { ok: false, error };
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

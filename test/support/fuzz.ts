// What the fuzz tests share: a call that may fail only in the ways allowed.

import { SpareCyclesError } from '../../protocol/errors.ts';

export type ErrorClass = new (...args: never[]) => SpareCyclesError;

/**
 * Runs `f`; returns its value, or the error if it is one of `allowed`, and
 * fails the test on anything else. `exact` asks for the class itself, not a
 * subclass of it.
 */
export function typed<T>(
  f: () => T,
  allowed: readonly ErrorClass[],
  { exact = true }: { exact?: boolean } = {},
): { ok: true; value: T } | { ok: false; error: SpareCyclesError } {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    const fits = (c: ErrorClass) => (exact ? (error as object).constructor === c : error instanceof c);
    if (!(error instanceof SpareCyclesError) || !allowed.some(fits)) {
      throw new SpareCyclesError('INTERNAL', `expected one of ${allowed.map((c) => c.name).join(', ')}, got ${String(error)}`, { cause: error });
    }
    return { ok: false, error };
  }
}

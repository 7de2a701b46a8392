// The volunteer's CPU slider becomes a number of unit threads and a duty
// cycle for each: 0.5 of a 2-core machine is one thread running flat out,
// 0.25 is one thread that rests as long as it works. Shared by the extension
// and `cycles worker`, so a slider means the same thing everywhere.

import { UsageError } from '../protocol/errors.ts';

export interface CpuBudget {
  threads: number;
  /** Fraction of wall time each thread may compute, in (0, 1]. */
  dutyCycle: number;
}

export function cpuBudget(fraction: number, cores: number): CpuBudget {
  if (!(fraction > 0 && fraction <= 1)) throw new UsageError(`expected a CPU fraction in (0, 1], got ${fraction}`);
  if (!(Number.isInteger(cores) && cores >= 1)) throw new UsageError(`expected a core count ≥ 1, got ${cores}`);
  const share = fraction * cores;
  const threads = Math.max(1, Math.ceil(share - 1e-9));
  return { threads, dutyCycle: Math.min(1, share / threads) };
}

/** How long a thread rests after computing for `busyMs`, so that its busy share is `dutyCycle`. */
export function restAfter(busyMs: number, dutyCycle: number): number {
  return dutyCycle >= 1 ? 0 : (busyMs * (1 - dutyCycle)) / dutyCycle;
}

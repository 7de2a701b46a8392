// The lone strategies: each is how that adversary would really play against
// the tasker, knowing its published policy. The coalition's is in coalition.ts.
//
//   honest    computes every unit and sends the true hash
//   wrong     computes, then sends a wrong hash of its own
//   lazy      computes nothing; sends garbage at once
//   ramp      honest until adaptive replication should trust its key, then
//             sends garbage without computing, hoping its units are solo
//   copying   sends a hash it saw another key publish for the same unit,
//             without computing; computes only what nobody leaked in time

import type { Job, SimWorker, Strategy } from './worker.ts';
import { garbageHash } from './rng.ts';

/** Keep each thread fed with one unit behind it, as worker/engine.ts claims. */
const engineClaim = (w: SimWorker): number => w.spec.threads * 2;

/** Runs held jobs, earliest deadline first, on the free threads; `answer` picks what each sends. */
function computeHeld(w: SimWorker, answer?: (job: Job) => Uint8Array | undefined, ready: (job: Job) => boolean = () => true): void {
  for (const job of w.held()) {
    if (w.freeThreads <= 0) return;
    if (ready(job)) w.compute(job, answer?.(job));
  }
}

export const honest: Strategy = {
  kind: 'honest',
  hoard: engineClaim,
  act: (w) => computeHeld(w),
};

export const wrong: Strategy = {
  kind: 'wrong',
  hoard: engineClaim,
  act: (w) => computeHeld(w, (job) => garbageHash(job.unit, w.random)),
};

export function lazy(fastMs = 1): Strategy {
  return {
    kind: 'lazy',
    hoard: engineClaim,
    act: (w) => {
      for (const job of w.held()) w.fake(job, garbageHash(job.unit, w.random), fastMs, fastMs);
    },
  };
}

/**
 * Adaptive replication trusts a key after `trustAfter` clean results in a row
 * (coordinator.ts ADAPTIVE and adaptiveStreak); the gamer counts its own
 * accepted receipts to know when, then sends garbage for everything, without
 * computing, until banned; its next key starts the ramp again.
 */
export function ramp(trustAfter = 10): Strategy {
  const streak = new Map<SimWorker, number>();
  return {
    kind: 'ramp',
    hoard: engineClaim,
    rekeyed: (w) => void streak.set(w, 0),
    receipt: (w, r, key) => {
      if (key !== w.key) return;
      streak.set(w, r.status === 'accepted' ? (streak.get(w) ?? 0) + 1 : 0);
    },
    act: (w) => {
      if ((streak.get(w) ?? 0) < trustAfter) return computeHeld(w);
      for (const job of w.held()) {
        const { delayMs, runMs } = w.plausible(job);
        w.fake(job, garbageHash(job.unit, w.random), delayMs, runMs);
      }
    },
  };
}

/**
 * What copiers can see: every result published (results travel as public
 * torrents), `delayMs` after it was sent. Holders of a unit are woken when a
 * hash for it shows up.
 */
export class LeakBoard {
  private readonly seen = new Map<number, { key: string; hash: Uint8Array }>();
  private readonly watchers = new Map<number, Set<SimWorker>>();

  constructor(private readonly after: (ms: number, fire: () => void) => void, private readonly delayMs: number) {}

  published(key: string, unit: number, hash: Uint8Array): void {
    this.after(this.delayMs, () => {
      if (!this.seen.has(unit)) this.seen.set(unit, { key, hash });
      for (const w of this.watchers.get(unit) ?? []) w.wake(w.now);
    });
  }

  /** A hash for `unit` that another machine's key published. */
  leaked(unit: number, w: SimWorker): Uint8Array | undefined {
    const s = this.seen.get(unit);
    return s && !w.keys.includes(s.key) ? s.hash : undefined;
  }

  watch(unit: number, w: SimWorker): void {
    let set = this.watchers.get(unit);
    if (!set) this.watchers.set(unit, (set = new Set()));
    set.add(w);
  }

  unwatch(unit: number, w: SimWorker): void {
    this.watchers.get(unit)?.delete(w);
  }
}

/**
 * Holds each lease up to `holdMs` hoping someone publishes that unit first,
 * then copies the leak at a plausible time; a lease nobody leaked for in time
 * is computed honestly, to keep the key's record clean.
 */
export function copying(board: LeakBoard, holdMs: number): Strategy {
  return {
    kind: 'copying',
    hoard: engineClaim,
    released: (w, job) => board.unwatch(job.unit, w),
    act: (w) => {
      for (const job of w.held()) {
        const leak = board.leaked(job.unit, w);
        if (leak) {
          const { delayMs, runMs } = w.plausible(job);
          w.fake(job, leak, delayMs, runMs);
        } else board.watch(job.unit, w);
      }
      computeHeld(w, undefined, (job) => w.now - job.issued >= holdMs);
      const next = Math.min(...w.held().map((job) => job.issued + holdMs));
      if (Number.isFinite(next) && w.freeThreads > 0) w.wake(Math.max(next, w.now + 1));
    },
  };
}

// The checks that stand against coordinated cheaters with throwaway keys
// (docs/threat-model.md, "Verification"), as tunable numbers and the pure
// rules built on them. The coordinator applies them; the simulation in
// testnet/sim measures what they buy and what they cost.

export interface Defence {
  /**
   * Verdicts are told in epochs: an epoch closes each time this many more
   * units have been verified, and a result's receipt goes out only after the
   * epoch it arrived in has closed and its unit is decided (or at the merge).
   * So a receipt says nothing about which units were checks, and pay waits
   * until a cheater caught shortly after has had its results taken back.
   */
  epochUnits: number;
  /** An epoch with at least one unit verified also closes after this long, so verdicts never wait on a stalled task. */
  epochMs: number;
  /**
   * Credited results a key needs before it counts as mature. No unit is
   * verified only by younger keys: it waits for a mature key's answer, or
   * the tasker vouches for it by recomputing it when no mature key is at
   * work. Throwaway keys can therefore never verify each other.
   */
  matureAfter: number;
  /** Credited results of a key that go unpaid: its admission price. */
  warmupUnits: number;
  /** The chance that a fresh key's next unit is a known-answer one: below one, so the first unit tells nothing. */
  freshCheck: number;
  /**
   * The chance for a young key's later units: how it earns the credits that
   * make it mature without the tasker recomputing its work.
   */
  youngCheck: number;
  /**
   * The chance that a known-answer unit handed to one worker is handed to the
   * next other claimant too, so that "a partner holds it as well" is no sign
   * that a unit is safe to cheat on.
   */
  coIssue: number;
  /** A result back this many times later than its worker's own pace is recomputed. */
  slowFactor: number;
  /** Sampling never rises above this share of verified units. */
  maxSample: number;
  /**
   * The least sampling of a unit that only keys with fewer than four times
   * `matureAfter` credits verified: a coalition's keys are that young when
   * they first lie together.
   */
  newcomerSample: number;
}

export const DEFENCE: Readonly<Defence> = {
  epochUnits: 16,
  epochMs: 10_000,
  matureAfter: 8,
  warmupUnits: 2,
  freshCheck: 0.5,
  youngCheck: 0.25,
  coIssue: 0.5,
  slowFactor: 4,
  maxSample: 0.5,
  newcomerSample: 0.2,
};

/**
 * The share of verified units the tasker recomputes at random. It starts at
 * the manifest's rate and rises with the evidence of trouble: the share of
 * recent verifications that met disagreement, and the share of recent
 * verifications that leant on keys that are not yet well known (fewer than
 * four times `matureAfter` credits). Colluders who dilute a task with young
 * keys or who keep forcing tiebreaks pay for it in checks.
 */
export function samplingRate(baseRate: number, recent: { disagreement: number; young: number }, max: number): number {
  const rate = baseRate * (1 + 4 * recent.young) + 2 * recent.disagreement;
  return Math.min(Math.max(baseRate, max), Math.max(baseRate, rate));
}

/** A decayed share of recent events, over roughly the last `window` of them. */
export class RecentShare {
  private value = 0;
  private readonly decay: number;

  constructor(window: number) {
    this.decay = 1 - 1 / window;
  }

  get share(): number {
    return this.value;
  }

  record(hit: boolean): void {
    this.value = this.value * this.decay + (hit ? 1 - this.decay : 0);
  }
}

/**
 * Each key's pace: how long its results take from lease to return, per
 * lease it was holding at the time. Only a key's own history counts, so a
 * slow machine is not suspect for being slow; a result that comes back far
 * later than its own pace (a worker waiting for a partner to hold the same
 * unit) is.
 */
export class PaceBook {
  private readonly pace = new Map<string, { msPerLease: number; samples: number }>();

  /** True when this result is slow enough, against the key's pace so far, to be recomputed. */
  isSlow(worker: string, wallMs: number, heldAtIssue: number, factor: number): boolean {
    const p = this.pace.get(worker);
    const perLease = wallMs / Math.max(1, heldAtIssue);
    if (!p || p.samples < 4) {
      this.learn(worker, perLease);
      return false;
    }
    // One second of slack keeps millisecond units from tripping over scheduling noise.
    const slow = wallMs > factor * p.msPerLease * Math.max(1, heldAtIssue) + 1000;
    if (!slow) this.learn(worker, perLease);
    return slow;
  }

  /** Drops a key's pace: it starts over as a key never seen. */
  forget(worker: string): void {
    this.pace.delete(worker);
  }

  get size(): number {
    return this.pace.size;
  }

  private learn(worker: string, perLease: number): void {
    const p = this.pace.get(worker);
    if (!p) this.pace.set(worker, { msPerLease: perLease, samples: 1 });
    else {
      p.samples++;
      p.msPerLease += (perLease - p.msPerLease) / Math.min(p.samples, 16);
    }
  }
}

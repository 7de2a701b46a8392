// What a tasker believes about each worker key: how honest its results have
// been and how reliably it finishes what it takes. Pure bookkeeping, no I/O:
// the coordinator feeds it events and reads the scores back.
//
// Two scores, kept apart on purpose. A volunteer whose laptop lid closes
// loses leases but has lied about nothing, so availability never moves
// honesty, and honesty never decides who is merely slow.
//
// Honesty
// -------
// Each key keeps two decayed counts, G (good) and B (bad, weighted):
//
//   on every honesty event: G ← G·d, B ← B·d, then add the event
//     good result          G += 1
//     disputed result      B += 3    (back faster than the unit can run)
//     mismatch             B += 25   (wrong, but not proven by the tasker itself)
//     proven               banned    (a wrong canary, or contradicted by the
//                                     tasker's own recomputation)
//   d = 2^(−1/50): an event's weight halves after 50 later events of that key.
//
//   honesty = (G + 1) / (G + B + 2)       and 0 once banned.
//
// Why these numbers:
// - The "+1 / +2" is a uniform prior (one pseudo-good, one pseudo-bad): a new
//   key scores 0.5, "no evidence either way". That is neutral but low: the
//   adaptive-replication bar in coordinator.ts is 0.9, which takes nine
//   clean results with no recent bad one.
// - A bad result weighs w = 25 good ones. In the long run a key that is wrong
//   on a fraction e of its units scores about (1−e) / ((1−e) + w·e): below a
//   newcomer once e > 1/(w+1) ≈ 4%, and below the 0.9 trust bar once
//   e > 1/(9w+1) ≈ 0.4%. So a worker that cheats on one unit in 25, hoping to
//   slip past canaries and samples, never looks better than a stranger, and
//   only a near-spotless record earns solo work. Locally: 20 good then 1
//   mismatch scores 0.41, below a fresh key, and climbing back to 0.9 takes
//   90 to 110 clean results (a fresh key needs 9).
// - The coordinator itself only records disputes and proofs; 'mismatch' is
//   for evidence short of proof that a caller may have.
// - Decay counts the key's own events, not wall time. Workers run at wildly
//   different rates, and a clock-based half-life would let a rarely active
//   cheater wash its record clean by simply waiting. With events, only fresh
//   good work dilutes old bad work. A 50-event half-life keeps about the last
//   few hundred results in view (the steady-state weight is 1/(1−d) ≈ 73).
// - A dispute weighs 3: timing can be wrong for innocent reasons (a clock,
//   a misreported run time), so it is a nudge, not a verdict.
// - Proof is different in kind, not degree: a wrong answer to a question whose
//   answer the tasker knows is not a fluke, so the key is banned for good.
//
// Any bad event (dispute, mismatch, proven) ends the clean streak: the count
// of consecutive verified-good results that drives the trust ramp and
// adaptive replication.
//
// Availability
// ------------
//   on every lease event: D ← D·a, L ← L·a, then D += 1 (done) or L += 1 (lost)
//   a = 2^(−1/20)
//   availability = (D + 1) / (D + L + 2)
// The same uniform prior, so a new key scores 0.5. A shorter half-life than
// honesty's, because connectivity changes (a flaky link gets fixed) while
// character does not.

export type BadSeverity = 'dispute' | 'mismatch' | 'proven';

/** The constants behind the formulas above, exported so that reports and tests can name them. */
export const REPUTATION = {
  honestyHalfLifeEvents: 50,
  availabilityHalfLifeEvents: 20,
  badWeight: { dispute: 3, mismatch: 25 },
} as const;

export interface ReputationEntry {
  key: string;
  honesty: number;
  availability: number;
  banned: boolean;
  cleanStreak: number;
  /** Lifetime counts, undecayed, for reports. */
  good: number;
  disputes: number;
  mismatches: number;
  done: number;
  lost: number;
}

interface KeyRecord {
  good: number;
  bad: number;
  done: number;
  lost: number;
  streak: number;
  banned: boolean;
  totals: { good: number; disputes: number; mismatches: number; done: number; lost: number };
}

/**
 * Bans of forgotten keys kept at most. A ban is all a tasker keeps of a key
 * with nothing else left (coordinator.ts forgets idle keys), in a set of
 * keys alone. Each entry cost its key a lease and a wrong answer that a
 * check caught, so the set grows no faster than the tasker's own checks;
 * past the cap the oldest ban is dropped, which loses nothing: a banned
 * attacker gets a fresh key for free anyway, and a key the tasker does not
 * know is checked hardest.
 */
export const BAN_MEMORY = 65_536;

const HONESTY_DECAY = 2 ** (-1 / REPUTATION.honestyHalfLifeEvents);
const AVAILABILITY_DECAY = 2 ** (-1 / REPUTATION.availabilityHalfLifeEvents);

export class ReputationBook {
  private readonly records = new Map<string, KeyRecord>();
  /** Banned keys whose records were forgotten, oldest first. */
  private readonly bans = new Set<string>();

  recordGood(key: string): void {
    const r = this.record(key);
    if (r.banned) return;
    this.decayHonesty(r);
    r.good += 1;
    r.streak += 1;
    r.totals.good += 1;
  }

  recordBad(key: string, severity: BadSeverity): void {
    const r = this.record(key);
    r.streak = 0;
    if (severity === 'proven') {
      r.banned = true;
      return;
    }
    if (r.banned) return;
    this.decayHonesty(r);
    r.bad += REPUTATION.badWeight[severity];
    if (severity === 'dispute') r.totals.disputes += 1;
    else r.totals.mismatches += 1;
  }

  /** A lease finished (whatever the verdict on its result). */
  recordDone(key: string): void {
    const r = this.record(key);
    this.decayAvailability(r);
    r.done += 1;
    r.totals.done += 1;
  }

  /** A lease expired or its worker went away. */
  recordLost(key: string): void {
    const r = this.record(key);
    this.decayAvailability(r);
    r.lost += 1;
    r.totals.lost += 1;
  }

  honesty(key: string): number {
    const r = this.records.get(key);
    if (!r) return 0.5;
    if (r.banned) return 0;
    return (r.good + 1) / (r.good + r.bad + 2);
  }

  availability(key: string): number {
    const r = this.records.get(key);
    if (!r) return 0.5;
    return (r.done + 1) / (r.done + r.lost + 2);
  }

  isBanned(key: string): boolean {
    return this.records.get(key)?.banned ?? this.bans.has(key);
  }

  /**
   * Forgets a key: it scores as a key never seen again, except that a banned
   * key stays banned (see BAN_MEMORY). For a key that holds nothing at the
   * tasker any more; a book shared by several tasks is its owner's to prune.
   */
  forget(key: string): void {
    const r = this.records.get(key);
    if (!r) return;
    this.records.delete(key);
    if (!r.banned) return;
    this.bans.add(key);
    if (this.bans.size > BAN_MEMORY) this.bans.delete(this.bans.values().next().value!);
  }

  /** Keys with a record, and banned keys kept without one. */
  get size(): { records: number; bans: number } {
    return { records: this.records.size, bans: this.bans.size };
  }

  /** Results credited as good over the key's whole life: how far it has come from a throwaway key. */
  credits(key: string): number {
    return this.records.get(key)?.totals.good ?? 0;
  }

  /** Consecutive verified-good results since the last bad event. */
  cleanStreak(key: string): number {
    return this.records.get(key)?.streak ?? 0;
  }

  /** Every key seen, in key order. */
  snapshot(): ReputationEntry[] {
    return [...this.records.keys()].sort().map((key) => {
      const r = this.records.get(key)!;
      return {
        key,
        honesty: this.honesty(key),
        availability: this.availability(key),
        banned: r.banned,
        cleanStreak: r.streak,
        ...r.totals,
      };
    });
  }

  private record(key: string): KeyRecord {
    let r = this.records.get(key);
    if (!r) {
      r = {
        good: 0,
        bad: 0,
        done: 0,
        lost: 0,
        streak: 0,
        banned: this.bans.delete(key),
        totals: { good: 0, disputes: 0, mismatches: 0, done: 0, lost: 0 },
      };
      this.records.set(key, r);
    }
    return r;
  }

  private decayHonesty(r: KeyRecord): void {
    r.good *= HONESTY_DECAY;
    r.bad *= HONESTY_DECAY;
  }

  private decayAvailability(r: KeyRecord): void {
    r.done *= AVAILABILITY_DECAY;
    r.lost *= AVAILABILITY_DECAY;
  }
}

// The tasker's unit scheduler and verifier (docs/protocol.md, "Verification").
// It decides who computes what, and which results to believe, without
// trusting any single worker: replication with a local tiebreak, canaries,
// sampled recomputation, timing checks and a trust ramp, all fed by a
// ReputationBook.
//
// Pure logic: no I/O and no timers. Randomness and the clock are injected, so
// a test drives it step by step and gets the same run every time.
//
// A unit is verified when
// - `replication` distinct workers return the same hash (or one trusted
//   worker did, under adaptive replication), or
// - the tasker knows its answer: a canary, or the tasker's own recomputation.
// Disagreement is never settled by majority (colluders can be a majority): the
// tasker recomputes the unit itself, and whoever it contradicts is banned, all
// of their results are withdrawn, and every unit they helped verify is
// verified again.

import { equalBytes } from '../../protocol/bytes.ts';
import { LeaseTable } from './leases.ts';
import type { Lease } from './leases.ts';
import { ReputationBook } from './reputation.ts';
import type {
  Assignment,
  CoordinatorOptions,
  Judgment,
  LocalCheck,
  Progress,
  SubmitOutcome,
  VerifyPolicy,
} from './types.ts';
import { PPM, UnitBook, newStep } from './unit-book.ts';
import type { Step } from './unit-book.ts';
import { pickRandom } from './unit-state.ts';
import type { Answer } from './unit-state.ts';

export type {
  Assignment,
  CoordinatorOptions,
  Judgment,
  LocalCheck,
  Progress,
  SubmitOutcome,
  VerifyPolicy,
} from './types.ts';

/**
 * Adaptive replication, after BOINC. A worker is trusted when its clean
 * streak is at least `adaptiveStreak` (default 10) and its honesty is at
 * least `minHonesty`. The 0.9 bar takes nine clean results for a new key,
 * and 90 to 110 after a mismatch (see reputation.ts), so with the default
 * streak of 10 a newcomer qualifies after ten and a worker caught once in a
 * mismatch only after about a hundred. An unstarted unit handed to a trusted worker is then its
 * alone with probability `soloProbability`: nobody else gets a lease on it
 * and its single result verifies it. The other quarter of a trusted worker's
 * units are still replicated, so it keeps meeting other workers' answers and
 * a change of behaviour shows up as a mismatch, not only through canaries and
 * samples. Canaries are never solo (they are always checked against the known
 * answer), and a solo-verified unit is sampled like any other.
 */
export const ADAPTIVE = { minHonesty: 0.9, soloProbability: 0.75 } as const;

export class Coordinator {
  readonly units: number;
  readonly reputation: ReputationBook;
  private readonly policy: VerifyPolicy;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly leaseMs: number;
  private readonly maxBatch: number;
  private readonly adaptiveStreak: number;
  private readonly book: UnitBook;
  private readonly leases: LeaseTable;
  /** Worker → units it has answered, in any state. */
  private readonly answered = new Map<string, Set<number>>();
  /** Banned workers whose results here have already been withdrawn. */
  private readonly withdrawn = new Set<string>();

  constructor(options: CoordinatorOptions) {
    const { units, policy } = options;
    checkInt('units', units, 1, Number.MAX_SAFE_INTEGER);
    checkInt('policy.replication', policy.replication, 1, 7);
    checkInt('policy.canaryPpm', policy.canaryPpm, 0, PPM);
    checkInt('policy.samplePpm', policy.samplePpm, 0, PPM);
    checkInt('policy.minUnitMs', policy.minUnitMs, 0, Number.MAX_SAFE_INTEGER);
    if (!(options.leaseMs > 0)) throw new RangeError(`leaseMs: expected a positive duration, got ${options.leaseMs}`);
    for (const [unit, hash] of options.canaries) {
      checkInt('canary unit', unit, 0, units - 1);
      if (!(hash instanceof Uint8Array)) throw new TypeError(`canary ${unit}: expected the hash as a Uint8Array`);
    }
    this.units = units;
    this.policy = { ...policy };
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.leaseMs = options.leaseMs;
    this.maxBatch = options.maxBatch ?? 64;
    checkInt('maxBatch', this.maxBatch, 1, Number.MAX_SAFE_INTEGER);
    this.adaptiveStreak = options.adaptiveStreak ?? 10;
    checkInt('adaptiveStreak', this.adaptiveStreak, 1, Number.MAX_SAFE_INTEGER);
    this.reputation = options.reputation ?? new ReputationBook();
    this.leases = new LeaseTable(this.random);
    this.book = new UnitBook(units, options.canaries, this.policy, this.random, this.reputation);
  }

  // ---- handing out units -------------------------------------------------

  /**
   * The trust ramp: how many leases a worker may hold at once. 1 for a worker
   * with no clean result, doubling with each verified-good result in a row
   * (1, 2, 4, 8, …) up to maxBatch; back to 1 after any bad result; 0 once banned.
   */
  batchLimit(worker: string): number {
    if (this.reputation.isBanned(worker)) return 0;
    return Math.min(this.maxBatch, 2 ** Math.min(this.reputation.cleanStreak(worker), 30));
  }

  assign(worker: string, want: number): Assignment[] {
    if (this.syncBan(worker, newStep())) return [];
    const room = this.batchLimit(worker) - this.leases.count(worker);
    const count = Math.min(Number.isFinite(want) ? Math.floor(want) : 0, room);
    const out: Assignment[] = [];
    for (let i = 0; i < count; i++) {
      const choice = this.choose(worker);
      if (!choice) break;
      out.push(this.issue(worker, choice.unit, choice.solo));
    }
    return out;
  }

  private choose(worker: string): { unit: number; solo: boolean } | undefined {
    // A worker with no clean result yet gets a canary while there is one it
    // has not seen, so a cheater is caught on its first unit. Later, canaries
    // are mixed in at canaryPpm. Canaries are exempt from the per-unit lease
    // cap: every copy handed out is another test.
    const unproven = this.reputation.cleanStreak(worker) === 0;
    const mixIn = !unproven && this.policy.canaryPpm > 0 && this.random() * PPM < this.policy.canaryPpm;
    if (unproven || mixIn) {
      const canary = pickRandom(this.book.canaryUnits, (u) => !this.book.touched(u, worker), this.random);
      if (canary !== undefined) return { unit: canary, solo: false };
    }
    const picked = this.book.open.pick((u) => !this.book.touched(u, worker), this.random);
    if (!picked) return undefined;
    const { replication } = this.policy;
    const solo =
      replication > 1 && picked.gap === replication && this.trusted(worker) && this.random() < ADAPTIVE.soloProbability;
    return { unit: picked.unit, solo };
  }

  private trusted(worker: string): boolean {
    return (
      !this.reputation.isBanned(worker) &&
      this.reputation.cleanStreak(worker) >= this.adaptiveStreak &&
      this.reputation.honesty(worker) >= ADAPTIVE.minHonesty
    );
  }

  private issue(worker: string, unit: number, solo: boolean): Assignment {
    const issued = this.now();
    const lease = this.leases.issue(worker, unit, issued, issued + this.leaseMs);
    const state = this.book.state(unit);
    state.holders.set(worker, lease.id);
    if (solo) state.solo = worker;
    this.book.reindex(state);
    return { unit, lease: lease.bytes.slice(), deadline: lease.deadline };
  }

  // ---- taking results ----------------------------------------------------

  submit(worker: string, lease: Uint8Array, unit: number, hash: Uint8Array, runMs: number): SubmitOutcome {
    const found = this.leases.find(lease);
    if (!found) return { status: 'ignored', reason: 'unknown, expired or already used lease' };
    if (found.worker !== worker) return { status: 'ignored', reason: 'lease belongs to another worker' };
    if (found.unit !== unit) return { status: 'ignored', reason: `lease is for unit ${found.unit}, got unit ${unit}` };
    if (!(hash instanceof Uint8Array) || hash.length === 0 || hash.length > 64) {
      return { status: 'ignored', reason: 'expected a hash of 1 to 64 bytes' };
    }

    // The lease is spent from here on: a second submission of it is ignored.
    const step = newStep();
    const state = this.book.state(unit);
    const answer: Answer = { hash: hash.slice(), state: 'counted', credited: false };
    state.answers.set(worker, answer);
    this.answeredBy(worker).add(unit);
    this.dropLease(found);
    this.reputation.recordDone(worker);

    // Banned through a book shared with another task since the lease was issued.
    if (this.reputation.isBanned(worker)) {
      answer.state = 'withdrawn';
      this.syncBan(worker, step);
      this.book.reindex(state);
      return outcome('rejected', 'worker is banned', step);
    }

    // A wrong answer to a question whose answer is known is proof, however fast it came.
    if (state.truth && !equalBytes(answer.hash, state.truth)) {
      this.prove(worker, step);
      return outcome('rejected', 'wrong output hash', step);
    }

    const wallMs = this.now() - found.issued;
    const { minUnitMs } = this.policy;
    if (!(runMs >= minUnitMs) || wallMs < minUnitMs) {
      answer.state = 'disputed';
      if (state.solo === worker) state.solo = undefined;
      this.reputation.recordBad(worker, 'dispute');
      this.book.reindex(state);
      const reason = `back after ${runMs} ms of run time and ${wallMs} ms of wall time`;
      return outcome('disputed', `${reason}; a unit takes at least ${minUnitMs} ms`, step);
    }

    if (!state.truth) this.book.evaluate(state, step);
    this.book.reindex(state);
    if (state.status === 'verified' && equalBytes(state.verified!, answer.hash)) {
      this.book.creditMatches(state);
      return outcome('accepted', undefined, step);
    }
    const waiting =
      state.status === 'tiebreak'
        ? 'results disagree; the tasker will recompute the unit'
        : `waiting for ${state.need(this.policy.replication) - state.counted().length} more matching result(s)`;
    return outcome('pending', waiting, step);
  }

  /** Units the tasker must recompute itself, for a tiebreak or as a sample. Drains the queue. */
  localChecks(): LocalCheck[] {
    return this.book.drainChecks();
  }

  /**
   * Applies the tasker's own hash for a unit. It is authoritative: the unit is
   * verified with it, matching results are accepted, and every worker whose
   * result differs is proven to cheat (its results elsewhere come back as
   * rejected too).
   */
  resolveLocal(unit: number, hash: Uint8Array): Judgment[] {
    checkInt('unit', unit, 0, this.units - 1);
    if (!(hash instanceof Uint8Array) || hash.length === 0) throw new TypeError('expected a non-empty hash');
    const step = newStep();
    const losers = this.book.applyTruth(this.book.state(unit), hash.slice(), step);
    for (const worker of losers) this.prove(worker, step);
    return step.judgments;
  }

  // ---- lost leases -------------------------------------------------------

  /** Drops leases past their deadline: their units become assignable again, their workers lose availability. */
  expire(): Array<{ worker: string; unit: number }> {
    const t = this.now();
    return this.leases
      .all()
      .filter((lease) => t > lease.deadline)
      .map((lease) => this.lose(lease));
  }

  /** The worker's connection died: every lease it holds is lost at once. */
  workerLost(worker: string): Array<{ worker: string; unit: number }> {
    return this.leases.heldBy(worker).map((lease) => this.lose(lease));
  }

  private lose(lease: Lease): { worker: string; unit: number } {
    this.dropLease(lease);
    this.reputation.recordLost(lease.worker);
    return { worker: lease.worker, unit: lease.unit };
  }

  // ---- reading the state -------------------------------------------------

  /** Every unit verified and no local check owed (a pending sample could still overturn a unit). */
  isComplete(): boolean {
    return this.book.verified === this.units && this.book.pendingChecks === 0;
  }

  verifiedHash(unit: number): Uint8Array | undefined {
    return this.book.verifiedHash(unit)?.slice();
  }

  progress(): Progress {
    return {
      verified: this.book.verified,
      units: this.units,
      outstanding: this.leases.size,
      pendingChecks: this.book.pendingChecks,
    };
  }

  /** Units whose verified hash this worker supplied: what the tasker pays for. */
  acceptedUnits(worker: string): number[] {
    const out: number[] = [];
    for (const unit of this.answered.get(worker) ?? []) {
      const state = this.book.state(unit);
      const answer = state.answers.get(worker)!;
      if (answer.state === 'counted' && state.status === 'verified' && equalBytes(answer.hash, state.verified!)) {
        out.push(unit);
      }
    }
    return out.sort((a, b) => a - b);
  }

  // ---- proof -------------------------------------------------------------

  /**
   * A worker is proven to cheat: banned, its leases dropped, every result it
   * gave withdrawn, and every unit verified with its help reopened, so that a
   * partner who returned the same wrong output meets an honest answer next.
   */
  private prove(worker: string, step: Step): void {
    if (!this.reputation.isBanned(worker)) this.reputation.recordBad(worker, 'proven');
    if (this.withdrawn.has(worker)) return;
    this.withdrawn.add(worker);
    step.penalised.push(worker);
    for (const lease of this.leases.heldBy(worker)) this.dropLease(lease);
    for (const unit of this.answeredBy(worker)) this.book.withdraw(this.book.state(unit), worker, step);
  }

  /** True when the worker is banned; the first time this coordinator learns it, its results here are withdrawn. */
  private syncBan(worker: string, step: Step): boolean {
    if (!this.reputation.isBanned(worker)) return false;
    this.prove(worker, step);
    return true;
  }

  private dropLease(lease: Lease): void {
    this.leases.drop(lease);
    const state = this.book.state(lease.unit);
    state.holders.delete(lease.worker);
    // A solo unit whose lease ends without a counted result is replicated as usual again.
    if (state.solo === lease.worker && state.answers.get(lease.worker)?.state !== 'counted') state.solo = undefined;
    this.book.reindex(state);
  }

  private answeredBy(worker: string): Set<number> {
    let units = this.answered.get(worker);
    if (!units) this.answered.set(worker, (units = new Set()));
    return units;
  }
}

function outcome(status: SubmitOutcome['status'], reason: string | undefined, step: Step): SubmitOutcome {
  const out: SubmitOutcome = { status };
  if (reason !== undefined) out.reason = reason;
  if (step.verified.length > 0) out.verified = step.verified;
  if (step.penalised.length > 0) out.penalised = step.penalised;
  return out;
}

function checkInt(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${field}: expected an integer in [${min}, ${max}], got ${value}`);
  }
}

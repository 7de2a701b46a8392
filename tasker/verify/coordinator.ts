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
//   worker did, under adaptive replication), at least one of them a mature
//   key and not all of them from one address group, or
// - the tasker knows its answer: a canary, or the tasker's own recomputation.
// Disagreement is never settled by majority (colluders can be a majority): the
// tasker recomputes the unit itself, and whoever it contradicts is banned, all
// of their results are withdrawn, and every unit they helped verify is
// verified again. Against coordinated cheaters with throwaway keys
// (defence.ts): known-answer units drawn per worker and sometimes handed to
// two at once, verdicts told only when an epoch closes, the tasker vouching
// for units only young keys or one group agreed on, sampling that rises with
// trouble, recomputation of results far slower than their worker's pace, and
// an unpaid warm-up for every new key.
//
// Keys cost an attacker nothing, so what the coordinator keeps per key must
// not grow with them: a key idle for `forgetAfterMs` that holds nothing (no
// lease, no verdict owed, no counted answer on a unit without an
// authoritative hash, which is to say no answer a unit rests on or that a
// reopening would need) is forgotten, and comes back as a fresh key. A ban
// outlives it (reputation.ts, BAN_MEMORY).

import { equalBytes, toHex } from '../../protocol/bytes.ts';
import { DEFENCE, PaceBook, RecentShare, samplingRate } from './defence.ts';
import type { Defence } from './defence.ts';
import { LeaseTable } from './leases.ts';
import type { Lease } from './leases.ts';
import { ReputationBook } from './reputation.ts';
import type {
  Assignment,
  CoordinatorOptions,
  CoordinatorStats,
  Judgment,
  LocalCheck,
  Progress,
  Settlement,
  SubmitOutcome,
  VerifyPolicy,
  WorkerProfile,
} from './types.ts';
import { PPM, UnitBook, newStep } from './unit-book.ts';
import type { Judge, Step } from './unit-book.ts';
import { pickRandom } from './unit-state.ts';
import type { Answer, UnitState } from './unit-state.ts';
import { Verdicts } from './verdicts.ts';
import { UsageError } from '../../protocol/errors.ts';

export type {
  Assignment,
  CoordinatorOptions,
  CoordinatorStats,
  Judgment,
  LocalCheck,
  Progress,
  Settlement,
  SubmitOutcome,
  VerifyPolicy,
  WorkerProfile,
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

const PENDING = 'the verdict comes when this epoch closes';

/** Leases a unit may lose without an answer coming back before the tasker computes it itself. */
const STALL_LAPSES = 3;

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
  private readonly profiles = new Map<string, WorkerProfile>();
  /** Banned keys, and the epoch each was caught in. */
  private readonly bannedAt = new Map<string, number>();
  /** Banned keys that have been told a verdict since. */
  private readonly toldBan = new Set<string>();
  /** Accepted verdicts told in a row, per key: what the trust ramp climbs on. */
  private readonly toldClean = new Map<string, number>();
  /** Leases taken from keys when they were caught (lease id → key), whose refusal is told later. */
  private readonly refused = new Map<string, { worker: string; unit: number }>();
  private readonly defence: Defence;
  private readonly verdicts: Verdicts;
  private readonly pace = new PaceBook();
  /** Recent verifications that met disagreement, and that leant on little-known keys. */
  private readonly recentDisagreement = new RecentShare(64);
  private readonly recentYoung = new RecentShare(64);
  /** Known-answer units handed to one worker and owed to the next other claimant too. */
  private coIssued: Array<{ unit: number; first: string; at: number }> = [];
  private finals: Settlement[] = [];
  /** Units waiting for a mature key's answer, and since when. */
  private readonly matureWanted = new Map<number, number>();
  /** Mature keys that claimed within the last lease's time, and when: who could answer a unit that wants one. */
  private readonly matureClaimants = new Map<string, number>();
  /** When each key was last introduced, asked for work or answered: every key the coordinator remembers. */
  private readonly lastSeen = new Map<string, number>();
  private readonly forgetAfterMs: number;
  /** A book of the coordinator's own: a shared one is pruned by whoever shares it. */
  private readonly ownsBook: boolean;
  private sweptAt: number;
  private forgottenCount = 0;

  constructor(options: CoordinatorOptions) {
    const { units, policy } = options;
    checkInt('units', units, 1, Number.MAX_SAFE_INTEGER);
    checkInt('policy.replication', policy.replication, 1, 7);
    checkInt('policy.canaryPpm', policy.canaryPpm, 0, PPM);
    checkInt('policy.samplePpm', policy.samplePpm, 0, PPM);
    checkInt('policy.minUnitMs', policy.minUnitMs, 0, Number.MAX_SAFE_INTEGER);
    if (!(options.leaseMs > 0)) throw new UsageError(`leaseMs: expected a positive duration, got ${options.leaseMs}`);
    for (const [unit, hash] of options.canaries) {
      checkInt('canary unit', unit, 0, units - 1);
      if (!(hash instanceof Uint8Array)) throw new UsageError(`canary ${unit}: expected the hash as a Uint8Array`);
    }
    this.units = units;
    this.policy = { ...policy };
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.leaseMs = options.leaseMs;
    this.maxBatch = options.maxBatch ?? 16;
    checkInt('maxBatch', this.maxBatch, 1, Number.MAX_SAFE_INTEGER);
    this.adaptiveStreak = options.adaptiveStreak ?? 10;
    checkInt('adaptiveStreak', this.adaptiveStreak, 1, Number.MAX_SAFE_INTEGER);
    this.reputation = options.reputation ?? new ReputationBook();
    this.ownsBook = options.reputation === undefined;
    this.forgetAfterMs = options.forgetAfterMs ?? 4 * this.leaseMs;
    if (!(this.forgetAfterMs > 0)) throw new UsageError(`forgetAfterMs: expected a positive duration, got ${options.forgetAfterMs}`);
    this.sweptAt = this.now();
    this.defence = { ...DEFENCE, ...options.defence };
    checkInt('defence.epochUnits', this.defence.epochUnits, 1, Number.MAX_SAFE_INTEGER);
    checkInt('defence.epochMs', this.defence.epochMs, 0, Number.MAX_SAFE_INTEGER);
    checkInt('defence.matureAfter', this.defence.matureAfter, 0, Number.MAX_SAFE_INTEGER);
    checkInt('defence.warmupUnits', this.defence.warmupUnits, 0, Number.MAX_SAFE_INTEGER);
    for (const field of ['freshCheck', 'youngCheck', 'coIssue', 'maxSample', 'newcomerSample'] as const) {
      const v = this.defence[field];
      if (!(v >= 0 && v <= 1)) throw new UsageError(`defence.${field}: expected a probability, got ${v}`);
    }
    if (!(this.defence.slowFactor > 1)) throw new UsageError(`defence.slowFactor: expected more than 1, got ${this.defence.slowFactor}`);
    this.leases = new LeaseTable(this.random);
    this.book = new UnitBook(units, options.canaries, this.policy, this.random, this.reputation, this.judge);
    this.verdicts = new Verdicts(this.book, this.reputation, this.defence, this.now);
  }

  /** The defences' view of agreeing results, for the unit book. */
  private readonly judge: Judge = {
    // An answer from a young key is one a throwaway key could have given for
    // nothing, to be agreed with by a grown partner: it counts only beside
    // two mature answers (one, for a unit a trusted key verifies alone), and
    // those must come from more than one address group.
    diverse: (workers) => {
      const { matureAfter } = this.defence;
      const mature = matureAfter > 0 ? workers.filter((w) => this.reputation.credits(w) >= matureAfter) : workers;
      if (mature.length < Math.min(2, workers.length)) return false;
      if (mature.length < 2) return true;
      return new Set(mature.map((w) => this.groupOf(w))).size > 1;
    },
    sampleRate: (workers) => {
      const wellKnown = 4 * this.defence.matureAfter;
      this.recentYoung.record(workers.some((w) => this.reputation.credits(w) < wellKnown));
      const recent = { disagreement: this.recentDisagreement.share, young: this.recentYoung.share };
      const rate = samplingRate(this.policy.samplePpm / PPM, recent, this.defence.maxSample);
      // Keys that only just matured, all of them, are what a coalition
      // verifies its lies with; and a young key's answer among them may be a
      // throwaway key's lie that grown partners raced to agree with.
      const newcomers = workers.every((w) => this.reputation.credits(w) < wellKnown);
      const young = workers.some((w) => this.reputation.credits(w) < this.defence.matureAfter);
      return newcomers || young ? Math.max(rate, this.defence.newcomerSample) : rate;
    },
    decided: (disagreed) => this.recentDisagreement.record(disagreed),
    // The answers lack a second mature one: it is asked for when a mature
    // key that has not touched the unit, and is of another address group
    // than the mature answers it has, has been at work lately; otherwise the
    // tasker vouches by recomputing the unit at once.
    askMature: (unit) => {
      const state = this.book.state(unit);
      const since = this.now() - this.leaseMs;
      const groups = new Set(state.counted().filter(([w]) => this.mature(w)).map(([w]) => this.groupOf(w)));
      let able = false;
      for (const [worker, at] of this.matureClaimants) {
        if (at < since || !this.mature(worker)) this.matureClaimants.delete(worker);
        else if (!state.touchedBy(worker) && !(groups.size === 1 && groups.has(this.groupOf(worker)))) able = true;
      }
      if (!able) return false;
      if (!this.matureWanted.has(unit)) this.matureWanted.set(unit, this.now());
      return true;
    },
  };

  // ---- workers -------------------------------------------------------------

  /**
   * Tells the coordinator where a worker reaches the tasker from. Call it
   * before each claim: a key idle long enough is forgotten, its profile with
   * it, and a key with no profile stands alone.
   */
  introduce(worker: string, profile: WorkerProfile): void {
    this.profiles.set(worker, { ...profile });
    this.seen(worker);
  }

  /** Final verdicts reached since the last call, each once: what receipts say, and what is paid. */
  settle(): Settlement[] {
    this.tell();
    const out = this.finals;
    this.finals = [];
    return out;
  }

  private tell(): void {
    const due = this.verdicts.due(this.isComplete());
    for (const verdict of due) {
      const streak = this.toldClean.get(verdict.worker) ?? this.reputation.cleanStreak(verdict.worker);
      this.toldClean.set(verdict.worker, verdict.status === 'accepted' ? streak + 1 : 0);
      if (verdict.status === 'rejected' && this.reputation.isBanned(verdict.worker)) this.toldBan.add(verdict.worker);
    }
    if (due.length) this.finals.push(...due);
  }

  // ---- handing out units -------------------------------------------------

  /**
   * The trust ramp: how many leases a worker may hold at once. 1 for a worker
   * with no clean verdict, doubling with each accepted verdict in a row
   * (1, 2, 4, 8, …) up to maxBatch; back to 1 after a rejected one; 0 once its
   * ban is told. It moves only on verdicts already told, so the size of the
   * next batch says nothing the receipts have not said: a ramp that grew the
   * moment a known-answer unit was judged would list the checks.
   */
  batchLimit(worker: string): number {
    if (this.reputation.isBanned(worker) && this.announced(worker)) return 0;
    // A key's clean streak from earlier tasks (a shared book) counts as told: it was, there.
    if (!this.toldClean.has(worker)) {
      this.toldClean.set(worker, this.reputation.cleanStreak(worker));
      this.seen(worker);
    }
    return Math.min(this.maxBatch, 2 ** Math.min(this.toldClean.get(worker)!, 30));
  }

  assign(worker: string, want: number): Assignment[] {
    this.seen(worker);
    if (this.mature(worker)) this.matureClaimants.set(worker, this.now());
    if (this.syncBan(worker, newStep())) return this.shadow(worker, want);
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
    // A unit this key let a lease of run out on goes to others for a lease's
    // time: a key that sits on leases to their deadline, waiting for a
    // partner, would otherwise be handed the same units again and again.
    const since = this.now() - this.leaseMs;
    const untouched = (u: number) => !this.book.touched(u, worker) && !this.book.state(u).lapsedSince(worker, since);
    // A unit waiting for a mature answer is drawn at random like any other,
    // never handed to the first mature key that asks: a coalition that saw
    // its throwaway key's lie agreed with would ask at once.
    const mature = this.mature(worker);
    // Only a unit of real work is ever swapped for a known-answer one: a
    // worker waiting on a busy tasker is not fed checks instead.
    const picked = this.book.open.pick((u) => untouched(u) && (mature || !this.book.wantsMature(u)), this.random);
    if (!picked) return undefined;
    // A known-answer unit another worker holds, owed to the next claimant too.
    const owed = this.coIssued.findIndex((c) => c.first !== worker && untouched(c.unit));
    if (owed >= 0) return { unit: this.coIssued.splice(owed, 1)[0]!.unit, solo: false };
    // Known-answer units are drawn per worker from every unit whose answer the
    // tasker knows, which grows as it recomputes: a fresh key meets one with a
    // chance below one, a young key often, and every key at the canary rate
    // after that. Nothing marks them: the unit numbers look like any other's,
    // and the verdict comes with everyone else's when the epoch closes.
    const credits = this.reputation.credits(worker);
    const fresh = credits === 0 && !this.answered.has(worker);
    const young = credits < this.defence.matureAfter;
    const draw = fresh ? this.defence.freshCheck : young ? this.defence.youngCheck : this.policy.canaryPpm / PPM;
    if (draw > 0 && this.random() < draw) {
      const known = pickRandom(this.book.known, untouched, this.random);
      if (known !== undefined) {
        if (this.random() < this.defence.coIssue) {
          this.coIssued.push({ unit: known, first: worker, at: this.now() });
          // Bounded: an old entry nobody claimed is simply forgotten.
          if (this.coIssued.length > 64) this.coIssued.shift();
        }
        return { unit: known, solo: false };
      }
    }
    const { replication } = this.policy;
    const solo =
      replication > 1 && picked.gap === replication && this.trusted(worker) && this.random() < ADAPTIVE.soloProbability;
    return { unit: picked.unit, solo };
  }

  /**
   * A key proven to cheat is not told so before its verdicts are: until the
   * epoch it was caught in closes, it keeps getting batches as before, drawn
   * from the units whose answer the tasker knows (so it holds up no real
   * work), and everything it sends is `pending`. Otherwise a throwaway key
   * that answered wrong would learn from its next claim whether the unit had
   * been a check.
   */
  private shadow(worker: string, want: number): Assignment[] {
    if (this.announced(worker)) return [];
    const room = Math.min(Number.isFinite(want) ? Math.floor(want) : 0, this.batchLimit(worker) - this.leases.count(worker));
    const out: Assignment[] = [];
    for (let i = 0; i < room; i++) {
      const unit = pickRandom(this.book.known, (u) => !this.book.touched(u, worker), this.random);
      if (unit === undefined) break;
      out.push(this.issue(worker, unit, false));
    }
    return out;
  }

  /** Whether a banned key's verdicts, and so its ban, have been told. */
  private announced(worker: string): boolean {
    const at = this.bannedAt.get(worker);
    return at === undefined || this.toldBan.has(worker) || this.verdicts.epoch > at;
  }

  /** The key's address group (STEALTH_GROUP for a worker on onion routes); a key with no profile stands alone. */
  groupOf(worker: string): string {
    return this.profiles.get(worker)?.group ?? `key:${worker}`;
  }

  private mature(worker: string): boolean {
    return !this.reputation.isBanned(worker) && this.reputation.credits(worker) >= this.defence.matureAfter;
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
    if (!found) {
      // A lease taken from a key caught since: its verdict is already owed, and told with the epoch's.
      const id = lease instanceof Uint8Array ? toHex(lease) : '';
      const taken = this.refused.get(id);
      if (taken?.worker === worker && taken.unit === unit && !this.announced(worker)) {
        this.refused.delete(id);
        this.verdicts.refuseLease(worker, unit, lease);
        return { status: 'pending', reason: PENDING };
      }
      return { status: 'ignored', reason: 'unknown, expired or already used lease' };
    }
    if (found.worker !== worker) return { status: 'ignored', reason: 'lease belongs to another worker' };
    this.seen(worker);
    if (found.unit !== unit) return { status: 'ignored', reason: `lease is for unit ${found.unit}, got unit ${unit}` };
    if (!(hash instanceof Uint8Array) || hash.length === 0 || hash.length > 64) {
      return { status: 'ignored', reason: 'expected a hash of 1 to 64 bytes' };
    }

    // The lease is spent from here on: a second submission of it is ignored.
    const step = newStep();
    const state = this.book.state(unit);
    const answer: Answer = {
      hash: hash.slice(),
      state: 'counted',
      credited: false,
      lease: found.bytes.slice(),
      epoch: this.verdicts.epoch,
      settled: false,
    };
    state.answers.set(worker, answer);
    this.answeredBy(worker).add(unit);
    this.verdicts.owe(worker, unit);
    this.dropLease(found);
    this.reputation.recordDone(worker);
    const result = this.judgeResult(worker, found, state, answer, runMs, step);
    this.tell();
    return result;
  }

  /**
   * Everything but `ignored` and a banned key's `rejected` comes back
   * `pending`: the verdict is told when the epoch closes, so the outcome
   * of one submission says nothing about whether its unit was a check.
   */
  private judgeResult(worker: string, lease: Lease, state: UnitState, answer: Answer, runMs: number, step: Step): SubmitOutcome {
    // Banned through a book shared with another task since the lease was issued.
    if (this.reputation.isBanned(worker)) {
      answer.state = 'withdrawn';
      this.syncBan(worker, step);
      this.book.reindex(state);
      return this.announced(worker) ? outcome('rejected', 'worker is banned', step) : outcome('pending', PENDING, step);
    }

    // A wrong answer to a question whose answer is known is proof, however fast it came.
    if (state.truth && !equalBytes(answer.hash, state.truth)) {
      this.prove(worker, step);
      return outcome('pending', PENDING, step);
    }

    const wallMs = this.now() - lease.issued;
    const { minUnitMs } = this.policy;
    if (!(runMs >= minUnitMs) || wallMs < minUnitMs) {
      answer.state = 'disputed';
      if (state.solo === worker) state.solo = undefined;
      this.reputation.recordBad(worker, 'dispute');
      this.book.reindex(state);
      const reason = `back after ${runMs} ms of run time and ${wallMs} ms of wall time`;
      return outcome('disputed', `${reason}; a unit takes at least ${minUnitMs} ms`, step);
    }

    // A result far later than its worker's own pace (one that waited for a
    // partner to hold the same unit, say) is recomputed, not merely logged:
    // it decides nothing before the tasker's own answer.
    if (!state.truth) {
      if (this.pace.isSlow(worker, wallMs, lease.held, this.defence.slowFactor)) this.book.check(state, 'slow');
      else this.book.evaluate(state, step);
    }
    if (state.status === 'verified') this.book.creditMatches(state);
    this.book.reindex(state);
    return outcome('pending', PENDING, step);
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
    if (!(hash instanceof Uint8Array) || hash.length === 0) throw new UsageError('expected a non-empty hash');
    const step = newStep();
    const losers = this.book.applyTruth(this.book.state(unit), hash.slice(), step);
    for (const worker of losers) this.prove(worker, step);
    this.tell();
    return step.judgments;
  }

  // ---- lost leases -------------------------------------------------------

  /** Drops leases past their deadline: their units become assignable again, their workers lose availability. */
  expire(): Array<{ worker: string; unit: number }> {
    const t = this.now();
    const lost = this.leases
      .all()
      .filter((lease) => t > lease.deadline)
      .map((lease) => this.lose(lease, 'expired'));
    // A known-answer unit nobody claimed within a lease's time is no longer owed to anyone.
    this.coIssued = this.coIssued.filter((c) => t - c.at <= this.leaseMs);
    // A unit no mature key took up within a lease's time: the tasker vouches for it itself.
    for (const [unit, since] of this.matureWanted) {
      const state = this.book.state(unit);
      if (!state.wantsMature || state.status !== 'open') this.matureWanted.delete(unit);
      else if (t - since > this.leaseMs && state.holders.size === 0) {
        this.matureWanted.delete(unit);
        state.wantsMature = false;
        this.book.check(state, 'vouch');
        this.book.reindex(state);
      }
    }
    if (t - this.sweptAt >= this.forgetAfterMs / 4) this.forgetIdle(t);
    return lost;
  }

  // ---- forgetting keys -----------------------------------------------------

  private seen(worker: string): void {
    this.lastSeen.set(worker, this.now());
  }

  /** Whether the coordinator keeps anything of this key: false for a key never seen or forgotten (a ban aside). */
  remembers(worker: string): boolean {
    return this.lastSeen.has(worker);
  }

  /** Keys forgotten so far: a caller that keeps per-key state of its own prunes it when this moves. */
  get forgotten(): number {
    return this.forgottenCount;
  }

  /** Forgets the keys idle for forgetAfterMs that hold nothing. */
  private forgetIdle(t: number): void {
    this.sweptAt = t;
    // A caught key's taken leases are owed a refusal only until its ban is told; after that a late result is ignored anyway.
    for (const [id, taken] of this.refused) if (this.announced(taken.worker)) this.refused.delete(id);
    const refusedTo = new Set([...this.refused.values()].map((r) => r.worker));
    for (const [worker, at] of this.lastSeen) {
      if (t - at >= this.forgetAfterMs && !refusedTo.has(worker) && this.holdsNothing(worker)) this.forget(worker);
    }
  }

  /**
   * Nothing rests on the key: it holds no lease, is owed no verdict (so its
   * ban, if any, has been told), and has no counted answer on a unit whose
   * answer the tasker does not know itself. Such an answer verified a unit or
   * waits for partners; if a partner is caught the unit is reopened and
   * everyone who agreed with it must be found again, so it is kept.
   */
  private holdsNothing(worker: string): boolean {
    if (this.leases.count(worker) > 0 || this.verdicts.owes(worker)) return false;
    if (this.reputation.isBanned(worker) && !this.announced(worker)) return false;
    for (const unit of this.answered.get(worker) ?? []) {
      const state = this.book.state(unit);
      if (!state.truth && state.answers.get(worker)?.state === 'counted') return false;
    }
    return true;
  }

  private forget(worker: string): void {
    // Its answers left are withdrawn, disputed, or settled against a known answer: none can change a verdict.
    for (const unit of this.answered.get(worker) ?? []) {
      const state = this.book.state(unit);
      state.answers.delete(worker);
      this.book.reindex(state);
    }
    this.answered.delete(worker);
    this.profiles.delete(worker);
    this.toldClean.delete(worker);
    this.withdrawn.delete(worker);
    this.bannedAt.delete(worker);
    this.toldBan.delete(worker);
    this.pace.forget(worker);
    this.lastSeen.delete(worker);
    // A key with credits earned them with verified work, which no attacker
    // gets for free: its record stays, so a returning honest key does not pay
    // its warm-up again or start young. Keys that never earned go, and banned
    // keys go to the book's capped set of bans.
    if (this.ownsBook && (this.reputation.isBanned(worker) || this.reputation.credits(worker) === 0)) this.reputation.forget(worker);
    this.forgottenCount++;
  }

  /** What the coordinator keeps per key, for tests and reports; read-only. */
  stats(): CoordinatorStats {
    const book = this.ownsBook ? this.reputation.size : { records: 0, bans: 0 };
    return {
      keys: this.lastSeen.size,
      profiles: this.profiles.size,
      answered: this.answered.size,
      told: this.toldClean.size,
      paced: this.pace.size,
      leaseHolders: this.leases.holders,
      refused: this.refused.size,
      answers: this.book.answerCount(),
      records: book.records,
      bans: book.bans,
      forgotten: this.forgottenCount,
    };
  }

  /** The hashes a unit's outputs may still be wanted under: its verified hash and every counted answer's. */
  hashesInPlay(unit: number): Uint8Array[] {
    checkInt('unit', unit, 0, this.units - 1);
    const state = this.book.state(unit);
    const out = state.counted().map(([, a]) => a.hash);
    if (state.verified) out.push(state.verified);
    return out;
  }

  /** The worker's connection died: every lease it holds is lost at once. */
  workerLost(worker: string): Array<{ worker: string; unit: number }> {
    return this.leases.heldBy(worker).map((lease) => this.lose(lease, 'gone'));
  }

  /**
   * A lease that ran out (`expired`) or went with its worker's connection
   * (`gone`). Either way the key's batches start again from one (it knows its
   * own leases are gone, so this tells it nothing about the checks), and a
   * unit lost STALL_LAPSES times without an answer coming back is computed by
   * the tasker itself, so that keys taking turns, or dropping their
   * connections just before the deadline, cannot keep it from the merge. A
   * unit whose lease ran out also goes to other keys for a lease's time:
   * otherwise a key could sit on leases to their deadline and be handed the
   * same units again. A key whose connection died is not barred: it is most
   * often an honest worker coming back, and may be the only one left.
   */
  private lose(lease: Lease, why: 'expired' | 'gone'): { worker: string; unit: number } {
    const t = this.now();
    this.dropLease(lease);
    this.reputation.recordLost(lease.worker);
    if (this.toldClean.has(lease.worker)) this.toldClean.set(lease.worker, 0);
    const state = this.book.state(lease.unit);
    if (why === 'expired') {
      // Only the last lease's time of lapses bars a key, so each unit keeps no more than that.
      for (const [worker, at] of state.lapsed) if (t - at > this.leaseMs) state.lapsed.delete(worker);
      state.lapsed.set(lease.worker, t);
    }
    state.lapses++;
    if (state.status === 'open' && !state.canary && state.lapses >= STALL_LAPSES && state.holders.size === 0) {
      this.book.check(state, 'stalled');
      this.book.reindex(state);
    }
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

  /** Units this worker holds leases for now: what its vanishing would send back. */
  heldBy(worker: string): number[] {
    return this.leases.heldBy(worker).map((lease) => lease.unit);
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
    if (!this.bannedAt.has(worker)) this.bannedAt.set(worker, this.verdicts.epoch);
    step.penalised.push(worker);
    // Its leases end now, so its units go to others; what it still sends on them waits for the epoch like anything else.
    for (const lease of this.leases.heldBy(worker)) {
      this.dropLease(lease);
      this.refused.set(lease.id, { worker, unit: lease.unit });
    }
    for (const unit of this.answered.get(worker) ?? []) this.book.withdraw(this.book.state(unit), worker, step);
  }

  /** True when the worker is banned; the first time this coordinator learns it, its results here are withdrawn. */
  private syncBan(worker: string, step: Step): boolean {
    if (!this.reputation.isBanned(worker)) return false;
    // Banned by another task sharing the book: that task has told it, nothing here is a secret.
    if (!this.bannedAt.has(worker)) this.toldBan.add(worker);
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
    throw new UsageError(`${field}: expected an integer in [${min}, ${max}], got ${value}`);
  }
}

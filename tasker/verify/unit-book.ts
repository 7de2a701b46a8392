// The record of every unit: its answers, its verdict, and what it still
// needs. It decides a unit from the answers it holds (agreement, or a
// tiebreak when they differ), settles a unit on an authoritative hash, and
// keeps the queue of units the tasker must recompute itself. Who gets which
// unit, leases and bans are the coordinator's business.

import { equalBytes } from '../../protocol/bytes.ts';
import type { ReputationBook } from './reputation.ts';
import type { Judgment, LocalCheck, VerifyPolicy } from './types.ts';
import { GapIndex, UnitState } from './unit-state.ts';
import type { LocalReason } from './unit-state.ts';

export const PPM = 1_000_000;

/** What one call changed, gathered while the change ripples through. */
export interface Step {
  verified: Array<{ unit: number; hash: Uint8Array }>;
  penalised: string[];
  judgments: Judgment[];
}

export function newStep(): Step {
  return { verified: [], penalised: [], judgments: [] };
}

/** What the book asks of the coordinator's defences when results agree. */
export interface Judge {
  /** Whether these agreeing keys may verify a unit without the tasker vouching for it. */
  diverse(workers: string[]): boolean;
  /** The chance, now, that a unit these keys verified is sampled. */
  sampleRate(workers: string[]): number;
  /** Told of each unit's first verdict: whether its results had disagreed on the way. */
  decided(disagreed: boolean): void;
  /** Whether a mature key's answer can be waited for, instead of the tasker vouching for the unit itself. */
  askMature(unit: number): boolean;
}

export class UnitBook {
  /** Open units by how many more leases they can take. */
  readonly open: GapIndex;
  /** Units whose answer the tasker knows (canaries, and every unit it recomputed): its known-answer checks. */
  readonly known: number[];
  /** Units that have become verified, counting again each time one is verified anew: the epoch clock. */
  decisions = 0;
  private readonly states = new Map<number, UnitState>();
  private localQueue: LocalCheck[] = [];
  private verifiedCount: number;
  private awaitingCount = 0;

  constructor(
    readonly units: number,
    canaries: Map<number, Uint8Array>,
    private readonly policy: VerifyPolicy,
    private readonly random: () => number,
    private readonly reputation: ReputationBook,
    private readonly judge: Judge,
  ) {
    this.open = new GapIndex(units, policy.replication);
    for (const [unit, hash] of canaries) {
      const state = new UnitState(unit, true);
      state.truth = hash.slice();
      state.verified = state.truth;
      state.status = 'verified';
      this.states.set(unit, state);
    }
    this.known = [...canaries.keys()].sort((a, b) => a - b);
    this.verifiedCount = this.known.length;
    for (let unit = 0; unit < units; unit++) {
      if (!canaries.has(unit)) this.open.set(unit, policy.replication);
    }
  }

  get verified(): number {
    return this.verifiedCount;
  }

  get pendingChecks(): number {
    return this.awaitingCount;
  }

  state(unit: number): UnitState {
    let state = this.states.get(unit);
    if (!state) {
      state = new UnitState(unit, false);
      this.states.set(unit, state);
    }
    return state;
  }

  /** A unit only a mature key may take next. */
  wantsMature(unit: number): boolean {
    return this.states.get(unit)?.wantsMature ?? false;
  }

  touched(unit: number, worker: string): boolean {
    return this.states.get(unit)?.touchedBy(worker) ?? false;
  }

  verifiedHash(unit: number): Uint8Array | undefined {
    const state = this.states.get(unit);
    return state?.status === 'verified' ? state.verified : undefined;
  }

  /** Answers kept, all units together. */
  answerCount(): number {
    let n = 0;
    for (const state of this.states.values()) n += state.answers.size;
    return n;
  }

  /** Call after any change to a unit's answers, holders or status. */
  reindex(state: UnitState): void {
    // A unit waiting for a mature key's answer can be short of more than the policy's count once results are withdrawn.
    if (!state.canary) this.open.set(state.index, Math.min(this.policy.replication, state.gap(this.policy.replication)));
  }

  /** Decides a unit with no authoritative answer from the counted results it has. */
  evaluate(state: UnitState, step: Step): void {
    const counted = state.counted();
    if (counted.length === 0) return;
    const first = counted[0]![1].hash;
    if (counted.some(([, a]) => !equalBytes(a.hash, first))) {
      // Never a majority vote: colluders can be the majority. The tasker decides.
      state.disagreed = true;
      this.check(state, 'tiebreak');
      return;
    }
    if (state.status === 'open' && counted.length >= state.need(this.policy.replication)) {
      const workers = counted.map(([worker]) => worker);
      if (!this.judge.diverse(workers)) {
        if (this.judge.askMature(state.index)) {
          state.extra++;
          state.wantsMature = true;
          this.reindex(state);
        } else this.check(state, 'vouch');
        return;
      }
      state.wantsMature = false;
      state.status = 'verified';
      state.verified = first;
      this.verifiedCount++;
      this.decisions++;
      this.judge.decided(state.disagreed);
      step.verified.push({ unit: state.index, hash: first.slice() });
      this.creditMatches(state);
      const rate = this.judge.sampleRate(workers);
      if (rate > 0 && (rate >= 1 || this.random() < rate)) this.queueLocal(state, 'sample');
    }
  }

  /** The tasker owes the unit its own answer; nothing about it is decided before that. */
  check(state: UnitState, reason: LocalReason): void {
    if (state.status === 'verified') this.unverify(state);
    if (state.status !== 'checking') {
      state.status = 'checking';
      this.queueLocal(state, reason);
    }
  }

  /**
   * Settles a unit on an authoritative hash: matching results are accepted;
   * the workers whose results differ are returned, for the caller to ban.
   */
  applyTruth(state: UnitState, truth: Uint8Array, step: Step): string[] {
    if (state.awaitingLocal) {
      state.awaitingLocal = undefined;
      this.awaitingCount--;
    }
    const wasVerified = state.status === 'verified';
    if (!wasVerified || !equalBytes(state.verified!, truth)) {
      step.verified.push({ unit: state.index, hash: truth.slice() });
    }
    if (!wasVerified) {
      this.verifiedCount++;
      this.decisions++;
      this.judge.decided(state.disagreed);
    }
    if (!state.truth) this.known.push(state.index);
    state.truth = truth;
    state.verified = truth;
    state.status = 'verified';
    const losers: string[] = [];
    for (const [worker, answer] of state.counted()) {
      if (equalBytes(answer.hash, truth)) step.judgments.push({ worker, unit: state.index, status: 'accepted' });
      else losers.push(worker);
    }
    this.creditMatches(state);
    this.reindex(state);
    return losers;
  }

  /**
   * Takes back a worker's counted result. A unit it helped verify is decided
   * again; when others had agreed with the taken-back result, the tasker
   * recomputes the unit, so that every partner in a wrong answer is caught
   * too and one catch unravels a whole coalition.
   */
  withdraw(state: UnitState, worker: string, step: Step): void {
    const answer = state.answers.get(worker);
    if (answer?.state !== 'counted') return;
    answer.state = 'withdrawn';
    step.judgments.push({ worker, unit: state.index, status: 'rejected' });
    if (!state.truth) {
      const partners = state.counted().some(([, a]) => equalBytes(a.hash, answer.hash));
      if (partners) this.check(state, 'reopened');
      else {
        if (state.status === 'verified') this.unverify(state);
        if (state.status === 'open') this.evaluate(state, step);
      }
    }
    this.reindex(state);
  }

  /** Tells the reputation book about every counted result that matches the verified hash, once each. */
  creditMatches(state: UnitState): void {
    for (const [worker, answer] of state.counted()) {
      if (!answer.credited && equalBytes(answer.hash, state.verified!)) {
        answer.credited = true;
        answer.creditIndex = this.reputation.credits(worker);
        this.reputation.recordGood(worker);
      }
    }
  }

  /** Units the tasker must recompute, each once while it is still owed. Drains the queue. */
  drainChecks(): LocalCheck[] {
    const seen = new Set<number>();
    const out = this.localQueue.filter((c) => {
      const owed = this.state(c.unit).awaitingLocal === c.reason && !seen.has(c.unit);
      seen.add(c.unit);
      return owed;
    });
    this.localQueue = [];
    return out;
  }

  private unverify(state: UnitState): void {
    state.status = 'open';
    state.verified = undefined;
    state.solo = undefined;
    this.verifiedCount--;
  }

  private queueLocal(state: UnitState, reason: LocalReason): void {
    if (state.awaitingLocal) return;
    state.awaitingLocal = reason;
    this.awaitingCount++;
    this.localQueue.push({ unit: state.index, reason });
  }
}

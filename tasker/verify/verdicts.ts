// When a result's verdict is told. A receipt that came back at once for a
// known-answer unit and later for an ordinary one would list the checks for
// anyone with throwaway keys, so verdicts are told in epochs: an epoch closes
// each time `epochUnits` more units have been verified (or after `epochMs`
// with at least one), and a result's
// verdict goes out once the epoch it arrived in has closed and its unit is
// decided. At the merge every verdict is final. Pay goes with the verdict,
// so a cheater caught within the hold has its results taken back unpaid.

import { equalBytes } from '../../protocol/bytes.ts';
import type { ReputationBook } from './reputation.ts';
import type { Settlement } from './types.ts';
import type { UnitBook } from './unit-book.ts';
import type { Answer, UnitState } from './unit-state.ts';

export class Verdicts {
  private waiting: Array<{ worker: string; unit: number }> = [];
  private refusals: Array<{ epoch: number; verdict: Settlement }> = [];
  private epochNow = 0;
  private epochTold = 0;
  private openedAt: number;
  private decisionsAtOpen = 0;
  /** Verdicts owed per key (absent when none): a key owed one is never forgotten. */
  private readonly owed = new Map<string, number>();

  constructor(
    private readonly book: UnitBook,
    private readonly reputation: ReputationBook,
    private readonly rules: { epochUnits: number; epochMs: number; warmupUnits: number },
    private readonly now: () => number,
  ) {
    this.openedAt = now();
  }

  /**
   * The epoch running now. It closes once `epochUnits` more units are
   * verified, or once `epochMs` has passed with at least one verified: a
   * task that slows near its end still tells its verdicts.
   */
  get epoch(): number {
    const decided = this.book.decisions - this.decisionsAtOpen;
    const t = this.now();
    if (decided >= this.rules.epochUnits || (decided > 0 && t - this.openedAt >= this.rules.epochMs)) {
      this.epochNow++;
      this.openedAt = t;
      this.decisionsAtOpen = this.book.decisions;
    }
    return this.epochNow;
  }

  /** A result arrived: its verdict is owed. */
  owe(worker: string, unit: number): void {
    this.waiting.push({ worker, unit });
    this.count(worker, 1);
  }

  /** Whether any verdict is still owed to this key. */
  owes(worker: string): boolean {
    return this.owed.has(worker);
  }

  /** A banned key's lease ended unanswered: it is told it was refused, with everything else, when this epoch closes. */
  refuseLease(worker: string, unit: number, lease: Uint8Array): void {
    this.refusals.push({ epoch: this.epoch, verdict: { worker, unit, lease: lease.slice(), status: 'rejected', reason: 'worker proven to cheat', paid: false } });
    this.count(worker, 1);
  }

  private count(worker: string, delta: number): void {
    const n = (this.owed.get(worker) ?? 0) + delta;
    if (n > 0) this.owed.set(worker, n);
    else this.owed.delete(worker);
  }

  /** Verdicts that are final now, each told once. `all`: the task is complete, so every one is. */
  due(all: boolean): Settlement[] {
    const epoch = this.epoch;
    if (!all && epoch === this.epochTold) return [];
    this.epochTold = epoch;
    const out: Settlement[] = [];
    const still: Array<{ worker: string; unit: number }> = [];
    for (const owed of this.waiting) {
      const state = this.book.state(owed.unit);
      const answer = state.answers.get(owed.worker)!;
      if (answer.settled) {
        this.count(owed.worker, -1);
        continue;
      }
      const verdict = !all && answer.epoch >= epoch ? undefined : this.verdict(owed.worker, state, answer);
      if (!verdict) {
        still.push(owed);
        continue;
      }
      answer.settled = true;
      this.count(owed.worker, -1);
      out.push(verdict);
    }
    this.waiting = still;
    const later = this.refusals.filter((r) => !all && r.epoch >= epoch);
    for (const r of this.refusals) {
      if (!all && r.epoch >= epoch) continue;
      out.push(r.verdict);
      this.count(r.verdict.worker, -1);
    }
    this.refusals = later;
    return out;
  }

  private verdict(worker: string, state: UnitState, answer: Answer): Settlement | undefined {
    const base = { worker, unit: state.index, lease: answer.lease.slice() };
    const reject = (reason: string): Settlement => ({ ...base, status: 'rejected', reason, paid: false });
    if (this.reputation.isBanned(worker)) return reject('worker proven to cheat');
    if (answer.state === 'disputed') return reject('back sooner than a unit can run');
    if (answer.state === 'withdrawn') return reject('withdrawn');
    // A unit still owed the tasker's own recomputation may yet be overturned.
    if (state.status !== 'verified' || state.awaitingLocal) return undefined;
    if (!equalBytes(answer.hash, state.verified!)) return reject('does not match the verified output');
    const paid = (answer.creditIndex ?? 0) >= this.rules.warmupUnits;
    return { ...base, status: 'accepted', ...(paid ? {} : { reason: 'unpaid: admission warm-up' }), paid };
  }
}

// What this node has learnt from working: how long each task's units take on
// this machine, and how each tasker has answered its results. The market loop
// feeds it from the engine's events (`computed`, `failed`, `receipt`); the
// offer policy (offer-policy.ts, docs/offer-policy.md) reads it. It keeps no
// clock of its own: every record that depends on time names its time, so the
// loop and the tests agree on "now". Everything it holds is bounded, since a
// node runs for weeks and anyone may publish offers.

import { toHex } from '../protocol/bytes.ts';
import { UsageError } from '../protocol/errors.ts';

export interface HistoryLimits {
  /** Unit times kept per task: enough to smooth one slow unit, few enough to follow a machine that slows down (a laptop on battery). */
  unitsKept: number;
  /** Tasks and taskers remembered; the least recently heard of is forgotten first. */
  tasksKept: number;
  taskersKept: number;
  /** Refusals counted over this window ... */
  refusalWindowMs: number;
  /** ... and this many of them make the node leave the tasker. */
  refusalThreshold: number;
  /** The first leave; each further one doubles, up to the cap. */
  leaveBaseMs: number;
  leaveCapMs: number;
  /** Accepted results in a row, with no refusal, that wipe a tasker's past leaves. */
  forgiveAfter: number;
}

export const HISTORY_LIMITS: Readonly<HistoryLimits> = Object.freeze({
  unitsKept: 16,
  tasksKept: 256,
  taskersKept: 1024,
  refusalWindowMs: 10 * 60_000,
  refusalThreshold: 3,
  leaveBaseMs: 10 * 60_000,
  leaveCapMs: 6 * 60 * 60_000,
  forgiveAfter: 20,
});

/** One unit of a task as this machine ran it: its busy time, and whether it produced a result. */
export interface UnitSample {
  readonly ms: number;
  readonly ok: boolean;
}

/** How a tasker has answered this node's results. */
export interface TaskerRecord {
  readonly accepted: number;
  readonly rejected: number;
  /** When its refusals came (ms), those inside the window only. */
  readonly refusals: readonly number[];
  /** Leaves so far, not yet forgiven: the next leave lasts base × 2^strikes. */
  readonly strikes: number;
  /** Until when (ms) the node leaves it; 0 when it does not. */
  readonly leftUntil: number;
  readonly acceptedInARow: number;
}

/** What the policy reads; OfferHistory is the one implementation, a test may hand in its own. */
export interface Experience {
  /** This task's recent units on this machine, oldest first; empty when it never ran here. */
  samples(task: Uint8Array): readonly UnitSample[];
  /** The median time per paid unit over the tasks that paid any, or undefined when none has. */
  typicalMsPerUnit(): number | undefined;
  /** Until when (ms) the node leaves this tasker; 0 when it does not. */
  leftUntil(tasker: Uint8Array): number;
}

/**
 * The time one paid unit of a task costs this machine: all the time its
 * recent units took, failures included, over the units that produced a
 * result. Undefined when none did: the task has no rate yet.
 */
export function msPerPaidUnit(samples: readonly UnitSample[]): number | undefined {
  let ms = 0;
  let ok = 0;
  for (const s of samples) {
    ms += s.ms;
    if (s.ok) ok++;
  }
  // A unit that took no measurable time still took some: keep the rate finite.
  return ok === 0 ? undefined : Math.max(ms / ok, 1);
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const FRESH_TASKER: TaskerRecord = { accepted: 0, rejected: 0, refusals: [], strikes: 0, leftUntil: 0, acceptedInARow: 0 };

export class OfferHistory implements Experience {
  readonly limits: Readonly<HistoryLimits>;
  private readonly tasks = new Map<string, UnitSample[]>();
  private readonly taskers = new Map<string, TaskerRecord>();

  constructor(limits: Partial<HistoryLimits> = {}) {
    this.limits = Object.freeze({ ...HISTORY_LIMITS, ...limits });
  }

  /** The engine's `computed` event: one unit of `task` produced a result after `busyMs` of work. */
  unitComputed(task: Uint8Array, busyMs: number): void {
    this.addSample(task, { ms: checkedMs(busyMs, 'busyMs'), ok: true });
  }

  /** The engine's `failed` event: time spent on a unit that produced nothing (0 when the loop does not know it). */
  unitFailed(task: Uint8Array, spentMs = 0): void {
    this.addSample(task, { ms: checkedMs(spentMs, 'spentMs'), ok: false });
  }

  /** The engine's `receipt` event: `tasker` accepted or refused one of this node's results at `nowMs`. */
  resultAnswered(tasker: Uint8Array, accepted: boolean, nowMs: number): void {
    checkedMs(nowMs, 'nowMs');
    const key = toHex(tasker);
    const before = this.taskers.get(key) ?? FRESH_TASKER;
    this.remember(this.taskers, key, answered(before, accepted, nowMs, this.limits), this.limits.taskersKept);
  }

  samples(task: Uint8Array): readonly UnitSample[] {
    return this.tasks.get(toHex(task)) ?? [];
  }

  typicalMsPerUnit(): number | undefined {
    const rates: number[] = [];
    for (const samples of this.tasks.values()) {
      const ms = msPerPaidUnit(samples);
      if (ms !== undefined) rates.push(ms);
    }
    return median(rates);
  }

  leftUntil(tasker: Uint8Array): number {
    return this.taskers.get(toHex(tasker))?.leftUntil ?? 0;
  }

  tasker(tasker: Uint8Array): TaskerRecord | undefined {
    return this.taskers.get(toHex(tasker));
  }

  private addSample(task: Uint8Array, sample: UnitSample): void {
    const key = toHex(task);
    const kept = [...(this.tasks.get(key) ?? []), sample].slice(-this.limits.unitsKept);
    this.remember(this.tasks, key, kept, this.limits.tasksKept);
  }

  /** Sets `key` as the most recent entry, forgetting the least recent beyond `cap`. */
  private remember<V>(map: Map<string, V>, key: string, value: V, cap: number): void {
    map.delete(key);
    map.set(key, value);
    while (map.size > cap) map.delete(map.keys().next().value as string);
  }
}

/**
 * A tasker's record after one more answer. Refusals inside the window reaching
 * the threshold start a leave of base × 2^strikes (capped) and clear the
 * window, so the retry after the leave starts from a clean count; refusals
 * during a leave count toward nothing more. A long run
 * of accepted results forgives past leaves.
 */
export function answered(before: TaskerRecord, accepted: boolean, nowMs: number, limits: Readonly<HistoryLimits>): TaskerRecord {
  const refusals = before.refusals.filter((t) => t > nowMs - limits.refusalWindowMs);
  if (accepted) {
    const inARow = before.acceptedInARow + 1;
    const forgiven = inARow >= limits.forgiveAfter;
    return { ...before, accepted: before.accepted + 1, refusals, acceptedInARow: inARow, strikes: forgiven ? 0 : before.strikes };
  }
  const after = { ...before, rejected: before.rejected + 1, refusals, acceptedInARow: 0 };
  // Refusals of results sent before the leave began land during it: the leave already answers them.
  if (nowMs < before.leftUntil) return after;
  refusals.push(nowMs);
  if (refusals.length < limits.refusalThreshold) return after;
  const leaveMs = Math.min(limits.leaveCapMs, limits.leaveBaseMs * 2 ** before.strikes);
  return { ...after, refusals: [], strikes: before.strikes + 1, leftUntil: Math.max(before.leftUntil, nowMs + leaveMs) };
}

function checkedMs(value: number, field: string): number {
  if (!Number.isFinite(value) || value < 0) throw new UsageError(`${field}: expected a finite number of ms ≥ 0, got ${value}`, { field });
  return value;
}

// A pool of killable unit threads. Platform-neutral: the host hands in a
// `spawn` that makes a Node worker thread or a browser Web Worker. The pool
// owns the rules every host must keep: a thread runs one job at a time, a hard
// time limit enforced by killing the thread (a Wasm loop cannot be
// interrupted), a fresh thread after any kill or crash, and a rest after each
// unit so that each thread's busy share honours the duty cycle.
//
// The budget can change while units run (the extension's CPU slider): the
// pool then adds threads, or retires some. A retired thread takes no new job
// and is terminated only once the jobs it already holds are done, so a
// smaller budget drops no unit.
//
// A thread that never rests is handed its next job while the current one
// runs. It then starts that job the moment it finishes, instead of waiting
// for this side's event loop, which on a machine whose cores the units keep
// busy is often slow to be scheduled, and which also carries the networking.

import { fromErrorRecord, SpareCyclesError, UnitCrashError, UnitTimeoutError, UsageError } from '../protocol/errors.ts';
import type { UnitRequest } from '../protocol/unit.ts';
import { restAfter } from './cpu-budget.ts';
import type { CpuBudget } from './cpu-budget.ts';
import type { ThreadJob, ThreadReply } from './unit-thread.ts';

/** One thread as the host sees it. */
export interface UnitThread {
  /**
   * Hands the thread a job. The thread runs its jobs one at a time, in the
   * order given; `run` may be called again before an earlier job ends.
   * `onStart` fires when the thread begins the job, so that a slow start-up,
   * or time spent waiting behind another job, is not charged to this job's
   * time limit. Rejects if the thread dies before answering.
   */
  run(job: ThreadJob, onStart: () => void): Promise<ThreadReply>;
  terminate(): void;
}

/** How long a thread may take to begin the job at the head of its line before it counts as dead. */
const START_LIMIT_MS = 30_000;

export interface PoolOptions extends CpuBudget {
  spawn: () => UnitThread;
}

export interface UnitOutcome {
  output: Uint8Array;
  /** Time the unit computed, measured inside its thread. */
  busyMs: number;
}

interface Pending {
  job: ThreadJob;
  timeMs: number;
  resolve: (outcome: UnitOutcome) => void;
  reject: (error: SpareCyclesError) => void;
}

/** A job handed to a thread. */
interface Sent {
  pending: Pending;
  started: boolean;
  /** The start guard until the thread begins the job, then its time limit. */
  timer?: ReturnType<typeof setTimeout>;
}

interface Slot {
  thread: UnitThread;
  /** Jobs handed to the thread, oldest first. */
  sent: Sent[];
  restUntil: number;
  /** The work the current rest pays for, so that a new duty cycle can measure it again. */
  rest?: { from: number; busyMs: number };
  /** Retired by a smaller budget: takes no new job, and is terminated once it holds none. */
  retiring: boolean;
}

function checkBudget({ threads, dutyCycle }: CpuBudget): void {
  if (!(Number.isInteger(threads) && threads >= 1)) throw new UsageError(`expected a thread count ≥ 1, got ${threads}`);
  if (!(dutyCycle > 0 && dutyCycle <= 1)) throw new UsageError(`expected a duty cycle in (0, 1], got ${dutyCycle}`);
}

export class UnitPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private dutyCycle: number;
  /** Jobs a thread may hold at once: a second only where no rest comes between them. */
  private depth: number;
  private stopped = false;

  constructor(private readonly options: PoolOptions) {
    checkBudget(options);
    this.dutyCycle = options.dutyCycle;
    this.depth = depthFor(options.dutyCycle);
    for (let i = 0; i < options.threads; i++) this.slots.push(this.spawnSlot());
  }

  /** Threads taking new units (retiring ones not counted): what a caller should keep fed. */
  get size(): number {
    // Read on every claim the engine weighs: counted, not gathered into an array.
    let threads = 0;
    for (const slot of this.slots) if (!slot.retiring) threads++;
    return threads;
  }

  get budget(): CpuBudget {
    return { threads: this.size, dutyCycle: this.dutyCycle };
  }

  /**
   * Applies a new budget without dropping a unit. Missing threads come first
   * from those still retiring (they are already running), then fresh ones.
   * Surplus threads retire: idle ones are terminated at once, busy ones once
   * they have finished every job handed to them. A rest under way is measured
   * again under the new duty cycle, which governs every rest from now on; a
   * thread already holding a second job keeps it.
   */
  setBudget(budget: CpuBudget): void {
    checkBudget(budget);
    if (this.stopped) return;
    this.dutyCycle = budget.dutyCycle;
    this.depth = depthFor(budget.dutyCycle);
    for (const slot of this.slots) {
      if (slot.rest) slot.restUntil = slot.rest.from + restAfter(slot.rest.busyMs, this.dutyCycle);
    }
    const active = this.active();
    for (const slot of this.slots) {
      if (active.length >= budget.threads) break;
      if (!slot.retiring) continue;
      slot.retiring = false;
      active.push(slot);
    }
    while (active.length < budget.threads) {
      const slot = this.spawnSlot();
      this.slots.push(slot);
      active.push(slot);
    }
    // The threads holding the fewest jobs retire, the newest first among equals.
    const surplus = [...active].reverse().sort((a, b) => a.sent.length - b.sent.length).slice(0, active.length - budget.threads);
    for (const slot of surplus) {
      slot.retiring = true;
      if (slot.sent.length === 0) this.remove(slot);
    }
    this.dispatch();
  }

  run(module: WebAssembly.Module, request: UnitRequest, timeMs: number): Promise<UnitOutcome> {
    if (this.stopped) return Promise.reject(new UnitCrashError('the unit pool has stopped'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { module, request }, timeMs, resolve, reject });
      this.dispatch();
    });
  }

  /** Kills every thread; queued and running units fail with UNIT_CRASH. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const stopped = () => new UnitCrashError('the unit pool has stopped');
    for (const pending of this.queue.splice(0)) pending.reject(stopped());
    for (const slot of this.slots) {
      for (const sent of slot.sent.splice(0)) sent.pending.reject(stopped());
      slot.thread.terminate();
    }
  }

  private spawnSlot(): Slot {
    return { thread: this.options.spawn(), sent: [], restUntil: 0, retiring: false };
  }

  private active(): Slot[] {
    return this.slots.filter((slot) => !slot.retiring);
  }

  private remove(slot: Slot): void {
    slot.thread.terminate();
    const at = this.slots.indexOf(slot);
    if (at >= 0) this.slots.splice(at, 1);
  }

  private restFor(slot: Slot, busyMs: number): void {
    const from = Date.now();
    slot.rest = { from, busyMs };
    slot.restUntil = from + restAfter(busyMs, this.dutyCycle);
  }

  private later(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private clear(sent: Sent): void {
    if (sent.timer === undefined) return;
    clearTimeout(sent.timer);
    this.timers.delete(sent.timer);
    sent.timer = undefined;
  }

  private dispatch(): void {
    if (this.stopped) return;
    const now = Date.now();
    let soonest = Infinity;
    const ready: Slot[] = [];
    for (const slot of this.active()) {
      if (slot.restUntil <= now) ready.push(slot);
      else if (slot.sent.length === 0) soonest = Math.min(soonest, slot.restUntil);
    }
    // Every idle thread gets a unit before any gets a second to hold.
    for (let held = 1; held <= this.depth; held++) {
      for (const slot of ready) {
        if (this.queue.length === 0) return;
        if (slot.sent.length < held) this.send(slot, this.queue.shift()!);
      }
    }
    if (this.queue.length > 0 && soonest !== Infinity) this.later(soonest - now, () => this.dispatch());
  }

  private send(slot: Slot, pending: Pending): void {
    const sent: Sent = { pending, started: false };
    slot.sent.push(sent);
    if (slot.sent.length === 1) this.guardStart(slot, sent);
    const thread = slot.thread;
    const unit = pending.job.request.unit;
    const current = () => slot.thread === thread && slot.sent.includes(sent);
    const onStart = () => {
      if (!current() || sent.started) return;
      sent.started = true;
      this.clear(sent);
      sent.timer = this.later(pending.timeMs, () =>
        // A timed-out unit used its whole limit: it rests for that too.
        this.replace(slot, sent, new UnitTimeoutError(`unit ${unit} ran past ${pending.timeMs} ms`), pending.timeMs),
      );
    };
    thread.run(pending.job, onStart).then(
      (reply) => {
        if (!current()) return;
        if (reply.ok) this.finish(slot, sent, { value: { output: reply.output, busyMs: reply.busyMs } });
        else this.finish(slot, sent, { error: fromErrorRecord(reply.error) });
      },
      (cause: unknown) => {
        if (!current()) return;
        // The job the thread had begun is the one that killed it; one never begun is not to blame.
        const culprit = slot.sent.find((s) => s.started) ?? slot.sent[0]!;
        this.replace(slot, culprit, new UnitCrashError(`unit thread died: ${String(cause)}`, { cause }));
      },
    );
  }

  /** A thread that does not begin the job at the head of its line within START_LIMIT_MS is dead. */
  private guardStart(slot: Slot, sent: Sent): void {
    const unit = sent.pending.job.request.unit;
    sent.timer = this.later(START_LIMIT_MS, () =>
      this.replace(slot, sent, new UnitCrashError(`unit thread did not start unit ${unit} within ${START_LIMIT_MS} ms`)),
    );
  }

  private finish(slot: Slot, sent: Sent, outcome: { value: UnitOutcome } | { error: SpareCyclesError }): void {
    this.clear(sent);
    slot.sent.splice(slot.sent.indexOf(sent), 1);
    const next = slot.sent[0];
    if (next && !next.started && next.timer === undefined) this.guardStart(slot, next);
    if (slot.retiring && slot.sent.length === 0) this.remove(slot);
    if ('value' in outcome) {
      this.restFor(slot, outcome.value.busyMs);
      sent.pending.resolve(outcome.value);
    } else {
      sent.pending.reject(outcome.error);
    }
    this.dispatch();
  }

  /**
   * Kills the slot's thread for `culprit`'s sake and starts a fresh one (none
   * for a retiring slot, which goes). The culprit fails with `error`; jobs that
   * were waiting behind it go back to the front of the queue.
   */
  private replace(slot: Slot, culprit: Sent, error: SpareCyclesError, restForMs?: number): void {
    const sent = slot.sent.splice(0);
    for (const s of sent) this.clear(s);
    if (slot.retiring) this.remove(slot);
    else slot.thread.terminate();
    if (this.stopped) return;
    if (!slot.retiring) {
      slot.thread = this.options.spawn();
      if (restForMs !== undefined) this.restFor(slot, restForMs);
    }
    this.queue.unshift(...sent.filter((s) => s !== culprit).map((s) => s.pending));
    culprit.pending.reject(error);
    this.dispatch();
  }
}

/** A thread that never rests holds a second job, to start the moment the first ends. */
function depthFor(dutyCycle: number): number {
  return dutyCycle >= 1 ? 2 : 1;
}

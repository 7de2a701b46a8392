// A pool of killable unit threads. Platform-neutral: the host hands in a
// `spawn` that makes a Node worker thread or a browser Web Worker. The pool
// owns the rules every host must keep: one job per thread, a hard time limit
// enforced by killing the thread (a Wasm loop cannot be interrupted), a fresh
// thread after any kill or crash, and a rest after each unit so that each
// thread's busy share honours the duty cycle.

import { SpareCyclesError, UnitCrashError, UnitTimeoutError, fromErrorRecord } from '../protocol/errors.ts';
import type { UnitRequest } from '../protocol/unit.ts';
import { restAfter } from './cpu-budget.ts';
import type { ThreadJob, ThreadReply } from './unit-thread.ts';

/** One thread as the host sees it. `run` rejects if the thread dies mid-job. */
export interface UnitThread {
  /**
   * Runs one job. `onStart` fires when the thread begins it, so that a slow
   * thread start-up is not charged to the unit's time limit.
   */
  run(job: ThreadJob, onStart: () => void): Promise<ThreadReply>;
  terminate(): void;
}

/** How long a fresh thread may take to start its first job before it counts as dead. */
const START_LIMIT_MS = 30_000;

export interface PoolOptions {
  threads: number;
  dutyCycle: number;
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

interface Slot {
  thread: UnitThread;
  busy: boolean;
  restUntil: number;
  /** Ends the running job with an error; set while busy. */
  abort?: (error: SpareCyclesError) => void;
}

export class UnitPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private stopped = false;

  constructor(private readonly options: PoolOptions) {
    if (!(options.dutyCycle > 0 && options.dutyCycle <= 1)) {
      throw new RangeError(`expected a duty cycle in (0, 1], got ${options.dutyCycle}`);
    }
    for (let i = 0; i < options.threads; i++) {
      this.slots.push({ thread: options.spawn(), busy: false, restUntil: 0 });
    }
  }

  get size(): number {
    return this.slots.length;
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
      slot.abort?.(stopped());
      slot.thread.terminate();
    }
  }

  private later(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private dispatch(): void {
    if (this.stopped) return;
    const now = Date.now();
    let soonest = Infinity;
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.busy) continue;
      if (slot.restUntil > now) {
        soonest = Math.min(soonest, slot.restUntil);
        continue;
      }
      this.start(slot, this.queue.shift()!);
    }
    if (this.queue.length > 0 && soonest !== Infinity) this.later(soonest - now, () => this.dispatch());
  }

  private start(slot: Slot, pending: Pending): void {
    slot.busy = true;
    const thread = slot.thread;
    const unit = pending.job.request.unit;
    let settled = false;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const finish = (outcome: { value: UnitOutcome } | { error: SpareCyclesError }, replace: boolean) => {
      if (settled) return;
      settled = true;
      for (const timer of [deadline, startGuard]) {
        if (timer === undefined) continue;
        clearTimeout(timer);
        this.timers.delete(timer);
      }
      slot.abort = undefined;
      if (replace && !this.stopped) {
        thread.terminate();
        slot.thread = this.options.spawn();
      }
      slot.busy = false;
      if ('value' in outcome) {
        slot.restUntil = Date.now() + restAfter(outcome.value.busyMs, this.options.dutyCycle);
        pending.resolve(outcome.value);
      } else {
        pending.reject(outcome.error);
      }
      this.dispatch();
    };
    slot.abort = (error) => finish({ error }, false);
    const startGuard = this.later(START_LIMIT_MS, () =>
      finish({ error: new UnitCrashError(`unit thread did not start unit ${unit} within ${START_LIMIT_MS} ms`) }, true),
    );
    const onStart = () => {
      if (settled || deadline !== undefined) return;
      clearTimeout(startGuard);
      this.timers.delete(startGuard);
      deadline = this.later(pending.timeMs, () => {
        // A timed-out unit used its whole limit: it rests for that too.
        slot.restUntil = Date.now() + restAfter(pending.timeMs, this.options.dutyCycle);
        finish({ error: new UnitTimeoutError(`unit ${unit} ran past ${pending.timeMs} ms`) }, true);
      });
    };
    thread.run(pending.job, onStart).then(
      (reply) => {
        if (reply.ok) finish({ value: { output: reply.output, busyMs: reply.busyMs } }, false);
        else finish({ error: fromErrorRecord(reply.error) }, false);
      },
      (cause: unknown) =>
        finish({ error: new UnitCrashError(`unit thread died: ${String(cause)}`, { cause }) }, true),
    );
  }
}

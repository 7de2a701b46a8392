// A pool of killable unit threads. Platform-neutral: the host hands in a
// `spawn` that makes a Node worker thread or a browser Web Worker. The pool
// owns the rules every host must keep: a thread runs one job at a time, a hard
// time limit enforced by killing the thread (a Wasm loop cannot be
// interrupted), a fresh thread after any kill or crash, and a rest after each
// unit so that each thread's busy share honours the duty cycle.
//
// A thread that never rests is handed its next job while the current one
// runs. It then starts that job the moment it finishes, instead of waiting
// for this side's event loop, which on a machine whose cores the units keep
// busy is often slow to be scheduled, and which also carries the networking.

import { SpareCyclesError, UnitCrashError, UnitTimeoutError, fromErrorRecord } from '../protocol/errors.ts';
import type { UnitRequest } from '../protocol/unit.ts';
import { restAfter } from './cpu-budget.ts';
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
}

export class UnitPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** Jobs a thread may hold at once: a second only where no rest comes between them. */
  private readonly depth: number;
  private stopped = false;

  constructor(private readonly options: PoolOptions) {
    if (!(options.dutyCycle > 0 && options.dutyCycle <= 1)) {
      throw new RangeError(`expected a duty cycle in (0, 1], got ${options.dutyCycle}`);
    }
    this.depth = options.dutyCycle >= 1 ? 2 : 1;
    for (let i = 0; i < options.threads; i++) {
      this.slots.push({ thread: options.spawn(), sent: [], restUntil: 0 });
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
      for (const sent of slot.sent.splice(0)) sent.pending.reject(stopped());
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
    for (const slot of this.slots) {
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
    if ('value' in outcome) {
      slot.restUntil = Date.now() + restAfter(outcome.value.busyMs, this.options.dutyCycle);
      sent.pending.resolve(outcome.value);
    } else {
      sent.pending.reject(outcome.error);
    }
    this.dispatch();
  }

  /**
   * Kills the slot's thread for `culprit`'s sake and starts a fresh one. The
   * culprit fails with `error`; jobs that were waiting behind it go back to the
   * front of the queue.
   */
  private replace(slot: Slot, culprit: Sent, error: SpareCyclesError, restForMs?: number): void {
    slot.thread.terminate();
    const sent = slot.sent.splice(0);
    for (const s of sent) this.clear(s);
    if (this.stopped) return;
    slot.thread = this.options.spawn();
    if (restForMs !== undefined) slot.restUntil = Date.now() + restAfter(restForMs, this.options.dutyCycle);
    this.queue.unshift(...sent.filter((s) => s !== culprit).map((s) => s.pending));
    culprit.pending.reject(error);
    this.dispatch();
  }
}

// One simulated machine: a speed, a number of threads, an address group, and
// the key it currently works under. It claims like worker/engine.ts (enough
// to keep each thread fed with one unit behind it, unless its strategy hoards
// more), computes in simulated time and sends results. What it does with each
// lease is its strategy's choice; the machine only keeps the books: CPU spent,
// keys used, and which of its jobs are still live.

import { toHex } from '../../protocol/bytes.ts';
import type { Assignment, SubmitOutcome } from '../../tasker/verify/coordinator.ts';
import type { EventQueue, SimEvent } from './queue.ts';
import type { SimReceipt } from './receipts.ts';
import { exponential, jitter, trueHash } from './rng.ts';
import type { SimTasker } from './tasker.ts';

export type WorkerClass = 'honest' | 'wrong' | 'lazy' | 'ramp' | 'colluding' | 'copying';

export interface MachineSpec {
  /** Mean time this machine takes for one unit on one thread. */
  msPerUnit: number;
  threads: number;
  /** The address group (an IPv4 /16) its keys reach the tasker from; a function gives each new key its own. */
  group: string | (() => string);
  /** Optional churn: the machine goes away after ~upMs and comes back after ~downMs (both exponential). */
  churn?: { upMs: number; downMs: number };
}

/** One lease the machine holds, under the key it was issued to. */
export interface Job {
  key: string;
  unit: number;
  lease: Uint8Array;
  leaseHex: string;
  issued: number;
  deadline: number;
  state: 'held' | 'running' | 'faking' | 'gone';
}

/** How an adversary (or an honest volunteer) plays: one small object per attack. */
export interface Strategy {
  readonly kind: WorkerClass;
  /** Leases the machine tries to keep: it claims this many less those it holds. */
  hoard(w: SimWorker): number;
  /** Something changed (leases arrived, a thread freed, a wake-up): decide what to run or send. */
  act(w: SimWorker): void;
  /** The coordinator's immediate answer to a result. */
  outcome?(w: SimWorker, job: Job, outcome: SubmitOutcome): void;
  /** A final receipt for a result sent under `key` (this machine's current key or an earlier one). */
  receipt?(w: SimWorker, receipt: SimReceipt, key: string): void;
  /** A fresh key was taken (the first one too). */
  rekeyed?(w: SimWorker): void;
  /** A job ended (sent, dropped, expired or lost with its key). */
  released?(w: SimWorker, job: Job): void;
}

/**
 * Keys an owner may still create. Honest volunteers never run out; an
 * adversary's budget is shared by its machines, and a part of it (its
 * throwaway keys, say) can have a cap of its own within the whole.
 */
export class IdentityBudget {
  used = 0;
  constructor(
    readonly limit = Number.POSITIVE_INFINITY,
    private readonly parent?: IdentityBudget,
  ) {}

  take(): boolean {
    if (this.used >= this.limit) return false;
    if (this.parent && !this.parent.take()) return false;
    this.used++;
    return true;
  }
}

export interface WorkerEnv {
  queue: EventQueue;
  tasker: SimTasker;
  random: () => number;
  /** CPU a result costs beyond computing it (signing, sending): nobody works for free. */
  resultCpuMs: number;
}

export class SimWorker {
  key = '';
  /** Every key this machine used, in order. */
  readonly keys: string[] = [];
  readonly jobs = new Map<string, Job>();
  cpuMs = 0;
  busy = 0;
  online = true;
  retired = false;
  /** Keys of this machine the tasker banned, as soon as their claims stop being answered. */
  readonly banned = new Set<string>();
  private wakeEvent: SimEvent | undefined;

  constructor(
    readonly id: string,
    readonly spec: MachineSpec,
    readonly strategy: Strategy,
    readonly budget: IdentityBudget,
    private readonly env: WorkerEnv,
  ) {}

  get kind(): WorkerClass {
    return this.strategy.kind;
  }

  get freeThreads(): number {
    return this.spec.threads - this.busy;
  }

  get now(): number {
    return this.env.queue.now();
  }

  get random(): () => number {
    return this.env.random;
  }

  /** Takes a key and starts claiming. False when the budget has no key left. */
  start(): boolean {
    if (!this.rekey()) return false;
    if (this.spec.churn) this.scheduleLeave();
    return true;
  }

  /** Held jobs (not started), earliest deadline first. */
  held(): Job[] {
    const out: Job[] = [];
    for (const job of this.jobs.values()) if (job.state === 'held') out.push(job);
    return out.sort((a, b) => a.deadline - b.deadline);
  }

  /** How long this machine would take for a unit right now. */
  unitMs(): number {
    return this.spec.msPerUnit * jitter(this.env.random, 0.2);
  }

  /** Runs `job` on a thread for real; sends `answer` when done, the true hash by default. */
  compute(job: Job, answer?: Uint8Array): void {
    if (this.freeThreads <= 0 || job.state !== 'held') return;
    job.state = 'running';
    this.busy++;
    const ms = this.unitMs();
    this.cpuMs += ms;
    this.env.queue.after(ms, () => {
      if (job.state !== 'running' || job.key !== this.key) return; // lost with its key or connection
      this.busy--;
      this.send(job, answer ?? trueHash(job.unit), ms);
    });
  }

  /** Sends `hash` for `job` after `delayMs` without computing, claiming `runMs` of run time. */
  fake(job: Job, hash: Uint8Array, delayMs: number, runMs: number): void {
    if (job.state !== 'held') return;
    job.state = 'faking';
    this.env.queue.after(delayMs, () => {
      if (job.state !== 'faking' || job.key !== this.key) return;
      this.send(job, hash, runMs);
    });
  }

  /** A fake's delay and claimed run time: as long as this machine would really take, counted from the lease. */
  plausible(job: Job): { delayMs: number; runMs: number } {
    const runMs = this.unitMs();
    return { delayMs: Math.max(0, job.issued + runMs - this.now), runMs };
  }

  /** Gives a job up; its lease expires at the tasker. */
  drop(job: Job): void {
    if (this.jobs.get(job.leaseHex) !== job) return;
    if (job.state === 'running') this.busy--;
    job.state = 'gone';
    this.jobs.delete(job.leaseHex);
    this.strategy.released?.(this, job);
  }

  /** Calls act() at `at`, or sooner if already due. */
  wake(at: number): void {
    if (this.wakeEvent && !this.wakeEvent.cancelled && this.wakeEvent.at <= at) return;
    if (this.wakeEvent) this.wakeEvent.cancelled = true;
    this.wakeEvent = this.env.queue.at(at, () => {
      this.wakeEvent = undefined;
      this.step();
    });
  }

  /** Stops for good: the key is abandoned and nothing more is claimed. */
  retire(): void {
    for (const job of [...this.jobs.values()]) this.drop(job);
    this.retired = true;
    this.env.tasker.leave(this.key);
  }

  claim(): void {
    if (!this.online || this.retired || this.env.tasker.done) return;
    for (const job of [...this.jobs.values()]) if (job.state === 'held' && job.deadline < this.now) this.drop(job);
    this.env.tasker.claim(this.key, this.strategy.hoard(this) - this.jobs.size);
  }

  private step(): void {
    if (!this.online || this.retired || this.env.tasker.done) return;
    this.strategy.act(this);
    this.claim();
  }

  private send(job: Job, hash: Uint8Array, runMs: number): void {
    job.state = 'gone';
    this.jobs.delete(job.leaseHex);
    this.cpuMs += this.env.resultCpuMs;
    const outcome = this.env.tasker.submit(this.key, job.lease, job.unit, hash, runMs);
    this.strategy.released?.(this, job);
    if (job.key === this.key) this.strategy.outcome?.(this, job, outcome);
    this.wake(this.now);
  }

  /** Abandons this key for a fresh one, if the budget allows; retires otherwise. */
  newKey(): boolean {
    return this.rekey();
  }

  /** Drops every job (they belonged to the old key) and greets under a new key, if the budget allows. */
  private rekey(): boolean {
    for (const job of [...this.jobs.values()]) this.drop(job);
    if (this.key) this.env.tasker.leave(this.key);
    if (!this.budget.take()) {
      this.retired = true;
      return false;
    }
    this.key = `${this.id}.${this.keys.length}`;
    this.keys.push(this.key);
    const key = this.key;
    const { group } = this.spec;
    this.env.tasker.join(key, typeof group === 'string' ? group : group(), {
      assigned: (assignments) => this.assigned(key, assignments),
      receipt: (receipt) => this.strategy.receipt?.(this, receipt, key),
      banned: () => {
        if (this.key !== key) return;
        this.banned.add(key);
        this.env.queue.after(0, () => {
          if (this.key === key && !this.retired) this.rekey();
        });
      },
    });
    this.strategy.rekeyed?.(this);
    this.wake(this.now);
    return true;
  }

  private assigned(key: string, assignments: Assignment[]): void {
    if (key !== this.key) return;
    const issued = this.now;
    for (const a of assignments) {
      const leaseHex = toHex(a.lease);
      this.jobs.set(leaseHex, { key, unit: a.unit, lease: a.lease, leaseHex, issued, deadline: a.deadline, state: 'held' });
    }
    this.wake(this.now);
  }

  // ---- churn ----

  private scheduleLeave(): void {
    const churn = this.spec.churn!;
    this.env.queue.after(exponential(this.env.random, churn.upMs), () => {
      if (this.retired || this.env.tasker.done) return;
      this.online = false;
      for (const job of [...this.jobs.values()]) this.drop(job);
      this.env.tasker.workerLost(this.key);
      this.env.queue.after(exponential(this.env.random, churn.downMs), () => {
        this.online = true;
        this.wake(this.now);
        this.scheduleLeave();
      });
    });
  }
}

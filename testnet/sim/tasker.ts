// The tasker's side of a simulated task: the real Coordinator, driven the way
// tasker/session.ts drives it (canaries computed before the task opens,
// standing claims served whenever units free up, a tick that expires leases,
// the session's receipts) with the tasker's own recomputations costing its
// CPU in simulated time.

import { Coordinator } from '../../tasker/verify/coordinator.ts';
import type { Assignment, CoordinatorOptions, LocalCheck, SubmitOutcome, VerifyPolicy } from '../../tasker/verify/coordinator.ts';
import type { EventQueue } from './queue.ts';
import { Receipts } from './receipts.ts';
import type { ReceiptSource, SimReceipt } from './receipts.ts';
import { trueHash } from './rng.ts';

export interface TaskConfig {
  units: number;
  policy: VerifyPolicy;
  leaseMs: number;
  /** How often the session expires leases (its timer). */
  tickMs: number;
  /** Threads the tasker computes canaries and local checks on. */
  taskerThreads: number;
  /** What one unit costs the tasker to compute. */
  taskerUnitMs: number;
  maxBatch?: number;
  adaptiveStreak?: number;
  receipts: ReceiptSource;
  /**
   * Whether anyone but the tasker sees outputs. `private`, as the protocol
   * makes them: inline outputs ride the encrypted session and result
   * torrents are encrypted under a key only the result message carries.
   * `leaked`: a what-if in which every output becomes public shortly after it
   * is sent, to measure what copying would earn.
   */
  outputs?: 'private' | 'leaked';
}

/** The coordinator's API as the session uses it: the real Coordinator, or another version of it to compare. */
export type CoordinatorPort = Pick<
  Coordinator,
  | 'introduce'
  | 'settle'
  | 'assign'
  | 'submit'
  | 'localChecks'
  | 'resolveLocal'
  | 'expire'
  | 'workerLost'
  | 'isComplete'
  | 'verifiedHash'
  | 'progress'
  | 'reputation'
>;

export type CoordinatorFactory = (options: CoordinatorOptions) => CoordinatorPort;

/** How the tasker reaches one worker key. */
export interface TaskerClient {
  assigned(assignments: Assignment[]): void;
  receipt(receipt: SimReceipt): void;
  /** The key is banned: its claims will never be answered again. */
  banned(): void;
}

export interface TaskerStats {
  /** Results workers sent that the coordinator took (not ignored). */
  workerResults: number;
  canaryComputations: number;
  localChecks: number;
  taskerCpuMs: number;
}

/** As tasker/session.ts start() picks them: a canaryPpm share of the units, at least one. */
export function pickCanaries(units: number, ppm: number, random: () => number): number[] {
  const count = canaryCount(units, ppm);
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(Math.floor(random() * units));
  return [...chosen];
}

/** How many canaries a task has: public, since the manifest carries its canary rate. */
export function canaryCount(units: number, ppm: number): number {
  return ppm === 0 ? 0 : Math.min(units, Math.max(1, Math.round((units * ppm) / 1_000_000)));
}

export class SimTasker {
  readonly coordinator: CoordinatorPort;
  readonly canaries: readonly number[];
  readonly stats: TaskerStats = { workerResults: 0, canaryComputations: 0, localChecks: 0, taskerCpuMs: 0 };
  readonly receipts: Receipts;
  /** Called on every result the coordinator took: what anyone watching published results could see. */
  readonly published: Array<(key: string, unit: number, hash: Uint8Array) => void> = [];
  /** Simulated time at which every unit was verified, once it is. */
  doneAt: number | undefined;
  private readonly clients = new Map<string, TaskerClient>();
  private readonly groups = new Map<string, string>();
  /** Standing claims: key → units still wanted. */
  private readonly waiting = new Map<string, number>();
  private readonly checks: LocalCheck[] = [];
  private busyThreads = 0;
  private open = false;

  constructor(
    readonly config: TaskConfig,
    private readonly queue: EventQueue,
    random: () => number,
    private readonly onDone: () => void,
    factory: CoordinatorFactory = (options) => new Coordinator(options),
  ) {
    this.canaries = pickCanaries(config.units, config.policy.canaryPpm, random);
    this.coordinator = factory({
      units: config.units,
      policy: config.policy,
      canaries: new Map(this.canaries.map((u) => [u, trueHash(u)])),
      leaseMs: config.leaseMs,
      random,
      now: queue.now,
      ...(config.maxBatch === undefined ? {} : { maxBatch: config.maxBatch }),
      ...(config.adaptiveStreak === undefined ? {} : { adaptiveStreak: config.adaptiveStreak }),
    });
    this.receipts = new Receipts(this.coordinator, config.receipts, (key, r) => this.clients.get(key)?.receipt(r));
  }

  get done(): boolean {
    return this.doneAt !== undefined;
  }

  /** Computes the canaries, then opens the task and starts the session's timer. */
  start(): void {
    const { taskerThreads, taskerUnitMs } = this.config;
    this.stats.canaryComputations = this.canaries.length;
    this.stats.taskerCpuMs += this.canaries.length * taskerUnitMs;
    this.queue.after(Math.ceil(this.canaries.length / taskerThreads) * taskerUnitMs, () => {
      this.open = true;
      this.tick();
      this.afterProgress();
    });
  }

  /** A worker key greets the tasker from an address in `group`. */
  join(key: string, group: string, client: TaskerClient): void {
    this.clients.set(key, client);
    this.groups.set(key, group);
    this.coordinator.introduce(key, { group });
  }

  claim(key: string, want: number): void {
    if (this.done) return;
    if (this.coordinator.reputation.isBanned(key)) {
      this.clients.get(key)?.banned();
      return;
    }
    if (want <= 0) return;
    // As the session does: a key the coordinator forgot while it was idle comes back with its address group.
    const group = this.groups.get(key);
    if (group !== undefined) this.coordinator.introduce(key, { group });
    this.waiting.set(key, want);
    this.serve(key);
  }

  submit(key: string, lease: Uint8Array, unit: number, hash: Uint8Array, runMs: number): SubmitOutcome {
    const outcome = this.coordinator.submit(key, lease, unit, hash, runMs);
    if (outcome.status !== 'ignored') {
      this.stats.workerResults++;
      for (const listener of this.published) listener(key, unit, hash);
    }
    this.receipts.submitted(key, unit, lease, hash, outcome);
    this.notifyBans(outcome.penalised ?? []);
    this.afterProgress();
    return outcome;
  }

  /** The worker's connection died (churn): the session's onClosed. */
  workerLost(key: string): void {
    this.waiting.delete(key);
    this.coordinator.workerLost(key);
    this.afterProgress();
  }

  /** A key its owner will not use again. */
  leave(key: string): void {
    this.waiting.delete(key);
    this.coordinator.workerLost(key);
    this.clients.delete(key);
    this.groups.delete(key);
  }

  private serve(key: string): void {
    const want = this.waiting.get(key);
    if (want === undefined || !this.open || this.done) return;
    const units = this.coordinator.assign(key, want);
    if (units.length === 0) return;
    if (units.length >= want) this.waiting.delete(key);
    else this.waiting.set(key, want - units.length);
    this.clients.get(key)?.assigned(units);
  }

  private tick(): void {
    if (this.done) return;
    this.coordinator.expire();
    this.afterProgress();
    this.queue.after(this.config.tickMs, () => this.tick());
  }

  private afterProgress(): void {
    if (this.done) return;
    this.receipts.poll();
    this.runLocalChecks();
    if (this.coordinator.isComplete()) {
      this.doneAt = this.queue.now();
      this.receipts.poll();
      this.onDone();
      return;
    }
    for (const key of [...this.waiting.keys()]) this.serve(key);
  }

  private runLocalChecks(): void {
    for (const check of this.coordinator.localChecks()) this.checks.push(check);
    while (this.busyThreads < this.config.taskerThreads && this.checks.length > 0) {
      const { unit } = this.checks.shift()!;
      this.busyThreads++;
      this.stats.localChecks++;
      this.stats.taskerCpuMs += this.config.taskerUnitMs;
      this.queue.after(this.config.taskerUnitMs, () => {
        this.busyThreads--;
        const judgments = this.coordinator.resolveLocal(unit, trueHash(unit));
        this.receipts.judged(unit, judgments);
        this.notifyBans(judgments.filter((j) => j.status === 'rejected').map((j) => j.worker));
        this.afterProgress();
      });
    }
  }

  private notifyBans(keys: string[]): void {
    for (const key of new Set(keys)) {
      if (this.coordinator.reputation.isBanned(key)) this.clients.get(key)?.banned();
    }
  }
}

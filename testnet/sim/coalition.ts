// A coalition of cheaters sharing a board, playing the strongest game it has
// against replication:
//
// 1. List the checks. Throwaway keys (from the coalition's identity budget)
//    answer units wrong. A key banned by the very result it sent was asked a
//    question whose answer the tasker already knew (nothing else is judged
//    that fast), so that unit goes on the board's list of checks; the key
//    finds out because its next claim goes unanswered. A key not banned at
//    once goes on probing with its next unit until it is. The tasker
//    publishes its canary rate, so the coalition knows how many canaries to
//    look for; it stops when it has them all, when many probes in a row
//    learn nothing new, or when its throwaway keys run out.
// 2. Hoard. Each member claims as many leases as the tasker allows and holds
//    them, posting on the board which units it holds.
// 3. Lie only in pairs, and only with grown keys. When two members hold the
//    same unit, it is not a listed check, and the key has `lieAfter`
//    accepted results (the policy's published maturity), both send the same
//    forged hash without computing it.
// 4. Otherwise stay clean: listed checks, a young key's units, and every
//    lease no partner showed up for within `holdMs` are computed honestly.
//
// With `liars`, the coalition plays another game once its checks are listed:
// throwaway keys lie at once, each on one unit that is not a listed check,
// posting it on the board, and take a fresh key; grown members send the same
// forged hash for every posted unit they are handed, and compute everything
// else. A throwaway key is never caught with anything it vouched for, since it
// vouched for nothing else; a member is caught only if a unit it agreed on is
// checked.

import { forgedHash, garbageHash } from './rng.ts';
import { IdentityBudget, SimWorker } from './worker.ts';
import type { Job, MachineSpec, Strategy, WorkerEnv } from './worker.ts';

export interface CoalitionOptions {
  /** Accepted results a key needs before it lies. */
  lieAfter: number;
  /** How long a member holds a lease waiting for a partner before computing it. */
  holdMs: number;
  /** Leases a member tries to hold at once. */
  hoard: number;
  /** Checks the coalition expects to find (from the published canary rate); 0 when unknown. */
  expectedChecks: number;
  /** Machines sending throwaway keys at once. */
  probeParallel: number;
  /** Probing stops after this many throwaway keys in a row learn nothing new. */
  probeQuiet: number;
  /** At most this share of the identity budget goes to throwaway keys. */
  probeShare: number;
  /** How long a throwaway key waits before answering. */
  probeMs: number;
  /** The address group of each new throwaway key. */
  group: () => string;
  /**
   * Independent cells the members are split into, round robin. A cell lies
   * only with its own members, so one caught key unravels its cell alone:
   * many small cells trade opportunities for survival.
   */
  cells?: number;
  /** Throwaway keys lie, one unit each, and members agree with them (see above). */
  liars?: boolean;
}

export class Coalition {
  /** Units the coalition knows are checks. */
  readonly checks = new Set<number>();
  /** Set once probing is over: no member lies before. */
  ready = false;
  /** Every throwaway key's machine, for the books. */
  readonly probeMachines: SimWorker[] = [];
  private readonly probeBudget: IdentityBudget;
  private quiet = 0;
  private readonly holders = new Map<number, Set<SimWorker>>();
  /** Units a member already sent the forged hash for: its partner must follow. */
  private readonly forged = new Map<number, { w: SimWorker; key: string }>();
  /** Accepted results per key. */
  private readonly accepted = new Map<string, number>();
  private readonly members: SimWorker[] = [];
  private readonly cellOf = new Map<SimWorker, number>();

  constructor(
    private readonly env: WorkerEnv,
    readonly budget: IdentityBudget,
    private readonly options: CoalitionOptions,
  ) {
    this.probeBudget = new IdentityBudget(Math.floor(budget.limit * options.probeShare), budget);
  }

  /** Throwaway keys spent. */
  get probes(): number {
    return this.probeBudget.used;
  }

  /** A member machine, to be started by the caller. */
  member(id: string, spec: MachineSpec): SimWorker {
    const w = new SimWorker(id, spec, this.memberStrategy, this.budget, this.env);
    this.cellOf.set(w, this.members.length % (this.options.cells ?? 1));
    this.members.push(w);
    return w;
  }

  /** Sends the throwaway keys; members start lying once it is done. */
  startProbing(): void {
    for (let i = 0; i < this.options.probeParallel; i++) {
      const spec = { msPerUnit: 1, threads: 1, group: this.options.group };
      const probe = new SimWorker(`probe${i}`, spec, this.probeStrategy, this.probeBudget, this.env);
      this.probeMachines.push(probe);
      probe.start();
    }
    this.maybeReady();
  }

  // ---- step 1: throwaway keys ----

  private readonly probeStrategy: Strategy = {
    kind: 'colluding',
    hoard: () => 1,
    act: (w) => {
      if (this.ready && this.options.liars) return this.lieOnce(w);
      if (this.ready) return w.retire();
      for (const job of w.held()) w.fake(job, garbageHash(job.unit, w.random), this.options.probeMs, this.options.probeMs);
    },
    outcome: (w, job) => {
      // A liar's key has told its one lie: the next comes under a fresh key.
      if (this.ready && this.options.liars) return void (w.key === job.key && w.newKey());
      if (w.banned.has(job.key) && !this.checks.has(job.unit)) {
        this.checks.add(job.unit);
        this.quiet = 0;
      } else this.quiet++;
      this.maybeReady();
    },
  };

  private maybeReady(): void {
    if (this.ready) return;
    const { expectedChecks, probeQuiet } = this.options;
    const found = expectedChecks > 0 && this.checks.size >= expectedChecks;
    const exhausted = this.probeMachines.every((p) => p.retired);
    if (!found && this.quiet < probeQuiet && !exhausted) return;
    this.ready = true;
    if (!this.options.liars) for (const p of this.probeMachines) if (!p.retired) p.retire();
    for (const m of this.members) m.wake(m.now);
  }

  private lieOnce(w: SimWorker): void {
    for (const job of w.held()) {
      // A listed check would only ban the key: it is given back unanswered.
      if (this.checks.has(job.unit)) {
        w.newKey();
        return;
      }
      this.forged.set(job.unit, { w, key: w.key });
      w.fake(job, forgedHash(job.unit), this.options.probeMs, this.options.probeMs);
    }
  }

  // ---- steps 2 to 4: members ----

  private partnered(unit: number, w: SimWorker): boolean {
    // A partner who already sent the forged hash, still under the key it sent it with (not banned since).
    const cell = this.cellOf.get(w);
    const f = this.forged.get(unit);
    if (f && f.w !== w && f.w.key === f.key) return this.cellOf.get(f.w) === cell;
    for (const other of this.holders.get(unit) ?? []) if (other !== w && this.cellOf.get(other) === cell) return true;
    return false;
  }

  private hold(unit: number, w: SimWorker): void {
    let set = this.holders.get(unit);
    if (!set) this.holders.set(unit, (set = new Set()));
    if (set.has(w)) return;
    set.add(w);
    for (const other of set) if (other !== w) other.wake(other.now);
  }

  private readonly memberStrategy: Strategy = {
    kind: 'colluding',
    hoard: () => this.options.hoard,
    receipt: (_w, r, key) => {
      if (r.status === 'accepted') this.accepted.set(key, (this.accepted.get(key) ?? 0) + 1);
    },
    released: (w, job) => {
      const set = this.holders.get(job.unit);
      set?.delete(w);
      if (set?.size === 0) this.holders.delete(job.unit);
    },
    act: (w) => {
      const held = w.held();
      for (const job of held) this.hold(job.unit, w);
      const grown = (this.accepted.get(w.key) ?? 0) >= this.options.lieAfter;
      const mayLie = this.ready && grown;
      for (const job of held) {
        const agree = this.options.liars ? this.forged.has(job.unit) : this.partnered(job.unit, w);
        if (!mayLie || this.checks.has(job.unit) || !agree) continue;
        const { delayMs, runMs } = w.plausible(job);
        this.forged.set(job.unit, { w, key: w.key });
        w.fake(job, forgedHash(job.unit), delayMs, runMs);
      }
      // Checks and a young key's units first, then whatever waited long enough.
      const { holdMs } = this.options;
      const urgent = (job: Job) => this.checks.has(job.unit) || !grown;
      for (const job of w.held()) if (w.freeThreads > 0 && urgent(job)) w.compute(job);
      for (const job of w.held()) if (w.freeThreads > 0 && w.now - job.issued >= holdMs) w.compute(job);
      const next = Math.min(...w.held().map((job) => job.issued + holdMs));
      if (Number.isFinite(next) && w.freeThreads > 0) w.wake(Math.max(next, w.now + 1));
    },
  };
}

// The coordinator's bookkeeping for units: what it knows about one unit, and
// the index that finds the unit a worker should get next.

/** `checking`: the tasker owes the unit its own recomputation before anything is decided. */
export type UnitStatus = 'open' | 'checking' | 'verified';
/**
 * Why the tasker recomputes a unit itself: results disagree (`tiebreak`); a
 * random draw (`sample`); the results agree but lack two mature answers from
 * two address groups, and no mature key is at hand to give one (`vouch`); a
 * result came back far slower than its worker's usual pace (`slow`); a key
 * that vouched for it was proven to cheat and others had agreed with it
 * (`reopened`); or its leases kept running out unanswered (`stalled`).
 */
export type LocalReason = 'tiebreak' | 'sample' | 'vouch' | 'slow' | 'reopened' | 'stalled';

/**
 * One worker's answer for one unit. `counted` answers vote; `disputed` ones
 * came back too fast and never count; `withdrawn` ones belonged to a worker
 * later proven to cheat. All three keep the worker from getting the unit again.
 */
export interface Answer {
  hash: Uint8Array;
  state: 'counted' | 'disputed' | 'withdrawn';
  /** Whether the reputation book has already been told this answer was good. */
  credited: boolean;
  /** The lease it was returned under, for its receipt. */
  lease: Uint8Array;
  /** The verification epoch it arrived in: its verdict is not told before that epoch closes. */
  epoch: number;
  /** Its final verdict has gone out. */
  settled: boolean;
  /** The key's count of credited results when this one was credited: the first few are its unpaid warm-up. */
  creditIndex?: number;
}

export class UnitState {
  status: UnitStatus = 'open';
  /** The hash the unit is verified with, while status is 'verified'. */
  verified: Uint8Array | undefined;
  /** An authoritative hash: a canary's known answer, or the tasker's own recomputation. */
  truth: Uint8Array | undefined;
  /** A trusted worker whose single result will verify this unit (adaptive replication). */
  solo: string | undefined;
  /** Set while the tasker owes this unit a local recomputation. */
  awaitingLocal: LocalReason | undefined;
  /** Its results have disagreed at some point: evidence of trouble for the sampling rate. */
  disagreed = false;
  /** Results it needs beyond the policy's, because those it has came from young keys or one group. */
  extra = 0;
  /** Waiting for a mature key's answer: young keys may not take it. */
  wantsMature = false;
  readonly answers = new Map<string, Answer>();
  /** Worker → id of the lease it holds on this unit. */
  readonly holders = new Map<string, string>();
  /** Worker → when a lease of its on this unit ran out unanswered. */
  readonly lapsed = new Map<string, number>();
  /** Leases on this unit lost without an answer, by any key. */
  lapses = 0;

  constructor(
    readonly index: number,
    readonly canary: boolean,
  ) {}

  touchedBy(worker: string): boolean {
    return this.answers.has(worker) || this.holders.has(worker);
  }

  /** Whether a lease of this worker's on the unit ran out after `since`; older lapses are forgotten. */
  lapsedSince(worker: string, since: number): boolean {
    const at = this.lapsed.get(worker);
    if (at === undefined) return false;
    if (at > since) return true;
    this.lapsed.delete(worker);
    return false;
  }

  counted(): Array<[string, Answer]> {
    return [...this.answers].filter(([, a]) => a.state === 'counted');
  }

  /** Agreeing results this unit needs before it is verified. */
  need(replication: number): number {
    return (this.solo === undefined ? replication : 1) + this.extra;
  }

  /**
   * How many more leases the unit can take: results still needed, less those
   * already in flight. Zero for anything not open, and for canaries, which
   * are handed out by their own rule.
   */
  gap(replication: number): number {
    if (this.canary || this.status !== 'open') return 0;
    return Math.max(0, this.need(replication) - this.counted().length - this.holders.size);
  }
}

/**
 * Picks a random element of `list` that passes `ok`: a few random probes
 * first (cheap when most elements pass), then a scan from a random offset so
 * that an element is found whenever one exists.
 */
export function pickRandom(
  list: readonly number[],
  ok: (unit: number) => boolean,
  random: () => number,
  probes = 8,
): number | undefined {
  const n = list.length;
  if (n === 0) return undefined;
  for (let i = 0; i < probes; i++) {
    const unit = list[Math.floor(random() * n)]!;
    if (ok(unit)) return unit;
  }
  const start = Math.floor(random() * n);
  for (let i = 0; i < n; i++) {
    const unit = list[(start + i) % n]!;
    if (ok(unit)) return unit;
  }
  return undefined;
}

/**
 * Open units bucketed by gap, so the next unit for a worker is found without
 * a scan of the whole task: the highest bucket first ("furthest from done",
 * so unstarted units go before extra replicas), a random unit within it.
 * Random rather than lowest-first so that workers cannot arrange to land on
 * the same unit by timing their requests.
 */
export class GapIndex {
  private readonly buckets: number[][];
  /** Bucket of each unit, 0 when absent. */
  private readonly bucketOf: Uint8Array;
  /** Position of each unit within its bucket. */
  private readonly position: Int32Array;

  constructor(units: number, maxGap: number) {
    this.buckets = Array.from({ length: maxGap + 1 }, () => []);
    this.bucketOf = new Uint8Array(units);
    this.position = new Int32Array(units);
  }

  set(unit: number, gap: number): void {
    const current = this.bucketOf[unit]!;
    if (current === gap) return;
    if (current !== 0) {
      const bucket = this.buckets[current]!;
      const at = this.position[unit]!;
      const last = bucket.pop()!;
      if (last !== unit) {
        bucket[at] = last;
        this.position[last] = at;
      }
    }
    this.bucketOf[unit] = gap;
    if (gap !== 0) {
      const bucket = this.buckets[gap]!;
      this.position[unit] = bucket.length;
      bucket.push(unit);
    }
  }

  pick(ok: (unit: number) => boolean, random: () => number): { unit: number; gap: number } | undefined {
    for (let gap = this.buckets.length - 1; gap > 0; gap--) {
      const unit = pickRandom(this.buckets[gap]!, ok, random);
      if (unit !== undefined) return { unit, gap };
    }
    return undefined;
  }
}

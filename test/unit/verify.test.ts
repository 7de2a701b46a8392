// The tasker's verification engine, driven as a simulation: scripted workers
// (honest, cheating, colluding, vanishing), a seeded random source and a clock
// the test moves by hand, so every run is the same run.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, toHex } from '../../protocol/bytes.ts';
import { ADAPTIVE, Coordinator } from '../../tasker/verify/coordinator.ts';
import type { Assignment, Judgment, LocalCheck, SubmitOutcome, VerifyPolicy } from '../../tasker/verify/coordinator.ts';
import { REPUTATION, ReputationBook } from '../../tasker/verify/reputation.ts';

// ---- deterministic world ---------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Clock {
  t = 1_000_000;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** The true output hash of a unit. */
function truth(unit: number): Uint8Array {
  const h = new Uint8Array(32).fill(0xa5);
  new DataView(h.buffer).setUint32(0, unit);
  return h;
}

/** The wrong hash colluders agree on: the same for all of them. */
function forged(unit: number): Uint8Array {
  const h = truth(unit);
  h[31] = 0x5a;
  return h;
}

/** A cheater's own wrong hash, different from everyone else's. */
function garbage(rng: () => number): Uint8Array {
  const h = Uint8Array.from({ length: 32 }, () => Math.floor(rng() * 256));
  h[30] = 0x00; // truth and forged hashes have 0xa5 here
  return h;
}

const key = (n: number): string => n.toString(16).padStart(64, '0');

const POLICY: VerifyPolicy = { replication: 2, canaryPpm: 0, samplePpm: 0, minUnitMs: 10 };

interface Setup {
  units: number;
  policy?: Partial<VerifyPolicy>;
  canaries?: number[];
  seed?: number;
  leaseMs?: number;
  reputation?: ReputationBook;
  adaptiveStreak?: number;
  maxBatch?: number;
}

function setup(s: Setup): { coord: Coordinator; clock: Clock; rng: () => number } {
  const clock = new Clock();
  const rng = mulberry32(s.seed ?? 1);
  const coord = new Coordinator({
    units: s.units,
    policy: { ...POLICY, ...s.policy },
    canaries: new Map((s.canaries ?? []).map((u) => [u, truth(u)])),
    random: rng,
    now: clock.now,
    leaseMs: s.leaseMs ?? 200,
    reputation: s.reputation,
    adaptiveStreak: s.adaptiveStreak,
    maxBatch: s.maxBatch,
  });
  return { coord, clock, rng };
}

// ---- a driver for whole tasks ---------------------------------------------

/** What a worker answers for its nth result: a hash, or it vanishes (with 'drop', its connection is seen to die). */
type Behaviour = (unit: number, nth: number) => Uint8Array | 'vanish' | 'drop';

const honest: Behaviour = (unit) => truth(unit);
const colluder: Behaviour = (unit) => forged(unit);
/** Answers honestly until `after` results, then joins the colluders. */
const sleeper =
  (after: number): Behaviour =>
  (unit, nth) =>
    nth < after ? truth(unit) : forged(unit);
const cheater =
  (rng: () => number): Behaviour =>
  () =>
    garbage(rng);
const vanisher =
  (after: number, how: 'vanish' | 'drop' = 'vanish'): Behaviour =>
  (unit, nth) =>
    nth < after ? truth(unit) : how;

interface Log {
  rounds: number;
  first: Map<string, number>;
  submitted: Map<string, number[]>;
  outcomes: Map<string, SubmitOutcome[]>;
  expired: Array<{ worker: string; unit: number }>;
  checks: LocalCheck[];
  judgments: Judgment[];
  /** Every (unit, hash) ever announced as verified, in order. */
  verifiedLog: Array<{ unit: number; hash: Uint8Array }>;
  gone: Map<string, { honesty: number; availability: number }>;
}

function drive(
  coord: Coordinator,
  clock: Clock,
  workers: Record<string, Behaviour>,
  options: { rounds?: number; want?: number; tickMs?: number; runMs?: number; joins?: Record<string, number> } = {},
): Log {
  const { rounds = 400, want = 4, tickMs = 50, runMs = 50, joins = {} } = options;
  const log: Log = {
    rounds: 0,
    first: new Map(),
    submitted: new Map(),
    outcomes: new Map(),
    expired: [],
    checks: [],
    judgments: [],
    verifiedLog: [],
    gone: new Map(),
  };
  const held = new Map<string, Assignment[]>();
  const count = new Map<string, number>();
  for (let round = 0; round < rounds && !coord.isComplete(); round++) {
    log.rounds = round + 1;
    clock.advance(tickMs);
    log.expired.push(...coord.expire());
    for (const [worker, behave] of Object.entries(workers)) {
      if (log.gone.has(worker) || round < (joins[worker] ?? 0)) continue;
      for (const a of held.get(worker) ?? []) {
        const nth = count.get(worker) ?? 0;
        const answer = behave(a.unit, nth);
        if (answer === 'vanish' || answer === 'drop') {
          const { reputation } = coord;
          log.gone.set(worker, { honesty: reputation.honesty(worker), availability: reputation.availability(worker) });
          if (answer === 'drop') log.expired.push(...coord.workerLost(worker));
          break;
        }
        count.set(worker, nth + 1);
        const out = coord.submit(worker, a.lease, a.unit, answer, runMs);
        push(log.outcomes, worker, out);
        push(log.submitted, worker, a.unit);
        log.verifiedLog.push(...(out.verified ?? []));
      }
      if (log.gone.has(worker)) continue;
      const next = coord.assign(worker, want);
      if (!log.first.has(worker) && next.length > 0) log.first.set(worker, next[0]!.unit);
      held.set(worker, next);
    }
    for (const check of coord.localChecks()) {
      log.checks.push(check);
      log.judgments.push(...coord.resolveLocal(check.unit, truth(check.unit)));
    }
  }
  return log;
}

function push<T>(map: Map<string, T[]>, k: string, v: T): void {
  const list = map.get(k) ?? [];
  list.push(v);
  map.set(k, list);
}

function expectAllCorrect(coord: Coordinator): void {
  expect(coord.isComplete()).toBe(true);
  for (let u = 0; u < coord.units; u++) expect(toHex(coord.verifiedHash(u) ?? new Uint8Array(0))).toBe(toHex(truth(u)));
}

const statuses = (outs: SubmitOutcome[] | undefined): string[] => (outs ?? []).map((o) => o.status);

// ---- scenarios ------------------------------------------------------------

describe('coordinator: honest workers', () => {
  it('verifies every unit of a 20-unit task with three honest workers, accepting every result', () => {
    // adaptive replication is tested on its own below; here every unit gets two workers.
    const policy = { canaryPpm: 50_000 };
    const { coord, clock } = setup({ units: 20, canaries: [3, 11], policy, adaptiveStreak: 1000 });
    const workers = { [key(1)]: honest, [key(2)]: honest, [key(3)]: honest };
    const log = drive(coord, clock, workers);

    expectAllCorrect(coord);
    expect(coord.progress()).toEqual({ verified: 20, units: 20, outstanding: 0, pendingChecks: 0 });
    expect(log.checks).toEqual([]);
    expect(log.judgments).toEqual([]);
    const regular = Array.from({ length: 20 }, (_, u) => u).filter((u) => u !== 3 && u !== 11);
    const cover = new Map<number, number>();
    for (const w of Object.keys(workers)) {
      expect([3, 11]).toContain(log.first.get(w)); // a canary first
      expect(statuses(log.outcomes.get(w)).every((x) => x === 'accepted' || x === 'pending')).toBe(true);
      // every result it gave ends up accepted: what it computed is what it is paid for
      expect(coord.acceptedUnits(w)).toEqual([...log.submitted.get(w)!].sort((a, b) => a - b));
      for (const u of coord.acceptedUnits(w)) cover.set(u, (cover.get(u) ?? 0) + 1);
      expect(coord.reputation.isBanned(w)).toBe(false);
      expect(coord.reputation.honesty(w)).toBeGreaterThan(0.5);
    }
    for (const u of regular) expect(cover.get(u)).toBe(2);
    // every "pending" was announced as verified later, each unit once
    expect(log.verifiedLog.map((v) => v.unit).sort((a, b) => a - b)).toEqual(regular);
  });
});

describe('coordinator: cheaters', () => {
  it('catches a worker that returns wrong hashes on its first unit, a canary', () => {
    const { coord, clock, rng } = setup({ units: 12, canaries: [0, 5] });
    const bad = key(9);
    const log = drive(coord, clock, { [key(1)]: honest, [bad]: cheater(rng), [key(2)]: honest });

    expect([0, 5]).toContain(log.first.get(bad));
    expect(log.outcomes.get(bad)).toEqual([{ status: 'rejected', reason: 'wrong output hash', penalised: [bad] }]);
    expect(coord.reputation.isBanned(bad)).toBe(true);
    expect(coord.reputation.honesty(bad)).toBe(0);
    expect(coord.reputation.honesty(bad)).toBeLessThan(new ReputationBook().honesty(key(100)));
    expect(coord.acceptedUnits(bad)).toEqual([]);
    expect(coord.assign(bad, 10)).toEqual([]);
    expect(coord.batchLimit(bad)).toBe(0);
    expectAllCorrect(coord);
  });

  it('stops two colluders who return the same wrong hash for everything, at their canaries', () => {
    const { coord, clock } = setup({ units: 16, canaries: [2, 7, 13] });
    const [a, b] = [key(0xa), key(0xb)];
    const log = drive(coord, clock, { [key(1)]: honest, [a]: colluder, [key(2)]: honest, [b]: colluder });
    expectAllCorrect(coord);
    for (const w of [a, b]) {
      expect(statuses(log.outcomes.get(w))).toEqual(['rejected']);
      expect(coord.reputation.isBanned(w)).toBe(true);
    }
    expect(log.verifiedLog.every((v) => equalBytes(v.hash, truth(v.unit)))).toBe(true);
  });

  it('undoes what colluders slipped past a canary: tiebreaks, bans, withdrawal and re-verification', () => {
    // The colluders know a newcomer's first unit is a canary and answer it
    // honestly; after that they agree on a forged hash. They start before the
    // honest workers, so they verify forged units between themselves first.
    // Canaries mixed in at 15%, tiebreaks against honest workers, and the
    // withdrawal of everything a proven cheater touched must still leave
    // every unit right.
    let withdrawals = 0;
    let tiebreaks = 0;
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { coord, clock } = setup({ units: 30, canaries: [4, 9, 17, 25], policy: { canaryPpm: 50_000 }, seed });
      const [a, b] = [key(0xa), key(0xb)];
      const workers = { [a]: sleeper(1), [key(1)]: honest, [b]: sleeper(1), [key(2)]: honest };
      const log = drive(coord, clock, workers, { joins: { [key(1)]: 6, [key(2)]: 6 } });

      expectAllCorrect(coord);
      expect(coord.reputation.isBanned(a)).toBe(true);
      expect(coord.reputation.isBanned(b)).toBe(true);
      expect(coord.acceptedUnits(a)).toEqual([]);
      expect(coord.acceptedUnits(b)).toEqual([]);
      expect(coord.reputation.isBanned(key(1))).toBe(false);
      expect(coord.reputation.isBanned(key(2))).toBe(false);
      // nobody honest was ever rejected
      const rejected = log.judgments.filter((j) => j.status === 'rejected');
      expect(rejected.every((j) => j.worker === a || j.worker === b)).toBe(true);
      // a forged hash that had been verified was later replaced by the true one
      if (log.verifiedLog.some((v) => !equalBytes(v.hash, truth(v.unit)))) withdrawals++;
      if (log.checks.some((ch) => ch.reason === 'tiebreak')) tiebreaks++;
    }
    // these seeds exercise both paths
    expect(withdrawals).toBeGreaterThan(0);
    expect(tiebreaks).toBeGreaterThan(0);
  });

  it('reopens a unit two colluders verified together once one of them is proven, and catches the other on it', () => {
    const { coord, clock } = setup({ units: 4, canaries: [0, 1] });
    const [a, b, h] = [key(0xa), key(0xb), key(1)];
    const answer = (w: string, x: Assignment, hash: Uint8Array): SubmitOutcome => {
      clock.advance(20);
      return coord.submit(w, x.lease, x.unit, hash, 20);
    };
    // both pass their first unit, a canary, honestly
    const firsts: number[] = [];
    for (const w of [a, b]) {
      const [c] = coord.assign(w, 1);
      expect([0, 1]).toContain(c!.unit);
      expect(answer(w, c!, truth(c!.unit)).status).toBe('accepted');
      firsts.push(c!.unit);
    }
    const ac = firsts[0];
    // a takes both regular units; b replicates one of them and they agree on a forgery
    const pair = coord.assign(a, 2);
    expect(pair.map((x) => x.unit).sort()).toEqual([2, 3]);
    for (const x of pair) expect(answer(a, x, forged(x.unit)).status).toBe('pending');
    const [bx] = coord.assign(b, 1);
    const u = bx!.unit;
    const v = 5 - u;
    expect(answer(b, bx!, forged(u))).toEqual({ status: 'accepted', verified: [{ unit: u, hash: forged(u) }] });
    expect(coord.verifiedHash(u)).toEqual(forged(u));

    // an honest worker meets a's forgery on the other unit: a tiebreak
    const [hc] = coord.assign(h, 1);
    expect(answer(h, hc!, truth(hc!.unit)).status).toBe('accepted');
    const [hv] = coord.assign(h, 2);
    expect(hv!.unit).toBe(v);
    expect(answer(h, hv!, truth(v)).status).toBe('pending');
    expect(coord.localChecks()).toEqual([{ unit: v, reason: 'tiebreak' }]);
    const judged = coord.resolveLocal(v, truth(v));
    expect(judged[0]).toEqual({ worker: h, unit: v, status: 'accepted' });
    expect(judged.slice(1).sort((x, y) => x.unit - y.unit)).toEqual(
      // everything a ever gave is withdrawn: its honest canary answer, and the unit it verified with b
      [ac!, 2, 3].sort().map((unit) => ({ worker: a, unit, status: 'rejected' })),
    );
    expect(coord.reputation.isBanned(a)).toBe(true);
    expect(coord.verifiedHash(u)).toBeUndefined(); // reopened; b's vote alone stands
    expect(coord.isComplete()).toBe(false);

    // the honest worker redoes it, meets b's forgery, and the tasker settles it
    const [hu] = coord.assign(h, 1);
    expect(hu!.unit).toBe(u);
    expect(answer(h, hu!, truth(u)).status).toBe('pending');
    expect(coord.localChecks()).toEqual([{ unit: u, reason: 'tiebreak' }]);
    expect(coord.resolveLocal(u, truth(u))).toEqual([
      { worker: h, unit: u, status: 'accepted' },
      ...[firsts[1]!, u].sort().map((unit) => ({ worker: b, unit, status: 'rejected' })),
    ]);
    expect(coord.reputation.isBanned(b)).toBe(true);
    expectAllCorrect(coord);
    expect(coord.acceptedUnits(h)).toEqual([hc!.unit, 2, 3].sort());
    expect(coord.acceptedUnits(a)).toEqual([]);
    expect(coord.acceptedUnits(b)).toEqual([]);
  });

  it('settles a mismatch by local recomputation, not by majority', () => {
    const { coord, clock } = setup({ units: 1, policy: { replication: 3 } });
    const [a, b, h] = [key(0xa), key(0xb), key(1)];
    const la = coord.assign(a, 1);
    const lb = coord.assign(b, 1);
    const lh = coord.assign(h, 1);
    expect([la, lb, lh].map((x) => x.map((y) => y.unit))).toEqual([[0], [0], [0]]);
    expect(coord.assign(key(2), 1)).toEqual([]); // three replicas outstanding, no more needed
    clock.advance(100);
    expect(coord.submit(a, la[0]!.lease, 0, forged(0), 50).status).toBe('pending');
    expect(coord.submit(b, lb[0]!.lease, 0, forged(0), 50).status).toBe('pending');
    const third = coord.submit(h, lh[0]!.lease, 0, truth(0), 50);
    expect(third).toEqual({ status: 'pending', reason: 'results disagree; the tasker will recompute the unit' });
    expect(coord.verifiedHash(0)).toBeUndefined(); // two against one decides nothing
    expect(coord.localChecks()).toEqual([{ unit: 0, reason: 'tiebreak' }]);
    expect(coord.localChecks()).toEqual([]); // drained
    expect(coord.isComplete()).toBe(false);
    const judged = coord.resolveLocal(0, truth(0));
    expect(judged).toEqual([
      { worker: h, unit: 0, status: 'accepted' },
      { worker: a, unit: 0, status: 'rejected' },
      { worker: b, unit: 0, status: 'rejected' },
    ]);
    expect(coord.isComplete()).toBe(true);
    expect(coord.acceptedUnits(h)).toEqual([0]);
    expect([a, b].map((w) => coord.reputation.isBanned(w))).toEqual([true, true]);
  });
});

describe('coordinator: lost leases', () => {
  it('reissues the units of a worker that vanished; its availability falls, its honesty does not', () => {
    const { coord, clock } = setup({ units: 30, leaseMs: 200, adaptiveStreak: 1000 });
    const v = key(0x77);
    const log = drive(coord, clock, { [key(1)]: honest, [v]: vanisher(6), [key(2)]: honest });

    expectAllCorrect(coord);
    const lostUnits = log.expired.filter((e) => e.worker === v).map((e) => e.unit);
    expect(lostUnits.length).toBeGreaterThan(0);
    expect(log.expired.every((e) => e.worker === v)).toBe(true);
    for (const u of lostUnits) {
      // finished by the others
      expect(coord.acceptedUnits(key(1)).includes(u) || coord.acceptedUnits(key(2)).includes(u)).toBe(true);
      expect(coord.acceptedUnits(v)).not.toContain(u);
    }
    const before = log.gone.get(v)!;
    expect(coord.reputation.availability(v)).toBeLessThan(before.availability);
    expect(coord.reputation.honesty(v)).toBeGreaterThanOrEqual(before.honesty);
    expect(coord.reputation.honesty(v)).toBeGreaterThan(0.5);
    expect(coord.reputation.isBanned(v)).toBe(false);
    expect(coord.reputation.snapshot().find((e) => e.key === v)).toMatchObject({ done: 6, lost: lostUnits.length });
  });

  it('drops every lease of a worker whose connection died, at once', () => {
    const { coord, clock } = setup({ units: 8, policy: { replication: 1 } });
    const w = key(5);
    const book = coord.reputation;
    // two clean results: the ramp allows four leases
    for (let i = 0; i < 2; i++) {
      const [a] = coord.assign(w, 1);
      clock.advance(20);
      expect(coord.submit(w, a!.lease, a!.unit, truth(a!.unit), 20).status).toBe('accepted');
    }
    const held = coord.assign(w, 10);
    expect(held).toHaveLength(4);
    const honestyBefore = book.honesty(w);
    const availabilityBefore = book.availability(w);
    expect(coord.progress().outstanding).toBe(4);

    const lost = coord.workerLost(w);
    expect(lost.map((l) => l.unit).sort()).toEqual(held.map((h) => h.unit).sort());
    expect(lost.every((l) => l.worker === w)).toBe(true);
    expect(coord.progress().outstanding).toBe(0);
    expect(book.honesty(w)).toBe(honestyBefore);
    expect(book.availability(w)).toBeLessThan(availabilityBefore);
    // its leases are dead, and its units go to someone else
    expect(coord.submit(w, held[0]!.lease, held[0]!.unit, truth(held[0]!.unit), 20).status).toBe('ignored');
    expect(coord.workerLost(w)).toEqual([]);
    const other = key(6);
    const got: number[] = [];
    for (let i = 0; i < 6; i++) {
      const [a] = coord.assign(other, 1);
      if (!a) break;
      got.push(a.unit);
      clock.advance(20);
      coord.submit(other, a.lease, a.unit, truth(a.unit), 20);
    }
    for (const h of held) expect(got).toContain(h.unit);
    expect(coord.isComplete()).toBe(true);
  });

  it('expires a lease only after its deadline', () => {
    const { coord, clock } = setup({ units: 2, leaseMs: 100 });
    const w = key(1);
    const [a] = coord.assign(w, 1);
    expect(a!.deadline).toBe(clock.t + 100);
    clock.advance(100);
    expect(coord.expire()).toEqual([]);
    clock.advance(1);
    expect(coord.expire()).toEqual([{ worker: w, unit: a!.unit }]);
    expect(coord.submit(w, a!.lease, a!.unit, truth(a!.unit), 50)).toEqual({
      status: 'ignored',
      reason: 'unknown, expired or already used lease',
    });
    expect(coord.reputation.honesty(w)).toBe(0.5);
    expect(coord.reputation.availability(w)).toBeCloseTo(1 / 3, 10);
  });
});

describe('coordinator: replay, misuse and timing', () => {
  it('ignores a replayed lease, a lease sent by another worker, and a wrong unit for a lease', () => {
    const { coord, clock } = setup({ units: 6 });
    const [a, b, c] = [key(1), key(2), key(3)];
    const [la] = coord.assign(a, 1);
    const [lb] = coord.assign(b, 1);
    const [lc] = coord.assign(c, 1);
    clock.advance(100);

    expect(coord.submit(a, la!.lease, la!.unit, truth(la!.unit), 50).status).toBe('pending');
    const progress = coord.progress();
    expect(coord.submit(a, la!.lease, la!.unit, truth(la!.unit), 50)).toEqual({
      status: 'ignored',
      reason: 'unknown, expired or already used lease',
    });
    expect(coord.progress()).toEqual(progress);

    // a steals b's lease: ignored, and b's lease still works
    expect(coord.submit(a, lb!.lease, lb!.unit, forged(lb!.unit), 50)).toEqual({
      status: 'ignored',
      reason: 'lease belongs to another worker',
    });
    expect(coord.submit(b, lb!.lease, lb!.unit, truth(lb!.unit), 50).status).not.toBe('ignored');

    const otherUnit = (lc!.unit + 1) % 6;
    expect(coord.submit(c, lc!.lease, otherUnit, truth(otherUnit), 50)).toEqual({
      status: 'ignored',
      reason: `lease is for unit ${lc!.unit}, got unit ${otherUnit}`,
    });
    expect(coord.submit(c, lc!.lease, lc!.unit, truth(lc!.unit), 50).status).not.toBe('ignored');
    expect(coord.submit(c, new Uint8Array(16), 0, truth(0), 50).status).toBe('ignored');
    expect(coord.submit(c, new Uint8Array(3), 0, truth(0), 50).status).toBe('ignored');
    expect(coord.reputation.honesty(a)).toBe(0.5); // ignored input leaves no mark
  });

  it('disputes a result back faster than a unit can run, and does not count it', () => {
    const { coord, clock } = setup({ units: 1, policy: { replication: 1, minUnitMs: 100 } });
    const [a, b, c] = [key(1), key(2), key(3)];

    const [la] = coord.assign(a, 1);
    clock.advance(150);
    const fast = coord.submit(a, la!.lease, 0, truth(0), 20); // claims 20 ms of run time
    expect(fast).toMatchObject({ status: 'disputed' });
    expect(fast.verified).toBeUndefined();
    expect(coord.verifiedHash(0)).toBeUndefined(); // with replication 1, a counted result would have verified it
    expect(coord.acceptedUnits(a)).toEqual([]);
    expect(coord.reputation.honesty(a)).toBeLessThan(0.5);
    expect(coord.reputation.isBanned(a)).toBe(false);

    const [lb] = coord.assign(b, 1);
    expect(lb!.unit).toBe(0); // the unit needs another replica
    clock.advance(10); // but only 10 ms of wall time pass
    expect(coord.submit(b, lb!.lease, 0, truth(0), 500)).toMatchObject({ status: 'disputed' });

    expect(coord.assign(a, 1)).toEqual([]); // a has answered the only unit
    const [lc] = coord.assign(c, 1);
    clock.advance(150);
    expect(coord.submit(c, lc!.lease, 0, truth(0), 120)).toEqual({
      status: 'accepted',
      verified: [{ unit: 0, hash: truth(0) }],
    });
    expect(coord.isComplete()).toBe(true);
    expect(coord.acceptedUnits(c)).toEqual([0]);
    expect(coord.acceptedUnits(a)).toEqual([]);
  });
});

describe('coordinator: trust ramp', () => {
  it('doubles a clean worker\'s batch per verified result, up to maxBatch, and resets it to 1 after a bad one', () => {
    const { coord, clock } = setup({ units: 400, canaries: [0], policy: { replication: 1 }, adaptiveStreak: 1000 });
    const w = key(1);
    expect(coord.batchLimit(w)).toBe(1);
    const first = coord.assign(w, 1000);
    expect(first.map((a) => a.unit)).toEqual([0]); // a newcomer's single unit is the canary
    expect(coord.assign(w, 1000)).toEqual([]);

    // submit one result at a time; the assign that follows tops the worker up to its limit
    const held: Assignment[] = [...first];
    const limits: number[] = [];
    const batches: number[] = [first.length];
    for (let i = 0; i < 8; i++) {
      clock.advance(20);
      const a = held.shift()!;
      expect(coord.submit(w, a.lease, a.unit, truth(a.unit), 20).status).toBe('accepted');
      limits.push(coord.batchLimit(w));
      const more = coord.assign(w, 1000);
      batches.push(more.length);
      held.push(...more);
      expect(held).toHaveLength(coord.batchLimit(w));
    }
    expect(limits).toEqual([2, 4, 8, 16, 32, 64, 64, 64]);
    expect(batches).toEqual([1, 2, 3, 5, 9, 17, 33, 1, 1]);

    // a disputed (too fast) result is a bad result: back to one unit at a time
    const a = held.shift()!;
    expect(coord.submit(w, a.lease, a.unit, truth(a.unit), 1).status).toBe('disputed');
    expect(coord.reputation.cleanStreak(w)).toBe(0);
    expect(coord.batchLimit(w)).toBe(1);
    expect(coord.assign(w, 1000)).toEqual([]); // still holds 63 leases
    expect(coord.workerLost(w)).toHaveLength(63);
    expect(coord.assign(w, 1000)).toHaveLength(1);

    // so is a mismatch recorded in the book
    const v = key(2);
    for (let i = 0; i < 5; i++) coord.reputation.recordGood(v);
    expect(coord.batchLimit(v)).toBe(32);
    coord.reputation.recordBad(v, 'mismatch');
    expect(coord.batchLimit(v)).toBe(1);
    expect(coord.assign(v, 1000)).toHaveLength(1);
  });
});

describe('coordinator: adaptive replication', () => {
  it("accepts some units of a long-clean worker alone, samples them like any other, and never a newcomer's", () => {
    const reputation = new ReputationBook();
    const trusted = key(0x7);
    for (let i = 0; i < 30; i++) reputation.recordGood(trusted); // a record from earlier tasks
    expect(reputation.honesty(trusted)).toBeGreaterThanOrEqual(ADAPTIVE.minHonesty);
    const { coord, clock } = setup({ units: 200, reputation, policy: { samplePpm: 1_000_000 } });

    const batch = coord.assign(trusted, 64);
    expect(batch).toHaveLength(64);
    clock.advance(20);
    const alone: number[] = [];
    for (const a of batch) {
      const out = coord.submit(trusted, a.lease, a.unit, truth(a.unit), 20);
      if (out.status === 'accepted') {
        expect(out.verified).toEqual([{ unit: a.unit, hash: truth(a.unit) }]);
        alone.push(a.unit);
      } else {
        expect(out).toEqual({ status: 'pending', reason: 'waiting for 1 more matching result(s)' });
      }
    }
    // about soloProbability of them, and not all: a quarter still meet a second opinion
    expect(alone.length).toBeGreaterThan(32);
    expect(alone.length).toBeLessThan(64);
    expect(coord.acceptedUnits(trusted)).toEqual([...alone].sort((a, b) => a - b));
    // every unit accepted alone is still recomputed by the tasker (samplePpm = 100%)
    expect(coord.localChecks()).toEqual(alone.map((unit) => ({ unit, reason: 'sample' })));

    // a newcomer's results never stand alone, however many it returns
    const fresh = key(0x8);
    for (let i = 0; i < 20; i++) {
      const got = coord.assign(fresh, 64);
      expect(got).toHaveLength(1);
      clock.advance(20);
      const out = coord.submit(fresh, got[0]!.lease, got[0]!.unit, truth(got[0]!.unit), 20);
      // it gets unstarted units first, so nothing it returns is confirmed yet
      expect(out).toEqual({ status: 'pending', reason: 'waiting for 1 more matching result(s)' });
    }
  });

  it('gives no solo units to a worker whose streak is long but honesty is not', () => {
    const reputation = new ReputationBook();
    const w = key(0x9);
    for (let i = 0; i < 40; i++) reputation.recordGood(w);
    reputation.recordBad(w, 'mismatch');
    for (let i = 0; i < 12; i++) reputation.recordGood(w);
    expect(reputation.cleanStreak(w)).toBe(12);
    expect(reputation.honesty(w)).toBeLessThan(ADAPTIVE.minHonesty);
    const { coord, clock } = setup({ units: 100, reputation });
    const batch = coord.assign(w, 64);
    clock.advance(20);
    const outs = batch.map((a) => coord.submit(w, a.lease, a.unit, truth(a.unit), 20).status);
    expect(outs).toEqual(batch.map(() => 'pending'));
  });
});

describe('coordinator: sampled recomputation', () => {
  it('queues every verified unit for local recomputation at samplePpm = 1e6', () => {
    const { coord, clock } = setup({ units: 10, policy: { samplePpm: 1_000_000 }, adaptiveStreak: 1000 });
    const log = drive(coord, clock, { [key(1)]: honest, [key(2)]: honest });
    expectAllCorrect(coord);
    expect(log.checks.map((c) => c.reason)).toEqual(Array(10).fill('sample'));
    expect(log.checks.map((c) => c.unit).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(log.judgments.every((j) => j.status === 'accepted')).toBe(true);
    expect(log.judgments).toHaveLength(20);
  });

  it('withdraws and bans everyone who vouched for a unit the tasker contradicts', () => {
    const { coord, clock } = setup({ units: 2, policy: { samplePpm: 1_000_000 } });
    const [a, b] = [key(0xa), key(0xb)];
    // two colluders take both units, in both orders
    const [x] = coord.assign(a, 1);
    const [y] = coord.assign(b, 1);
    expect(y!.unit).toBe(1 - x!.unit); // unstarted before extra replicas
    clock.advance(20);
    expect(coord.submit(a, x!.lease, x!.unit, forged(x!.unit), 20).status).toBe('pending');
    expect(coord.submit(b, y!.lease, y!.unit, forged(y!.unit), 20).status).toBe('pending');
    const [x2] = coord.assign(a, 1);
    const [y2] = coord.assign(b, 1);
    expect([x2!.unit, y2!.unit]).toEqual([y!.unit, x!.unit]);
    clock.advance(20);
    expect(coord.submit(a, x2!.lease, x2!.unit, forged(x2!.unit), 20)).toEqual({
      status: 'accepted',
      verified: [{ unit: y!.unit, hash: forged(y!.unit) }],
    });
    coord.submit(b, y2!.lease, y2!.unit, forged(y2!.unit), 20);
    expect(coord.progress()).toEqual({ verified: 2, units: 2, outstanding: 0, pendingChecks: 2 });
    expect(coord.isComplete()).toBe(false); // the samples are still owed
    expect(coord.acceptedUnits(a)).toEqual([0, 1]);

    const checks = coord.localChecks();
    expect(checks).toEqual([
      { unit: y!.unit, reason: 'sample' },
      { unit: x!.unit, reason: 'sample' },
    ]);
    const judged = coord.resolveLocal(y!.unit, truth(y!.unit));
    expect(judged).toEqual(
      expect.arrayContaining([
        { worker: a, unit: y!.unit, status: 'rejected' },
        { worker: b, unit: y!.unit, status: 'rejected' },
        { worker: a, unit: x!.unit, status: 'rejected' },
        { worker: b, unit: x!.unit, status: 'rejected' },
      ]),
    );
    expect(judged).toHaveLength(4);
    expect([a, b].map((w) => coord.reputation.isBanned(w))).toEqual([true, true]);
    expect(coord.acceptedUnits(a)).toEqual([]);
    expect(coord.verifiedHash(y!.unit)).toEqual(truth(y!.unit));
    expect(coord.verifiedHash(x!.unit)).toBeUndefined(); // reopened: it was verified only on their word
    expect(coord.progress()).toEqual({ verified: 1, units: 2, outstanding: 0, pendingChecks: 1 });

    // an honest worker redoes it; the owed check settles it
    const h = key(1);
    const [z] = coord.assign(h, 1);
    expect(z!.unit).toBe(x!.unit);
    clock.advance(20);
    expect(coord.submit(h, z!.lease, z!.unit, truth(z!.unit), 20).status).toBe('pending');
    expect(coord.resolveLocal(x!.unit, truth(x!.unit))).toEqual([{ worker: h, unit: x!.unit, status: 'accepted' }]);
    expectAllCorrect(coord);
    expect(coord.acceptedUnits(h)).toEqual([x!.unit]);
  });
});

describe('reputation book', () => {
  it('starts a new key neutral and untrusted', () => {
    const book = new ReputationBook();
    expect(book.honesty(key(1))).toBe(0.5);
    expect(book.availability(key(1))).toBe(0.5);
    expect(book.cleanStreak(key(1))).toBe(0);
    expect(book.isBanned(key(1))).toBe(false);
    expect(book.snapshot()).toEqual([]);
  });

  it('lets one bad result outweigh many good ones', () => {
    const book = new ReputationBook();
    const w = key(1);
    for (let i = 0; i < 20; i++) book.recordGood(w);
    expect(book.honesty(w)).toBeGreaterThan(0.9);
    expect(book.cleanStreak(w)).toBe(20);
    book.recordBad(w, 'mismatch');
    expect(book.honesty(w)).toBeLessThan(book.honesty(key(2))); // below a fresh key
    expect(book.honesty(w)).toBeCloseTo(0.414, 3);
    expect(book.cleanStreak(w)).toBe(0);
    expect(book.isBanned(w)).toBe(false);
  });

  it('weighs recent behaviour more', () => {
    const book = new ReputationBook();
    const [reformed, lapsed] = [key(1), key(2)];
    book.recordBad(reformed, 'mismatch');
    for (let i = 0; i < 60; i++) book.recordGood(reformed);
    for (let i = 0; i < 60; i++) book.recordGood(lapsed);
    book.recordBad(lapsed, 'mismatch');
    // the same events, in the other order
    expect(book.honesty(reformed)).toBeGreaterThan(book.honesty(lapsed) + 0.1);
    // an old bad result fades: two half-lives on, it weighs a quarter
    const fading = key(3);
    book.recordBad(fading, 'mismatch');
    const seen: number[] = [];
    for (let i = 0; i < 3 * REPUTATION.honestyHalfLifeEvents; i++) {
      book.recordGood(fading);
      seen.push(book.honesty(fading));
    }
    expect(seen.every((h, i) => i === 0 || h > seen[i - 1]!)).toBe(true);
    expect(book.honesty(fading)).toBeGreaterThan(ADAPTIVE.minHonesty);
  });

  it('bans a proven cheater for good', () => {
    const book = new ReputationBook();
    const w = key(1);
    for (let i = 0; i < 100; i++) book.recordGood(w);
    book.recordBad(w, 'proven');
    expect(book.isBanned(w)).toBe(true);
    expect(book.honesty(w)).toBe(0);
    for (let i = 0; i < 100; i++) book.recordGood(w);
    expect(book.honesty(w)).toBe(0);
    expect(book.cleanStreak(w)).toBe(0);
  });

  it('keeps availability apart from honesty', () => {
    const book = new ReputationBook();
    const [flaky, liar] = [key(1), key(2)];
    for (let i = 0; i < 10; i++) book.recordLost(flaky);
    expect(book.availability(flaky)).toBeCloseTo(1 / 12, 1);
    expect(book.honesty(flaky)).toBe(0.5);
    book.recordBad(liar, 'mismatch');
    book.recordDone(liar);
    expect(book.availability(liar)).toBeCloseTo(2 / 3, 10);
    book.recordBad(liar, 'proven');
    expect(book.availability(liar)).toBeCloseTo(2 / 3, 10);
    // a dispute is a small penalty next to a mismatch
    const slow = key(3);
    book.recordBad(slow, 'dispute');
    expect(book.honesty(slow)).toBeCloseTo(1 / 5, 10);
    const zero = { banned: false, cleanStreak: 0, good: 0, disputes: 0, mismatches: 0, done: 0, lost: 0 };
    expect(book.snapshot()).toEqual([
      { ...zero, key: flaky, honesty: 0.5, availability: book.availability(flaky), lost: 10 },
      { ...zero, key: liar, honesty: 0, availability: book.availability(liar), banned: true, mismatches: 1, done: 1 },
      { ...zero, key: slow, honesty: book.honesty(slow), availability: 0.5, disputes: 1 },
    ]);
  });
});

describe('coordinator: property', () => {
  it('verifies every unit with its true hash, whatever mix of workers it meets', () => {
    const config = fc
      .record({
        seed: fc.integer(),
        units: fc.integer({ min: 1, max: 30 }),
        replication: fc.integer({ min: 1, max: 3 }),
        honest: fc.integer({ min: 2, max: 4 }),
        cheaters: fc.integer({ min: 0, max: 2 }),
        colluders: fc.integer({ min: 0, max: 3 }),
        sleepers: fc.integer({ min: 0, max: 2 }),
        sleepAfter: fc.integer({ min: 1, max: 14 }),
        vanishers: fc.integer({ min: 0, max: 2 }),
        vanishAfter: fc.integer({ min: 0, max: 6 }),
        canaries: fc.integer({ min: 0, max: 4 }),
        canaryPpm: fc.constantFrom(0, 50_000, 200_000),
        samplePpm: fc.constantFrom(0, 100_000, 1_000_000),
        want: fc.integer({ min: 1, max: 8 }),
        adaptiveStreak: fc.integer({ min: 1, max: 12 }),
      })
      // What the policy cannot promise is left out: more honest replicas
      // needed than there are honest workers; a single unchecked result
      // standing alone with cheaters about and no canary to catch them; a
      // colluding group big enough to verify a unit among itself before
      // anything catches it, unless every unit is recomputed; and sleepers
      // (honest until trusted, then forging, even alone under adaptive
      // replication), which only full sampling is sure to catch.
      .filter((c) => c.replication <= c.honest)
      .filter((c) => c.replication > 1 || c.canaries > 0 || c.cheaters + c.colluders === 0 || c.samplePpm === 1_000_000)
      .filter((c) => c.colluders < c.replication || c.canaries > 0 || c.samplePpm === 1_000_000)
      .filter((c) => c.sleepers === 0 || c.samplePpm === 1_000_000)
      .filter((c) => c.canaries < c.units);

    fc.assert(
      fc.property(config, (c) => {
        const canaryUnits = Array.from({ length: c.canaries }, (_, i) => Math.floor((i * c.units) / c.canaries));
        const { coord, clock, rng } = setup({
          units: c.units,
          canaries: canaryUnits,
          seed: c.seed,
          policy: { replication: c.replication, canaryPpm: c.canaryPpm, samplePpm: c.samplePpm },
          adaptiveStreak: c.adaptiveStreak,
        });
        const workers: Record<string, Behaviour> = {};
        const honestKeys: string[] = [];
        let n = 0;
        const add = (count: number, behave: () => Behaviour, list?: string[]): void => {
          for (let i = 0; i < count; i++) {
            const k = key(++n);
            workers[k] = behave();
            list?.push(k);
          }
        };
        add(c.honest, () => honest, honestKeys);
        add(c.cheaters, () => cheater(rng));
        add(c.colluders, () => colluder);
        add(c.sleepers, () => sleeper(c.sleepAfter));
        add(c.vanishers, () => vanisher(c.vanishAfter, n % 2 ? 'drop' : 'vanish'), honestKeys);
        // the order workers act in, shuffled by the seed
        const order = Object.keys(workers);
        const shuffle = mulberry32(c.seed ^ 0x5bd1e995);
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(shuffle() * (i + 1));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        const shuffled = Object.fromEntries(order.map((k) => [k, workers[k]!]));

        drive(coord, clock, shuffled, { rounds: 600, want: c.want });
        expectAllCorrect(coord);
        for (const k of honestKeys) expect(coord.reputation.isBanned(k)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

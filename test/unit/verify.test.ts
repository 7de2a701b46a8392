// The tasker's verification engine, driven as a simulation: scripted workers
// (honest, cheating, colluding, vanishing), a seeded random source and a clock
// the test moves by hand, so every run is the same run.
//
// A submission only ever comes back `pending` (or `disputed`, `ignored`, or
// `rejected` for a key already banned): the verdicts that receipts carry come
// from settle() once a verification epoch has closed, so the tests read
// verdicts there. Tests of one older mechanism in isolation pin the defences
// against coordinated cheaters (tasker/verify/defence.ts) that would mask it,
// and say which and why; everything else runs with the defaults.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, toHex } from '../../protocol/bytes.ts';
// The simulation's seeded randomness and true hashes: the same world the sim's campaigns run in.
import { seeded as mulberry32, trueHash as truth } from '../../testnet/sim/rng.ts';
import { ADAPTIVE, Coordinator } from '../../tasker/verify/coordinator.ts';
import type {
  Assignment,
  Judgment,
  LocalCheck,
  Settlement,
  SubmitOutcome,
  VerifyPolicy,
} from '../../tasker/verify/coordinator.ts';
import { DEFENCE, RecentShare, samplingRate } from '../../tasker/verify/defence.ts';
import type { Defence } from '../../tasker/verify/defence.ts';
import { REPUTATION, ReputationBook } from '../../tasker/verify/reputation.ts';

// ---- deterministic world ---------------------------------------------------

class Clock {
  t = 1_000_000;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
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
  defence?: Partial<Defence>;
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
    defence: s.defence,
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
  /** Every final verdict, gathered from settle() after every step. */
  settlements: Settlement[];
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
    settlements: [],
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
        log.settlements.push(...coord.settle());
      }
      if (log.gone.has(worker)) continue;
      const next = coord.assign(worker, want);
      if (!log.first.has(worker) && next.length > 0) log.first.set(worker, next[0]!.unit);
      held.set(worker, next);
    }
    for (const check of coord.localChecks()) {
      log.checks.push(check);
      log.judgments.push(...coord.resolveLocal(check.unit, truth(check.unit)));
      log.settlements.push(...coord.settle());
    }
    log.settlements.push(...coord.settle());
  }
  log.settlements.push(...coord.settle());
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

const PENDING = { status: 'pending', reason: 'the verdict comes when this epoch closes' } as const;

/** The verdicts told about one worker's results, as `unit:status`, by unit. */
function verdictsOf(settlements: Settlement[], worker: string): string[] {
  return settlements
    .filter((s) => s.worker === worker)
    .sort((a, b) => a.unit - b.unit)
    .map((s) => `${s.unit}:${s.status}`);
}

/** `unit:accepted` for each unit, sorted: what verdictsOf gives for a worker all of whose results were good. */
const allAccepted = (units: number[]): string[] => [...units].sort((a, b) => a - b).map((u) => `${u}:accepted`);

/**
 * The older mechanisms alone: no vouching for young keys, a verdict with
 * every verified unit, no unpaid warm-up, a fresh key's first unit always a
 * known-answer one, and never handed to two at once. Tests that use it say
 * which of these they need.
 */
const ISOLATED: Partial<Defence> = { matureAfter: 0, epochUnits: 1, warmupUnits: 0, freshCheck: 1, coIssue: 0 };

// ---- scenarios ------------------------------------------------------------

describe('coordinator: honest workers', () => {
  it('verifies every unit of a 20-unit task with three honest workers, accepting every result', () => {
    // adaptive replication is tested on its own below; here every unit gets two workers.
    // ISOLATED: a fresh key's first unit is the canary, and no unit needs the
    // tasker's vouch, so the replica cover and the absence of checks are exact.
    const policy = { canaryPpm: 50_000 };
    const { coord, clock } = setup({ units: 20, canaries: [3, 11], policy, adaptiveStreak: 1000, defence: ISOLATED });
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
      expect(statuses(log.outcomes.get(w)).every((x) => x === 'pending')).toBe(true);
      // every result it gave ends up accepted and paid: what it computed is what it is paid for
      expect(coord.acceptedUnits(w)).toEqual([...log.submitted.get(w)!].sort((a, b) => a - b));
      expect(verdictsOf(log.settlements, w)).toEqual(allAccepted(log.submitted.get(w)!));
      for (const u of coord.acceptedUnits(w)) cover.set(u, (cover.get(u) ?? 0) + 1);
      expect(coord.reputation.isBanned(w)).toBe(false);
      expect(coord.reputation.honesty(w)).toBeGreaterThan(0.5);
    }
    expect(log.settlements.every((s) => s.paid)).toBe(true);
    for (const u of regular) expect(cover.get(u)).toBe(2);
    // every "pending" was announced as verified later, each unit once
    expect(log.verifiedLog.map((v) => v.unit).sort((a, b) => a - b)).toEqual(regular);
  });

  it('with the default defences, accepts every honest result and vouches for units until the keys mature', () => {
    const policy = { canaryPpm: 50_000 };
    const { coord, clock } = setup({ units: 40, canaries: [3, 11], policy, adaptiveStreak: 1000 });
    const workers = { [key(1)]: honest, [key(2)]: honest, [key(3)]: honest };
    const log = drive(coord, clock, workers);

    expectAllCorrect(coord);
    // young keys never verify each other: the tasker recomputed their first units
    expect(log.checks.filter((c) => c.reason === 'vouch').length).toBeGreaterThan(0);
    // later units were verified by the workers' agreement alone
    expect(log.verifiedLog.length).toBeGreaterThan(0);
    expect(log.checks.every((c) => c.reason === 'vouch' || c.reason === 'sample')).toBe(true);
    expect(log.judgments.every((j) => j.status === 'accepted')).toBe(true);
    for (const w of Object.keys(workers)) {
      expect(verdictsOf(log.settlements, w)).toEqual(allAccepted(log.submitted.get(w)!));
      // each key's first two credited results are its unpaid admission
      const unpaid = log.settlements.filter((s) => s.worker === w && !s.paid);
      expect(unpaid).toHaveLength(DEFENCE.warmupUnits);
      expect(unpaid.every((s) => s.reason === 'unpaid: admission warm-up')).toBe(true);
      expect(coord.reputation.isBanned(w)).toBe(false);
    }
  });
});

describe('coordinator: cheaters', () => {
  it('catches a worker that returns wrong hashes on its first unit, a canary', () => {
    // freshCheck 1, coIssue 0: the first unit is always a canary, the old rule under test.
    const { coord, clock, rng } = setup({ units: 12, canaries: [0, 5], defence: { freshCheck: 1, coIssue: 0 } });
    const bad = key(9);
    const log = drive(coord, clock, { [key(1)]: honest, [bad]: cheater(rng), [key(2)]: honest });

    const first = log.first.get(bad)!;
    expect([0, 5]).toContain(first);
    // banned at once, but the submission looks like any other: the verdict waits for the epoch,
    // and until then the key keeps getting units (known-answer ones) and hearing "pending"
    const outcomes = log.outcomes.get(bad)!;
    expect(outcomes[0]).toEqual({ ...PENDING, penalised: [bad] });
    expect(outcomes.every((o) => o.status === 'pending')).toBe(true);
    const told = log.settlements.filter((s) => s.worker === bad);
    expect(told[0]).toEqual(expect.objectContaining({ worker: bad, unit: first, status: 'rejected', reason: 'worker proven to cheat', paid: false }));
    expect(told).toHaveLength(outcomes.length);
    expect(told.every((s) => s.status === 'rejected' && !s.paid)).toBe(true);
    expect(coord.reputation.isBanned(bad)).toBe(true);
    expect(coord.reputation.honesty(bad)).toBe(0);
    expect(coord.reputation.honesty(bad)).toBeLessThan(new ReputationBook().honesty(key(100)));
    expect(coord.acceptedUnits(bad)).toEqual([]);
    expect(coord.assign(bad, 10)).toEqual([]);
    expect(coord.batchLimit(bad)).toBe(0);
    expectAllCorrect(coord);
    for (const w of [key(1), key(2)]) expect(verdictsOf(log.settlements, w)).toEqual(allAccepted(log.submitted.get(w)!));
  });

  it('stops two colluders who return the same wrong hash for everything, at their canaries', () => {
    // freshCheck 1, coIssue 0: the first unit is always a canary, the old rule under test.
    const { coord, clock } = setup({ units: 16, canaries: [2, 7, 13], defence: { freshCheck: 1, coIssue: 0 } });
    const [a, b] = [key(0xa), key(0xb)];
    const log = drive(coord, clock, { [key(1)]: honest, [a]: colluder, [key(2)]: honest, [b]: colluder });
    expectAllCorrect(coord);
    for (const w of [a, b]) {
      // caught at their canaries; until the epoch closes they hear only "pending"
      // (and "rejected" at once only after its ban has been told)
      const heard = statuses(log.outcomes.get(w));
      expect(heard[0]).toBe('pending');
      expect(heard.every((status) => status === 'pending' || status === 'rejected')).toBe(true);
      const told = log.settlements.filter((s) => s.worker === w).map((s) => s.status);
      expect(told.length).toBe(log.outcomes.get(w)!.length);
      expect(told.every((status) => status === 'rejected')).toBe(true);
      expect(coord.reputation.isBanned(w)).toBe(true);
    }
    expect(log.verifiedLog.every((v) => equalBytes(v.hash, truth(v.unit)))).toBe(true);
  });

  it('undoes what colluders slipped past a canary: tiebreaks, bans, withdrawal and re-verification', () => {
    // The colluders know a newcomer's first unit is a canary and answer it
    // honestly; after that they agree on a forged hash. They start before the
    // honest workers, so they verify forged units between themselves first.
    // Canaries mixed in at 5%, tiebreaks against honest workers, and the
    // withdrawal of everything a proven cheater touched must still leave
    // every unit right. matureAfter 0: otherwise two young keys never verify
    // a unit between themselves (tested below), and the withdrawal path is
    // never reached; freshCheck 1, coIssue 0: the first unit is a canary.
    let withdrawals = 0;
    let tiebreaks = 0;
    const defence = { matureAfter: 0, freshCheck: 1, coIssue: 0 };
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { coord, clock } = setup({ units: 30, canaries: [4, 9, 17, 25], policy: { canaryPpm: 50_000 }, seed, defence });
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
      expect(log.settlements.filter((s) => s.status === 'rejected').every((s) => s.worker === a || s.worker === b)).toBe(true);
      for (const w of [key(1), key(2)]) expect(verdictsOf(log.settlements, w)).toEqual(allAccepted(log.submitted.get(w)!));
      // a forged hash that had been verified was later replaced by the true one
      if (log.verifiedLog.some((v) => !equalBytes(v.hash, truth(v.unit)))) withdrawals++;
      if (log.checks.some((ch) => ch.reason === 'tiebreak')) tiebreaks++;
    }
    // these seeds exercise both paths
    expect(withdrawals).toBeGreaterThan(0);
    expect(tiebreaks).toBeGreaterThan(0);
  });

  it('reopens a unit two colluders verified together once one is proven, and catches the other through the tasker', () => {
    // Each first unit is a canary (freshCheck 1, coIssue 0), and two young
    // keys may verify a unit together (matureAfter 0). Verdicts keep their
    // default epoch: nothing is told before the task completes.
    const defence = { matureAfter: 0, freshCheck: 1, coIssue: 0 };
    const { coord, clock } = setup({ units: 4, canaries: [0, 1], defence });
    const [a, b, h] = [key(0xa), key(0xb), key(1)];
    const answer = (w: string, x: Assignment, hash: Uint8Array): SubmitOutcome => {
      clock.advance(20);
      return coord.submit(w, x.lease, x.unit, hash, 20);
    };
    const told: Settlement[] = [];
    // both pass their first unit, a canary, honestly
    const firsts: number[] = [];
    for (const w of [a, b]) {
      const [c] = coord.assign(w, 1);
      expect([0, 1]).toContain(c!.unit);
      expect(answer(w, c!, truth(c!.unit))).toEqual(PENDING);
      firsts.push(c!.unit);
    }
    const ac = firsts[0];
    // a takes both regular units, one at a time (its ramp has nothing told to climb on);
    // b replicates one of them and they agree on a forgery
    const pair: Assignment[] = [];
    for (let i = 0; i < 2; i++) {
      const [x] = coord.assign(a, 2);
      pair.push(x!);
      expect(answer(a, x!, forged(x!.unit))).toEqual(PENDING);
    }
    expect(pair.map((x) => x.unit).sort()).toEqual([2, 3]);
    const [bx] = coord.assign(b, 1);
    const u = bx!.unit;
    const v = 5 - u;
    expect(answer(b, bx!, forged(u))).toEqual({ ...PENDING, verified: [{ unit: u, hash: forged(u) }] });
    expect(coord.verifiedHash(u)).toEqual(forged(u));
    told.push(...coord.settle());

    // an honest worker meets a's forgery on the other unit: a tiebreak
    const [hc] = coord.assign(h, 1);
    expect(answer(h, hc!, truth(hc!.unit))).toEqual(PENDING);
    const [hv] = coord.assign(h, 2);
    expect(hv!.unit).toBe(v);
    expect(answer(h, hv!, truth(v))).toEqual(PENDING);
    expect(coord.localChecks()).toEqual([{ unit: v, reason: 'tiebreak' }]);
    const judged = coord.resolveLocal(v, truth(v));
    expect(judged[0]).toEqual({ worker: h, unit: v, status: 'accepted' });
    expect(judged.slice(1).sort((x, y) => x.unit - y.unit)).toEqual(
      // everything a ever gave is withdrawn: its honest canary answer, and the unit it verified with b
      [ac!, 2, 3].sort().map((unit) => ({ worker: a, unit, status: 'rejected' })),
    );
    expect(coord.reputation.isBanned(a)).toBe(true);
    // b agreed with a's withdrawn answer: its vote alone does not stand, the tasker recomputes the unit
    expect(coord.verifiedHash(u)).toBeUndefined();
    expect(coord.isComplete()).toBe(false);
    expect(coord.localChecks()).toEqual([{ unit: u, reason: 'reopened' }]);
    expect(coord.assign(h, 1)).toEqual([]); // nothing left for a worker: the unit awaits the tasker
    told.push(...coord.settle());

    // the tasker's own answer catches b, without another worker touching the unit
    expect(coord.resolveLocal(u, truth(u))).toEqual(
      [firsts[1]!, u].map((unit) => ({ worker: b, unit, status: 'rejected' })),
    );
    expect(coord.reputation.isBanned(b)).toBe(true);
    expectAllCorrect(coord);
    expect(coord.acceptedUnits(h)).toEqual([hc!.unit, v].sort());
    expect(coord.acceptedUnits(a)).toEqual([]);
    expect(coord.acceptedUnits(b)).toEqual([]);
    expect(told).toEqual([]); // nothing was told before the task completed
    told.push(...coord.settle());
    expect(verdictsOf(told, h)).toEqual(allAccepted([hc!.unit, v]));
    // every result is told once, at completion: the forged unit that had been
    // verified is rejected like the rest, nothing of a's or b's paid
    expect(told).toHaveLength(2 + 3 + 2);
    expect(told.filter((s) => s.worker === a || s.worker === b).every((s) => s.status === 'rejected' && !s.paid)).toBe(
      true,
    );
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
    expect(coord.submit(a, la[0]!.lease, 0, forged(0), 50)).toEqual(PENDING);
    expect(coord.submit(b, lb[0]!.lease, 0, forged(0), 50)).toEqual(PENDING);
    // the results disagree, but the outcome says no more than any other
    expect(coord.submit(h, lh[0]!.lease, 0, truth(0), 50)).toEqual(PENDING);
    expect(coord.verifiedHash(0)).toBeUndefined(); // two against one decides nothing
    expect(coord.settle()).toEqual([]);
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
    // complete: every verdict is told at once
    const told = coord.settle();
    expect(told.map((s) => [s.worker, s.status, s.reason])).toEqual([
      [a, 'rejected', 'worker proven to cheat'],
      [b, 'rejected', 'worker proven to cheat'],
      [h, 'accepted', 'unpaid: admission warm-up'],
    ]);
    expect(coord.settle()).toEqual([]); // each once
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
    // what it did return before vanishing is accepted like anyone's
    expect(verdictsOf(log.settlements, v)).toEqual(allAccepted(log.submitted.get(v)!));
    const before = log.gone.get(v)!;
    expect(coord.reputation.availability(v)).toBeLessThan(before.availability);
    expect(coord.reputation.honesty(v)).toBeGreaterThanOrEqual(before.honesty);
    expect(coord.reputation.honesty(v)).toBeGreaterThan(0.5);
    expect(coord.reputation.isBanned(v)).toBe(false);
    expect(coord.reputation.snapshot().find((e) => e.key === v)).toMatchObject({ done: 6, lost: lostUnits.length });
  });

  it('drops every lease of a worker whose connection died, at once', () => {
    // matureAfter 0: a young key's single-replica results would wait for the
    // tasker's vouch; epochUnits 1: the ramp this test leans on climbs only on told verdicts.
    const { coord, clock } = setup({ units: 8, policy: { replication: 1 }, defence: { matureAfter: 0, epochUnits: 1 } });
    const w = key(5);
    const book = coord.reputation;
    // two clean results: the ramp allows four leases
    for (let i = 0; i < 2; i++) {
      const [a] = coord.assign(w, 1);
      clock.advance(20);
      expect(coord.submit(w, a!.lease, a!.unit, truth(a!.unit), 20)).toEqual({
        ...PENDING,
        verified: [{ unit: a!.unit, hash: truth(a!.unit) }],
      });
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
    // a lost lease has no verdict: only the results that came back are told
    const told = coord.settle();
    expect(verdictsOf(told, w).map((x) => x.split(':')[1])).toEqual(['accepted', 'accepted']);
    expect(verdictsOf(told, other)).toEqual(allAccepted(got));
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
    expect(coord.settle()).toEqual([]); // an ignored result is owed no verdict
  });

  it('hands a unit whose lease ran out to other keys for a lease\'s time, and starts that key\'s batches again from one', () => {
    const reputation = new ReputationBook();
    const [sitter, other] = [key(1), key(2)];
    // clean keys from earlier tasks: each may hold a full batch
    for (let i = 0; i < 40; i++) for (const w of [sitter, other]) reputation.recordGood(w);
    const { coord, clock } = setup({ units: 3, leaseMs: 100, reputation, adaptiveStreak: 1000 });
    expect(coord.batchLimit(sitter)).toBe(16);
    const held = coord.assign(sitter, 3);
    expect(held).toHaveLength(3);
    clock.advance(101);
    expect(coord.expire()).toHaveLength(3);
    // the key sat on its leases to the end: it gets none of those units back, and its batch is one again
    expect(coord.batchLimit(sitter)).toBe(1);
    expect(coord.assign(sitter, 1)).toEqual([]);
    expect(coord.assign(other, 3).map((a) => a.unit).sort()).toEqual([0, 1, 2]);
    // a lease's time later the units are its to take again, one at a time
    clock.advance(101);
    coord.expire();
    expect(coord.assign(sitter, 3)).toHaveLength(1);
  });
});

describe('coordinator: keys taking turns on a unit', () => {
  it('computes a unit itself once its leases have run out unanswered three times, whoever held them', () => {
    const { coord, clock } = setup({ units: 1, leaseMs: 100 });
    const [k1, k2] = [key(1), key(2)];
    for (const [i, w] of [k1, k2, k1].entries()) {
      const [a] = coord.assign(w, 1);
      expect(a?.unit, `turn ${i}`).toBe(0);
      clock.advance(101);
      expect(coord.expire()).toEqual([{ worker: w, unit: 0 }]);
    }
    expect(coord.localChecks()).toEqual([{ unit: 0, reason: 'stalled' }]);
    expect(coord.assign(k2, 1)).toEqual([]); // nothing is left to hand out
    coord.resolveLocal(0, truth(0));
    expect(coord.verifiedHash(0)).toEqual(truth(0));
    expect(coord.isComplete()).toBe(true);
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
    // matureAfter 0: c's single result verifies the unit at once, as the
    // dispute test needs, instead of waiting for the tasker's vouch.
    const { coord, clock } = setup({ units: 1, policy: { replication: 1, minUnitMs: 100 }, defence: { matureAfter: 0 } });
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
    expect(coord.submit(c, lc!.lease, 0, truth(0), 120)).toEqual({ ...PENDING, verified: [{ unit: 0, hash: truth(0) }] });
    expect(coord.isComplete()).toBe(true);
    expect(coord.acceptedUnits(c)).toEqual([0]);
    expect(coord.acceptedUnits(a)).toEqual([]);
    // the disputed results are rejected in their receipts, though their hash was right
    expect(coord.settle().map((s) => [s.worker, s.status, s.reason])).toEqual([
      [a, 'rejected', 'back sooner than a unit can run'],
      [b, 'rejected', 'back sooner than a unit can run'],
      [c, 'accepted', 'unpaid: admission warm-up'],
    ]);
  });
});

describe('coordinator: trust ramp', () => {
  it('doubles a clean worker\'s batch per verified result, up to maxBatch, and resets it to 1 after a bad one', () => {
    // ISOLATED: the first unit is the canary, and a young key's results verify
    // without the tasker's vouch, so every result moves the ramp. maxBatch 64
    // shows the doubling over more steps (the default cap of 16 is tested below).
    const { coord, clock } = setup({
      units: 400,
      canaries: [0],
      policy: { replication: 1 },
      adaptiveStreak: 1000,
      maxBatch: 64,
      defence: ISOLATED,
    });
    const w = key(1);
    expect(coord.batchLimit(w)).toBe(1);
    const first = coord.assign(w, 1000);
    expect(first.map((a) => a.unit)).toEqual([0]); // a newcomer's single unit is the canary
    expect(coord.assign(w, 1000)).toEqual([]);

    // submit one result at a time; the assign that follows tops the worker up to its limit
    const held: Assignment[] = [...first];
    const limits: number[] = [];
    const batches: number[] = [first.length];
    const done: number[] = [];
    const told: Settlement[] = [];
    for (let i = 0; i < 8; i++) {
      clock.advance(20);
      const a = held.shift()!;
      const out = coord.submit(w, a.lease, a.unit, truth(a.unit), 20);
      // the canary is known already; every other unit is verified by this result alone
      expect(out).toEqual(a.unit === 0 ? PENDING : { ...PENDING, verified: [{ unit: a.unit, hash: truth(a.unit) }] });
      done.push(a.unit);
      told.push(...coord.settle());
      limits.push(coord.batchLimit(w));
      const more = coord.assign(w, 1000);
      batches.push(more.length);
      held.push(...more);
      expect(held).toHaveLength(coord.batchLimit(w));
    }
    // The ramp climbs on told verdicts: the canary's is told with the next unit verified.
    expect(limits).toEqual([1, 4, 8, 16, 32, 64, 64, 64]);
    expect(batches).toEqual([1, 1, 4, 5, 9, 17, 33, 1, 1]);
    expect(verdictsOf(told, w)).toEqual(allAccepted(done));

    // a disputed (too fast) result is a bad result: back to the bottom, once its verdict is told
    const a = held.shift()!;
    expect(coord.submit(w, a.lease, a.unit, truth(a.unit), 1).status).toBe('disputed');
    expect(coord.reputation.cleanStreak(w)).toBe(0);
    expect(coord.batchLimit(w)).toBe(64); // nothing told yet, so nothing shows
    const b = held.shift()!;
    clock.advance(20);
    coord.submit(w, b.lease, b.unit, truth(b.unit), 20); // verifies b: the epoch closes, both verdicts are told
    expect(coord.settle().map((s) => s.status)).toEqual(['rejected', 'accepted']);
    expect(coord.batchLimit(w)).toBe(2);
    expect(coord.assign(w, 1000)).toEqual([]); // still holds 62 leases
    // its connection dies with them: its batches start again from one
    expect(coord.workerLost(w)).toHaveLength(62);
    expect(coord.batchLimit(w)).toBe(1);
    expect(coord.assign(w, 1000)).toHaveLength(1);

    // a key arrives with the clean streak a shared book gives it, and a ban recorded there stops it
    const v = key(2);
    for (let i = 0; i < 5; i++) coord.reputation.recordGood(v);
    expect(coord.batchLimit(v)).toBe(32);
    coord.reputation.recordBad(v, 'proven');
    expect(coord.batchLimit(v)).toBe(0);
    expect(coord.assign(v, 1000)).toEqual([]);
  });

  it('caps a clean worker at 16 leases by default, so no key can hoard', () => {
    const reputation = new ReputationBook();
    const { coord } = setup({ units: 200, reputation, adaptiveStreak: 1000 });
    const w = key(1);
    // a streak carried in from earlier tasks: 40 clean results would be 2^40 leases without the cap
    for (let i = 0; i < 40; i++) reputation.recordGood(w);
    expect(coord.batchLimit(w)).toBe(16);
    expect(coord.assign(w, 1000)).toHaveLength(16);
    expect(coord.progress().outstanding).toBe(16);
    expect(coord.assign(w, 1000)).toEqual([]);
    // an explicit maxBatch still rules
    expect(setup({ units: 200, reputation, maxBatch: 40 }).coord.assign(w, 1000)).toHaveLength(40);
  });
});

describe('coordinator: adaptive replication', () => {
  it("accepts some units of a long-clean worker alone, samples them like any other, and never a newcomer's", () => {
    const reputation = new ReputationBook();
    const trusted = key(0x7);
    for (let i = 0; i < 30; i++) reputation.recordGood(trusted); // a record from earlier tasks
    expect(reputation.honesty(trusted)).toBeGreaterThanOrEqual(ADAPTIVE.minHonesty);
    // maxBatch 64: the share of solo units is counted over one batch of 64.
    const { coord, clock } = setup({ units: 200, reputation, policy: { samplePpm: 1_000_000 }, maxBatch: 64 });

    const batch = coord.assign(trusted, 64);
    expect(batch).toHaveLength(64);
    clock.advance(20);
    const alone: number[] = [];
    for (const a of batch) {
      const out = coord.submit(trusted, a.lease, a.unit, truth(a.unit), 20);
      if (out.verified) {
        expect(out).toEqual({ ...PENDING, verified: [{ unit: a.unit, hash: truth(a.unit) }] });
        alone.push(a.unit);
      } else {
        expect(out).toEqual(PENDING);
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
      // it gets unstarted units first, so nothing it returns is verified yet
      expect(out).toEqual(PENDING);
    }
    expect(coord.acceptedUnits(fresh)).toEqual([]);
  });

  it('gives no solo units to a worker whose streak is long but honesty is not', () => {
    const reputation = new ReputationBook();
    const w = key(0x9);
    for (let i = 0; i < 40; i++) reputation.recordGood(w);
    reputation.recordBad(w, 'mismatch');
    for (let i = 0; i < 12; i++) reputation.recordGood(w);
    expect(reputation.cleanStreak(w)).toBe(12);
    expect(reputation.honesty(w)).toBeLessThan(ADAPTIVE.minHonesty);
    // maxBatch 64: as many chances of a solo unit as the trusted worker above had.
    const { coord, clock } = setup({ units: 100, reputation, maxBatch: 64 });
    const batch = coord.assign(w, 64);
    expect(batch).toHaveLength(64);
    clock.advance(20);
    // a solo unit would be verified by its single result
    const outs = batch.map((a) => coord.submit(w, a.lease, a.unit, truth(a.unit), 20));
    expect(outs).toEqual(batch.map(() => PENDING));
    expect(coord.acceptedUnits(w)).toEqual([]);
  });
});

describe('coordinator: sampled recomputation', () => {
  it('queues every verified unit for local recomputation at samplePpm = 1e6', () => {
    // matureAfter 0: young keys' units would be vouched for instead of sampled.
    const { coord, clock } = setup({
      units: 10,
      policy: { samplePpm: 1_000_000 },
      adaptiveStreak: 1000,
      defence: { matureAfter: 0 },
    });
    const log = drive(coord, clock, { [key(1)]: honest, [key(2)]: honest });
    expectAllCorrect(coord);
    expect(log.checks.map((c) => c.reason)).toEqual(Array(10).fill('sample'));
    expect(log.checks.map((c) => c.unit).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(log.judgments.every((j) => j.status === 'accepted')).toBe(true);
    expect(log.judgments).toHaveLength(20);
    expect(log.settlements.every((s) => s.status === 'accepted')).toBe(true);
    expect(log.settlements).toHaveLength(20);
  });

  it('withdraws and bans everyone who vouched for a unit the tasker contradicts', () => {
    // matureAfter 0: two young keys may verify a unit between themselves, so
    // only the sample stands between their forgery and the merge.
    const { coord, clock } = setup({ units: 2, policy: { samplePpm: 1_000_000 }, defence: { matureAfter: 0 } });
    const [a, b] = [key(0xa), key(0xb)];
    // two colluders take both units, in both orders
    const [x] = coord.assign(a, 1);
    const [y] = coord.assign(b, 1);
    expect(y!.unit).toBe(1 - x!.unit); // unstarted before extra replicas
    clock.advance(20);
    expect(coord.submit(a, x!.lease, x!.unit, forged(x!.unit), 20)).toEqual(PENDING);
    expect(coord.submit(b, y!.lease, y!.unit, forged(y!.unit), 20)).toEqual(PENDING);
    const [x2] = coord.assign(a, 1);
    const [y2] = coord.assign(b, 1);
    expect([x2!.unit, y2!.unit]).toEqual([y!.unit, x!.unit]);
    clock.advance(20);
    expect(coord.submit(a, x2!.lease, x2!.unit, forged(x2!.unit), 20)).toEqual({
      ...PENDING,
      verified: [{ unit: y!.unit, hash: forged(y!.unit) }],
    });
    coord.submit(b, y2!.lease, y2!.unit, forged(y2!.unit), 20);
    expect(coord.progress()).toEqual({ verified: 2, units: 2, outstanding: 0, pendingChecks: 2 });
    expect(coord.isComplete()).toBe(false); // the samples are still owed
    expect(coord.acceptedUnits(a)).toEqual([0, 1]);
    expect(coord.settle()).toEqual([]); // and no verdict is told before them

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

    // the unit waits for the tasker's owed check, not for another worker
    const h = key(1);
    expect(coord.assign(h, 1).map((z) => z.unit)).not.toContain(x!.unit);
    expect(coord.resolveLocal(x!.unit, truth(x!.unit))).toEqual([]);
    expectAllCorrect(coord);
    const told = coord.settle();
    expect(told).toHaveLength(4);
    expect(told.every((s) => s.status === 'rejected' && s.reason === 'worker proven to cheat' && !s.paid)).toBe(true);
  });
});

describe('coordinator: verdicts in epochs', () => {
  it('withholds every verdict until its epoch closes, then tells a known-answer result and an ordinary one together', () => {
    const reputation = new ReputationBook();
    const [a, bad, b, c] = [key(0xa), key(0xd), key(0xb), key(0xc)];
    // b and c are well-known keys from earlier tasks
    for (let i = 0; i < 40; i++) for (const w of [b, c]) reputation.recordGood(w);
    // epochUnits 2: the second verified unit closes the first epoch; freshCheck 1, coIssue 0: a's first unit is the canary;
    // matureAfter 0, so that a unit a and b agree on is verified at once (the maturity rule has its own tests)
    const defence = { epochUnits: 2, freshCheck: 1, coIssue: 0, matureAfter: 0 };
    const { coord, clock } = setup({ units: 5, canaries: [0], reputation, adaptiveStreak: 1000, defence });
    const submit = (w: string, x: Assignment, hash: Uint8Array): SubmitOutcome => {
      clock.advance(20);
      return coord.submit(w, x.lease, x.unit, hash, 20);
    };

    const [k] = coord.assign(a, 1);
    expect(k!.unit).toBe(0);
    expect(submit(a, k!, truth(0))).toEqual(PENDING);
    expect(coord.settle()).toEqual([]); // the canary's answer is known, but its verdict waits
    // a cheater fails the same canary: banned now, told with everyone else
    const [kd] = coord.assign(bad, 1);
    expect(kd!.unit).toBe(0);
    expect(submit(bad, kd!, forged(0))).toEqual({ ...PENDING, penalised: [bad] });
    expect(coord.settle()).toEqual([]);
    // a's second unit is an ordinary one; its outcome is the canary's, word for word
    const [o] = coord.assign(a, 1);
    expect(o!.unit).not.toBe(0);
    expect(submit(a, o!, truth(o!.unit))).toEqual(PENDING);
    const bs = coord.assign(b, 4);
    expect(bs.map((x) => x.unit).sort()).toEqual([1, 2, 3, 4]);
    for (const x of bs) {
      submit(b, x, truth(x.unit));
      expect(coord.settle()).toEqual([]);
    }
    // a's ordinary unit is verified now, one unit into the epoch: still nothing is told
    expect(coord.verifiedHash(o!.unit)).toEqual(truth(o!.unit));
    expect(coord.settle()).toEqual([]);

    // c verifies a second unit: the epoch closes, and every decided verdict of it goes out at once
    const [cx] = coord.assign(c, 1);
    submit(c, cx!, truth(cx!.unit));
    const told = coord.settle();
    const names = new Map([
      [a, 'a'],
      [bad, 'bad'],
      [b, 'b'],
      [c, 'c'],
    ]);
    expect(told.map((s) => `${names.get(s.worker)}:${s.unit}:${s.status}`).sort()).toEqual(
      [
        `a:0:accepted`,
        `a:${o!.unit}:accepted`,
        `b:${o!.unit}:accepted`,
        `b:${cx!.unit}:accepted`,
        `bad:0:rejected`,
        `c:${cx!.unit}:accepted`,
      ].sort(),
    );
    // a's check and a's ordinary unit read the same: accepted, in a's unpaid warm-up, with their own leases
    const mine = told.filter((s) => s.worker === a).sort((x, y) => x.unit - y.unit);
    expect(mine.map((s) => ({ status: s.status, reason: s.reason, paid: s.paid }))).toEqual([
      { status: 'accepted', reason: 'unpaid: admission warm-up', paid: false },
      { status: 'accepted', reason: 'unpaid: admission warm-up', paid: false },
    ]);
    expect(mine.map((s) => toHex(s.lease))).toEqual([toHex(k!.lease), toHex(o!.lease)]);
    expect(told.filter((s) => s.worker === b || s.worker === c).every((s) => s.paid)).toBe(true);
    expect(coord.settle()).toEqual([]); // each once

    // b's two undecided units are told when they are decided and an epoch closes: here, at completion
    const rest = coord.assign(c, 4);
    expect(rest).toHaveLength(2);
    for (const x of rest) submit(c, x, truth(x.unit));
    expect(coord.isComplete()).toBe(true);
    const last = coord.settle();
    expect(last.map((s) => `${s.worker === b ? 'b' : 'c'}:${s.unit}`).sort()).toEqual(
      rest.flatMap((x) => [`b:${x.unit}`, `c:${x.unit}`]).sort(),
    );
    expect(last.every((s) => s.status === 'accepted')).toBe(true);
  });

  it('pays nothing for a key\'s first warmupUnits credited results, and accepts them all the same', () => {
    const reputation = new ReputationBook();
    const veteran = key(0x7);
    for (let i = 0; i < 20; i++) reputation.recordGood(veteran);
    // matureAfter 0 and replication 1: each result is verified on its own, so the warm-up alone decides pay
    const defence = { warmupUnits: 3, matureAfter: 0, epochUnits: 1 };
    const { coord, clock } = setup({ units: 12, policy: { replication: 1 }, reputation, adaptiveStreak: 1000, defence });
    const told: Settlement[] = [];
    for (const w of [key(1), veteran]) {
      for (let i = 0; i < 5; i++) {
        const [x] = coord.assign(w, 1);
        clock.advance(20);
        expect(coord.submit(w, x!.lease, x!.unit, truth(x!.unit), 20).verified).toHaveLength(1);
        told.push(...coord.settle());
      }
    }
    told.push(...coord.settle());
    const newcomer = told.filter((s) => s.worker === key(1));
    expect(newcomer.map((s) => s.status)).toEqual(Array(5).fill('accepted'));
    expect(newcomer.map((s) => s.paid)).toEqual([false, false, false, true, true]);
    expect(newcomer.map((s) => s.reason)).toEqual([
      'unpaid: admission warm-up',
      'unpaid: admission warm-up',
      'unpaid: admission warm-up',
      undefined,
      undefined,
    ]);
    // a key with credits from earlier tasks is past its warm-up
    const old = told.filter((s) => s.worker === veteran);
    expect(old).toHaveLength(5);
    expect(old.every((s) => s.status === 'accepted' && s.paid)).toBe(true);
  });
});

describe('coordinator: known-answer units', () => {
  const CANARIES = [5, 15, 25, 35];
  const firstIsKnown = (seed: number, defence?: Partial<Defence>): boolean => {
    const { coord } = setup({ units: 40, canaries: CANARIES, seed, defence });
    const [x] = coord.assign(key(1), 1);
    return CANARIES.includes(x!.unit);
  };
  const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);

  it("gives a fresh key a known-answer unit first only sometimes, so its first unit tells it nothing", () => {
    const known = SEEDS.filter((seed) => firstIsKnown(seed)).length;
    expect(known).toBeGreaterThan(0);
    expect(known).toBeLessThan(SEEDS.length);
    // the chance is freshCheck
    expect(SEEDS.every((seed) => firstIsKnown(seed, { freshCheck: 1 }))).toBe(true);
    expect(SEEDS.some((seed) => firstIsKnown(seed, { freshCheck: 0 }))).toBe(false);
  });

  it("draws known-answer units at canaryPpm after a key's first, from canaries and every unit the tasker recomputed", () => {
    // freshCheck 1: the first unit is a known-answer one, whatever the seed
    const defence = { freshCheck: 1, coIssue: 0 };
    const { coord, clock } = setup({ units: 40, canaries: [5], policy: { replication: 1 }, defence });
    const w = key(1);
    const [first] = coord.assign(w, 1);
    expect(first!.unit).toBe(5);
    clock.advance(20);
    coord.submit(w, first!.lease, 5, truth(5), 20);
    // canaryPpm 0: never another known-answer unit, though unseen ones exist by now
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const [x] = coord.assign(w, 1);
      seen.push(x!.unit);
      clock.advance(20);
      coord.submit(w, x!.lease, x!.unit, truth(x!.unit), 20);
      for (const check of coord.localChecks()) {
        expect(check.reason).toBe('vouch'); // a young key's single result
        coord.resolveLocal(check.unit, truth(check.unit));
      }
    }
    expect(seen).not.toContain(5);
    // the units the tasker recomputed are known answers now: a fresh key may be handed one
    const fresh = key(2);
    const [y] = coord.assign(fresh, 1);
    expect(seen).toContain(y!.unit);
    clock.advance(20);
    expect(coord.submit(fresh, y!.lease, y!.unit, forged(y!.unit), 20)).toEqual({ ...PENDING, penalised: [fresh] });
    expect(coord.reputation.isBanned(fresh)).toBe(true);
  });

  it('hands a known-answer unit to the next other claimant too, with probability coIssue', () => {
    const run = (coIssue: number, seed = 1) => {
      const reputation = new ReputationBook();
      const [a, b, c] = [key(0xa), key(0xb), key(0xc)];
      // b and c have records from earlier tasks: not fresh, and at canaryPpm 0 they draw no known-answer unit themselves
      for (let i = 0; i < 20; i++) for (const w of [b, c]) reputation.recordGood(w);
      // freshCheck 1: a, a fresh key, always starts on the canary
      const defence = { freshCheck: 1, coIssue };
      const { coord, clock } = setup({ units: 20, canaries: [7], reputation, adaptiveStreak: 1000, seed, defence });
      const [x] = coord.assign(a, 1);
      expect(x!.unit).toBe(7);
      return { coord, clock, a, b, c, x: x! };
    };

    const on = run(1);
    const [y] = on.coord.assign(on.b, 1);
    expect(y!.unit).toBe(7); // the same canary, while a still holds it
    const [z] = on.coord.assign(on.c, 1);
    expect(z!.unit).not.toBe(7); // owed once
    // and it is a check like any other: a wrong answer is proof at once
    on.clock.advance(20);
    expect(on.coord.submit(on.b, y!.lease, 7, forged(7), 20)).toEqual({ ...PENDING, penalised: [on.b] });
    expect(on.coord.reputation.isBanned(on.b)).toBe(true);

    const off = run(0);
    expect(off.coord.assign(off.b, 1)[0]!.unit).not.toBe(7);

    // owed only while the first holder still has it: once a's lease is gone, nobody else gets it
    const late = run(1);
    late.clock.advance(1000);
    expect(late.coord.expire()).toEqual([{ worker: late.a, unit: 7 }]);
    expect(late.coord.assign(late.b, 1)[0]!.unit).not.toBe(7);

    // at the default rate, over seeds, both happen
    const shared = SEEDS.filter((seed) => {
      const r = run(DEFENCE.coIssue, seed);
      return r.coord.assign(r.b, 1)[0]!.unit === 7;
    }).length;
    expect(shared).toBeGreaterThan(0);
    expect(shared).toBeLessThan(SEEDS.length);
  });
});

describe('coordinator: who may verify a unit', () => {
  it('never lets young keys verify a unit among themselves: the tasker vouches for it', () => {
    // Two honest keys, each with fewer than matureAfter (8) credits from start to end.
    const { coord, clock } = setup({ units: 6, adaptiveStreak: 1000 });
    const log = drive(coord, clock, { [key(1)]: honest, [key(2)]: honest });
    expectAllCorrect(coord);
    expect(log.verifiedLog).toEqual([]); // no unit was verified by their agreement
    expect(log.checks.map((c) => c.reason)).toEqual(Array(6).fill('vouch'));
    expect(log.judgments.every((j) => j.status === 'accepted')).toBe(true);
    for (const w of [key(1), key(2)]) expect(verdictsOf(log.settlements, w)).toEqual(allAccepted(log.submitted.get(w)!));

    // once both keys have matureAfter credits, their agreement verifies units
    const grown = setup({ units: 16, adaptiveStreak: 1000, defence: { matureAfter: 3 } });
    const later = drive(grown.coord, grown.clock, { [key(1)]: honest, [key(2)]: honest });
    expectAllCorrect(grown.coord);
    expect(later.checks.filter((c) => c.reason === 'vouch').length).toBeGreaterThan(0);
    expect(later.verifiedLog.length).toBeGreaterThan(0);
  });

  it('catches two young colluders on the units they agree on, before either forgery is ever verified', () => {
    let caughtByVouch = 0;
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      // default defences; the same colluders as above, honest on their first unit, alone for six rounds
      const { coord, clock } = setup({ units: 30, canaries: [4, 9, 17, 25], policy: { canaryPpm: 50_000 }, seed });
      const [a, b] = [key(0xa), key(0xb)];
      const workers = { [a]: sleeper(1), [key(1)]: honest, [b]: sleeper(1), [key(2)]: honest };
      const log = drive(coord, clock, workers, { joins: { [key(1)]: 6, [key(2)]: 6 } });
      expectAllCorrect(coord);
      expect([a, b].map((w) => coord.reputation.isBanned(w))).toEqual([true, true]);
      expect(log.verifiedLog.every((v) => equalBytes(v.hash, truth(v.unit)))).toBe(true);
      // nothing they did is paid: every verdict on their results waited until they were caught
      expect(log.settlements.filter((s) => s.worker === a || s.worker === b).every((s) => s.status === 'rejected')).toBe(
        true,
      );
      for (const w of [key(1), key(2)]) expect(verdictsOf(log.settlements, w)).toEqual(allAccepted(log.submitted.get(w)!));
      if (log.checks.some((c) => c.reason === 'vouch')) caughtByVouch++;
    }
    expect(caughtByVouch).toBeGreaterThan(0);
  });

  it('counts a young key\'s answer only beside two mature ones: a throwaway liar and one grown partner are caught, not verified', () => {
    const reputation = new ReputationBook();
    const [liar, partner] = [key(0x11), key(0x22)];
    for (let i = 0; i < 40; i++) reputation.recordGood(partner);
    const { coord, clock } = setup({ units: 1, reputation, adaptiveStreak: 1000, defence: { freshCheck: 0 } });
    coord.introduce(liar, { group: 'a' });
    coord.introduce(partner, { group: 'b' });
    const submit = (w: string, x: Assignment, hash: Uint8Array): SubmitOutcome => {
      clock.advance(20);
      return coord.submit(w, x.lease, x.unit, hash, 20);
    };
    // a fresh key lies at once; a grown key agrees with it, from another address group
    const [l] = coord.assign(liar, 1);
    submit(liar, l!, forged(0));
    const [p] = coord.assign(partner, 1);
    expect(p!.unit).toBe(0);
    submit(partner, p!, forged(0));
    expect(coord.verifiedHash(0)).toBeUndefined();
    // a second mature answer is wanted from a key that has asked for work lately: none has, so the tasker computes the unit
    expect(coord.localChecks()).toEqual([{ unit: 0, reason: 'vouch' }]);
    const judged = coord.resolveLocal(0, truth(0));
    expect(judged.filter((j) => j.status === 'rejected').map((j) => j.worker).sort()).toEqual([liar, partner].sort());
    expect(coord.verifiedHash(0)).toEqual(truth(0));
    expect(coord.isComplete()).toBe(true);
  });

  it('never lets keys of one address group verify a unit among themselves', () => {
    const run = (groups: Array<string | undefined>): Log => {
      const reputation = new ReputationBook();
      const workers = { [key(1)]: honest, [key(2)]: honest };
      // well-known keys (past newcomer sampling too): only the group rule stands between them and a verified unit
      for (const w of Object.keys(workers)) for (let i = 0; i < 4 * DEFENCE.matureAfter; i++) reputation.recordGood(w);
      const { coord, clock } = setup({ units: 6, reputation, adaptiveStreak: 1000 });
      Object.keys(workers).forEach((w, i) => {
        const group = groups[i];
        if (group !== undefined) coord.introduce(w, { group });
      });
      const log = drive(coord, clock, workers);
      expectAllCorrect(coord);
      return log;
    };
    const together = run(['10.1/16', '10.1/16']);
    expect(together.verifiedLog).toEqual([]);
    expect(together.checks.map((c) => c.reason)).toEqual(Array(6).fill('vouch'));
    for (const groups of [['10.1/16', '10.2/16'], [undefined, undefined], ['10.1/16', undefined]]) {
      // two groups, or workers never introduced (each its own group)
      const apart = run(groups);
      expect(apart.checks).toEqual([]);
      expect(apart.verifiedLog.map((v) => v.unit).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
    }
  });

  it("catches a proven cheater's partner on a unit they verified together, through the tasker's own check", () => {
    const reputation = new ReputationBook();
    const [a, b, h] = [key(0xa), key(0xb), key(1)];
    // a and b matured on earlier tasks and sit in different groups: together they verify a unit
    for (let i = 0; i < 20; i++) for (const w of [a, b]) reputation.recordGood(w);
    const { coord, clock } = setup({ units: 2, reputation, adaptiveStreak: 1000 });
    coord.introduce(a, { group: '10.1/16' });
    coord.introduce(b, { group: '10.2/16' });
    const answer = (w: string, x: Assignment, hash: Uint8Array): SubmitOutcome => {
      clock.advance(20);
      return coord.submit(w, x.lease, x.unit, hash, 20);
    };
    const pair = coord.assign(a, 2);
    expect(pair.map((x) => x.unit).sort()).toEqual([0, 1]);
    for (const x of pair) answer(a, x, forged(x.unit));
    const [bx] = coord.assign(b, 1);
    const u = bx!.unit;
    const v = 1 - u;
    expect(answer(b, bx!, forged(u)).verified).toEqual([{ unit: u, hash: forged(u) }]);
    expect(coord.localChecks()).toEqual([]);

    // an honest newcomer meets a's forgery on the other unit: a is proven
    const [hv] = coord.assign(h, 1);
    expect(hv!.unit).toBe(v);
    answer(h, hv!, truth(v));
    expect(coord.localChecks()).toEqual([{ unit: v, reason: 'tiebreak' }]);
    coord.resolveLocal(v, truth(v));
    expect(coord.reputation.isBanned(a)).toBe(true);
    // b's matching answer on u does not stand alone: the tasker recomputes u
    expect(coord.reputation.isBanned(b)).toBe(false);
    expect(coord.verifiedHash(u)).toBeUndefined();
    expect(coord.localChecks()).toEqual([{ unit: u, reason: 'reopened' }]);
    expect(coord.resolveLocal(u, truth(u))).toEqual([{ worker: b, unit: u, status: 'rejected' }]);
    expect(coord.reputation.isBanned(b)).toBe(true);
    expectAllCorrect(coord);
    const told = coord.settle();
    expect(verdictsOf(told, a)).toEqual([`0:rejected`, `1:rejected`]);
    expect(verdictsOf(told, b)).toEqual([`${u}:rejected`]);
    expect(verdictsOf(told, h)).toEqual([`${v}:accepted`]);
  });
});

describe('coordinator: pace', () => {
  it("recomputes a result far slower than its worker's own pace, and not a slow worker's usual one", () => {
    // matureAfter 0: no vouching, so the only checks are the ones pace asks for
    const { coord, clock } = setup({ units: 40, defence: { matureAfter: 0 } });
    const run = (w: string, wallMs: number): { unit: number; checks: LocalCheck[] } => {
      const [x] = coord.assign(w, 1);
      clock.advance(wallMs);
      expect(coord.submit(w, x!.lease, x!.unit, truth(x!.unit), 20).status).toBe('pending');
      return { unit: x!.unit, checks: coord.localChecks() };
    };
    const [quick, steady] = [key(1), key(2)];
    // a quick worker learns its pace: 20 ms a unit. Its first results are never suspect, however slow.
    expect(run(quick, 5000).checks).toEqual([]);
    for (let i = 0; i < 6; i++) expect(run(quick, 20).checks).toEqual([]);
    // one that comes back after 5 s is recomputed
    const late = run(quick, 5000);
    expect(late.checks).toEqual([{ unit: late.unit, reason: 'slow' }]);
    expect(coord.verifiedHash(late.unit)).toBeUndefined();
    expect(coord.resolveLocal(late.unit, truth(late.unit))).toEqual([{ worker: quick, unit: late.unit, status: 'accepted' }]);
    // a worker that always takes 5 s is merely slow
    for (let i = 0; i < 8; i++) expect(run(steady, 5000).checks).toEqual([]);
  });
});

describe('defence: sampling rate', () => {
  const calm = { disagreement: 0, young: 0 };

  it('starts at the manifest rate and rises with disagreement and with the share of young keys', () => {
    expect(samplingRate(0.01, calm, 0.5)).toBeCloseTo(0.01, 12);
    expect(samplingRate(0, calm, 0.5)).toBe(0);
    const young = [0, 0.25, 0.5, 1].map((y) => samplingRate(0.01, { disagreement: 0, young: y }, 0.5));
    expect(young.every((r, i) => i === 0 || r > young[i - 1]!)).toBe(true);
    expect(young[3]).toBeCloseTo(0.05, 12);
    const disagreement = [0, 0.01, 0.05, 0.1].map((d) => samplingRate(0.01, { disagreement: d, young: 0 }, 0.5));
    expect(disagreement.every((r, i) => i === 0 || r > disagreement[i - 1]!)).toBe(true);
    expect(disagreement[3]).toBeCloseTo(0.21, 12);
    // disagreement alone raises it from zero: a manifest that samples nothing still checks a task in trouble
    expect(samplingRate(0, { disagreement: 0.1, young: 0 }, 0.5)).toBeCloseTo(0.2, 12);
  });

  it('never goes above the maximum, nor below the manifest rate', () => {
    const rates = [0, 0.01, 0.1, 0.3];
    for (const base of rates) {
      for (const d of [0, 0.1, 0.5, 1]) {
        for (const y of [0, 0.5, 1]) {
          const r = samplingRate(base, { disagreement: d, young: y }, 0.5);
          expect(r).toBeGreaterThanOrEqual(base);
          expect(r).toBeLessThanOrEqual(0.5);
        }
      }
    }
    expect(samplingRate(0.01, { disagreement: 1, young: 1 }, 0.5)).toBe(0.5);
    expect(samplingRate(0.01, { disagreement: 1, young: 1 }, DEFENCE.maxSample)).toBe(DEFENCE.maxSample);
    // a manifest that asks for more than the maximum gets what it asks for
    expect(samplingRate(0.8, { disagreement: 1, young: 1 }, 0.5)).toBe(0.8);
    expect(samplingRate(1, calm, 0.5)).toBe(1);
  });

  it('keeps a decayed share of recent events', () => {
    const share = new RecentShare(64);
    expect(share.share).toBe(0);
    for (let i = 0; i < 1000; i++) share.record(true);
    expect(share.share).toBeCloseTo(1, 6);
    for (let i = 0; i < 64; i++) share.record(false);
    expect(share.share).toBeGreaterThan(0.3);
    expect(share.share).toBeLessThan(0.4); // (1 - 1/64)^64 ≈ 0.36
  });
});

describe('coordinator: sampling under trouble', () => {
  it('samples verified units when results keep disagreeing, even at samplePpm 0', () => {
    // matureAfter 0: nothing vouched for, so every check is a tiebreak or a sample
    const { coord, clock, rng } = setup({ units: 60, adaptiveStreak: 1000, defence: { matureAfter: 0 } });
    const log = drive(coord, clock, { [key(1)]: honest, [key(2)]: honest, [key(3)]: cheater(rng), [key(4)]: cheater(rng) });
    expectAllCorrect(coord);
    expect(log.checks.some((c) => c.reason === 'tiebreak')).toBe(true);
    expect(log.checks.some((c) => c.reason === 'sample')).toBe(true);
    // and none when all is calm
    const calm = setup({ units: 60, adaptiveStreak: 1000, defence: { matureAfter: 0 } });
    const quiet = drive(calm.coord, calm.clock, { [key(1)]: honest, [key(2)]: honest });
    expect(quiet.checks).toEqual([]);
  });
});

describe('coordinator: verdicts wait for owed checks', () => {
  // A forgery two mature colluders verified together must not be told
  // accepted, and paid, before the tasker's own sampled recomputation runs.
  it('tells no verdict on a unit whose sampled recomputation is still owed', () => {
    const reputation = new ReputationBook();
    const [a, b] = [key(0xa), key(0xb)];
    for (let i = 0; i < 20; i++) for (const w of [a, b]) reputation.recordGood(w);
    const { coord, clock } = setup({
      units: 1,
      reputation,
      adaptiveStreak: 1000,
      policy: { samplePpm: 1_000_000 },
      defence: { epochUnits: 1 },
    });
    const told: Settlement[] = [];
    const [x] = coord.assign(a, 1);
    const [y] = coord.assign(b, 1);
    clock.advance(20);
    coord.submit(a, x!.lease, x!.unit, forged(x!.unit), 20);
    told.push(...coord.settle());
    coord.submit(b, y!.lease, y!.unit, forged(y!.unit), 20);
    told.push(...coord.settle());
    expect(coord.localChecks()).toEqual([{ unit: x!.unit, reason: 'sample' }]);
    // the sample is owed: the forgery must not be told accepted yet
    expect(told.filter((s) => s.status === 'accepted')).toEqual([]);
    coord.resolveLocal(x!.unit, truth(x!.unit));
    expect(coord.isComplete()).toBe(true);
    told.push(...coord.settle());
    expect(verdictsOf(told, a)).toEqual(['0:rejected']);
    expect(verdictsOf(told, b)).toEqual(['0:rejected']);
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

        const log = drive(coord, clock, shuffled, { rounds: 600, want: c.want });
        expectAllCorrect(coord);
        for (const k of honestKeys) expect(coord.reputation.isBanned(k)).toBe(false);
        // at completion every counted result has had its verdict, once, and no honest one was rejected
        for (const k of order) {
          const counted = (log.outcomes.get(k) ?? []).filter((o) => o.status !== 'ignored').length;
          expect(log.settlements.filter((s) => s.worker === k)).toHaveLength(counted);
        }
        for (const k of honestKeys) {
          expect(log.settlements.filter((s) => s.worker === k).every((s) => s.status === 'accepted')).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});

// The node's offer policy (worker/offer-policy.ts, docs/offer-policy.md): the
// order it puts offers in, how far it explores, when it leaves a tasker, when
// it switches, and how it shares threads. The policy reads offers that were
// decoded and verified before it saw them, so the offers here are plain
// values with a blank signature; the clock and the random source are the
// test's, so every run is the same.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex } from '../../protocol/bytes.ts';
import { UsageError } from '../../protocol/errors.ts';
import type { Offer } from '../../protocol/messages/offer.ts';
import { HISTORY_LIMITS, OfferHistory } from '../../worker/offer-history.ts';
import { assess, OfferPolicy, POLICY, type OfferPolicyOptions } from '../../worker/offer-policy.ts';
import { caught } from '../support/caught.ts';
import { seeded } from '../../testnet/sim/rng.ts';

const NOW = 1_700_000_000_000;
const MINUTE = 60_000;

interface OfferFields extends Partial<Omit<Offer, 'task' | 'tasker'>> {
  /** Names the task: one byte repeated. */
  task: number;
  /** Names the tasker; the task's number when absent. */
  tasker?: number;
}

function offer(fields: OfferFields): Offer {
  const { task, tasker, ...rest } = fields;
  return {
    t: 'offer',
    v: 1,
    task: taskId(task),
    name: `task ${task}`,
    price: 10,
    left: 100,
    units: 100,
    deadline: NOW / 1000 + 24 * 3600,
    mode: 'batch',
    seq: 1,
    tasker: taskerKey(tasker ?? task),
    sig: new Uint8Array(64),
    ...rest,
  };
}

const taskId = (n: number) => new Uint8Array(20).fill(n);
const taskerKey = (n: number) => new Uint8Array(32).fill(n);
const names = (offers: readonly { offer: Offer }[] | readonly Offer[]) =>
  offers.map((o) => ('offer' in o ? o.offer : o).task[0]);

/** A policy on a clock the test moves and a random source that plays `draws` in a loop. */
function policyWith(options: OfferPolicyOptions & { draws?: number[] } = {}) {
  const clock = { now: NOW };
  const draws = options.draws ?? [0.5];
  let i = 0;
  const policy = new OfferPolicy({ clock: () => clock.now, random: () => draws[i++ % draws.length], ...options });
  return { policy, history: policy.history, clock };
}

/** `count` units of a task, each taking `ms` on this machine. */
function measure(history: OfferHistory, task: number, ms: number, count = 3): void {
  for (let i = 0; i < count; i++) history.unitComputed(taskId(task), ms);
}

describe('ordering', () => {
  it('ranks offers by the rate measured here, not by price, counting the time failed units took', () => {
    const { policy, history } = policyWith();
    measure(history, 1, 1_000);
    measure(history, 2, 2_000);
    // Two paid units of 500 ms and two failed ones of 1 s: 3 s for 2 paid units, 1.5 s each.
    measure(history, 3, 500, 2);
    history.unitFailed(taskId(3), 1_000);
    history.unitFailed(taskId(3), 1_000);
    measure(history, 4, 1_000);
    measure(history, 5, 4_000);
    const offers = [
      offer({ task: 1, price: 10 }), // 10 per second
      offer({ task: 2, price: 30 }), // 15
      offer({ task: 3, price: 18 }), // 12; 36 if its failures were forgotten
      offer({ task: 4, price: 9, mode: 'immediate' }), // 9, scored 11.25
      offer({ task: 5, price: 10 }), // 2.5: the same price as task 1 on a slower task
    ];
    const { ranked, skipped } = policy.assess(offers);
    expect(skipped).toEqual([]);
    expect(names(ranked)).toEqual([2, 3, 4, 1, 5]);
    expect(ranked.map((e) => [e.msPerUnit, e.rate, e.score, e.measured])).toEqual([
      [2_000, 15, 15, true],
      [1_500, 12, 12, true],
      [1_000, 9, 11.25, true],
      [1_000, 10, 10, true],
      [4_000, 2.5, 2.5, true],
    ]);
    expect(policy.choose(offers)).toBe(offers[1]);
  });

  it('guesses an unseen task from the median of measured ones, or 30 s with nothing measured, until its first paid unit', () => {
    const { policy, history } = policyWith();
    const unseen = offer({ task: 9, price: 30 });
    expect(policy.assess([unseen]).ranked).toEqual([{ offer: unseen, msPerUnit: POLICY.defaultMsPerUnit, measured: false, rate: 1, score: 1 }]);

    measure(history, 1, 1_000);
    measure(history, 2, 2_000);
    measure(history, 3, 6_000);
    // A task that never paid has no time per paid unit, so it does not move the median.
    for (let i = 0; i < 3; i++) history.unitFailed(taskId(4), 100);
    expect(policy.assess([unseen]).ranked[0]).toMatchObject({ msPerUnit: 2_000, measured: false, rate: 15 });
    const cheap = offer({ task: 1, price: 10 }); // 10 per second
    const dear = offer({ task: 2, price: 40 }); // 20
    expect(names(policy.assess([cheap, unseen, dear]).ranked)).toEqual([2, 9, 1]);

    measure(history, 5, 3_000);
    expect(policy.assess([unseen]).ranked[0]).toMatchObject({ msPerUnit: 2_500, measured: false });

    history.unitComputed(taskId(9), 500);
    expect(policy.assess([unseen]).ranked[0]).toMatchObject({ msPerUnit: 500, measured: true, rate: 60 });
  });

  it('puts immediate work first while its rate is at least 80 % of batch work, and after it below that', () => {
    const { policy, history } = policyWith();
    for (const task of [1, 2, 3, 4]) measure(history, task, 1_000);
    measure(history, 5, 2_000);
    const batch = offer({ task: 1, price: 100 });
    const at80 = offer({ task: 2, price: 80, mode: 'immediate' }); // scores 100: the tie goes to immediate work
    const below = offer({ task: 3, price: 79, mode: 'immediate' }); // scores 98.75
    const slowButDear = offer({ task: 5, price: 150, mode: 'immediate' }); // 75 per second on a slower task
    expect(names(policy.assess([batch, at80, below, slowButDear]).ranked)).toEqual([2, 1, 3, 5]);
    expect(policy.choose([batch, at80])).toBe(at80);
    expect(policy.choose([below, batch])).toBe(batch);
    expect(policy.choose([batch, slowButDear])).toBe(batch);
    // Without the bonus, batch work at a higher rate wins.
    const plain = policyWith({ history, constants: { immediateBonus: 1 } }).policy;
    expect(plain.choose([batch, at80])).toBe(batch);
  });
});

describe('exploration', () => {
  function measured(draws: number[]) {
    const s = policyWith({ draws });
    measure(s.history, 1, 1_000);
    measure(s.history, 2, 1_000);
    return s;
  }
  const best = offer({ task: 1, price: 10 });
  const worse = offer({ task: 2, price: 5 });
  const unknown = offer({ task: 9, price: 1_000_000 });

  it('tries an unmeasured offer that beats every measured one only on a draw below exploreShare', () => {
    const below = measured([POLICY.exploreShare - 0.001]);
    expect(below.policy.choose([worse, best, unknown])).toBe(unknown);
    for (const draw of [POLICY.exploreShare, 0.5, 0.999]) {
      // The rest of the time it takes the best measured offer.
      expect(measured([draw]).policy.choose([worse, unknown, best])).toBe(best);
    }
    // The ranking itself is not changed by a draw.
    expect(names(measured([0.5]).policy.assess([worse, unknown, best]).ranked)).toEqual([9, 1, 2]);
    // An unmeasured offer that beats nothing measured is not tried, whatever the draw.
    expect(measured([0]).policy.choose([offer({ task: 9, price: 1 }), best])).toBe(best);
  });

  it('takes the best guess when nothing is measured', () => {
    const { policy } = policyWith({ draws: [0.999] });
    const low = offer({ task: 1, price: 10 });
    const high = offer({ task: 2, price: 20 });
    expect(policy.choose([low, high])).toBe(high);
  });

  it('keeps the share of exploratory choices near exploreShare over a long seeded run', () => {
    const runs = 5_000;
    for (const seed of [1, 2, 3]) {
      const { policy, history } = policyWith({ random: seeded(seed) });
      measure(history, 1, 1_000);
      const guesses = [9, 10, 11].map((task) => offer({ task, price: 1_000 * task }));
      let explored = 0;
      for (let i = 0; i < runs; i++) if (policy.choose([best, ...guesses]) !== best) explored++;
      // Each choice is one draw at 10 %: over 5,000 of them one standard deviation is 0.4 %, and the bound allows about five.
      expect(Math.abs(explored / runs - POLICY.exploreShare)).toBeLessThan(0.02);
    }
  });
});

describe('a fake high-priced offer', () => {
  const honest = offer({ task: 1, price: 10 }); // 10 per second here
  const fake = offer({ task: 2, tasker: 7, price: 1_000 });

  it('is tried once, then dropped for the honest offer once its units show their real time', () => {
    // One exploration draw among many.
    const { policy, history } = policyWith({ draws: [0.5, 0.5, 0.05, 0.5, 0.05, 0.9, 0.01] });
    measure(history, 1, 1_000);
    const chosen: number[] = [];
    for (let i = 0; i < 30; i++) {
      const next = policy.choose([fake, honest]);
      chosen.push(next!.task[0]);
      // A fake unit takes 200 s here: 5 per second, whatever its price says.
      history.unitComputed(next!.task, next === fake ? 200_000 : 1_000);
    }
    expect(chosen.filter((task) => task === 2)).toHaveLength(1);
    expect(chosen.indexOf(2)).toBe(2);
    expect(policy.assess([fake, honest]).ranked.map((e) => [e.offer.task[0], e.rate, e.measured])).toEqual([
      [1, 10, true],
      [2, 5, true],
    ]);
  });

  it('is passed over as failing after failuresToSkip failed units with none paid', () => {
    // Every draw explores, so only the failures keep the node away.
    const { policy, history } = policyWith({ draws: [0] });
    measure(history, 1, 1_000);
    const chosen: number[] = [];
    for (let i = 0; i < 20; i++) {
      const next = policy.choose([fake, honest]);
      chosen.push(next!.task[0]);
      if (next === fake) history.unitFailed(fake.task, 60_000);
      else history.unitComputed(honest.task, 1_000);
    }
    expect(chosen.filter((task) => task === 2)).toHaveLength(POLICY.failuresToSkip);
    expect(policy.assess([fake, honest]).skipped).toEqual([{ offer: fake, reason: 'failing' }]);
    // One paid unit makes it a slow task rather than a failing one.
    history.unitComputed(fake.task, 20_000);
    expect(policy.assess([fake, honest]).ranked.map((e) => [e.offer.task[0], e.msPerUnit, e.measured])).toEqual([
      [1, 1_000, true],
      [2, 200_000, true],
    ]);
  });
});

describe('leaving a tasker', () => {
  it('is not left for refusals spread wider than the window, nor for refusals that land during a leave', () => {
    const history = new OfferHistory();
    const tasker = taskerKey(1);
    for (let i = 0; i < 10; i++) history.resultAnswered(tasker, false, NOW + i * (HISTORY_LIMITS.refusalWindowMs / 2 + 1));
    expect(history.leftUntil(tasker)).toBe(0);

    const strict = new OfferHistory();
    for (let i = 0; i < HISTORY_LIMITS.refusalThreshold; i++) strict.resultAnswered(tasker, false, NOW);
    const until = strict.leftUntil(tasker);
    for (let i = 0; i < 2 * HISTORY_LIMITS.refusalThreshold; i++) strict.resultAnswered(tasker, false, NOW + MINUTE);
    expect(strict.leftUntil(tasker)).toBe(until);
    expect(strict.tasker(tasker)).toMatchObject({ strikes: 1, rejected: 3 * HISTORY_LIMITS.refusalThreshold });
  });

  it('leaves a tasker after refusalThreshold refusals within the window, for leaveBaseMs, doubling each further leave up to the cap', () => {
    const history = new OfferHistory();
    const tasker = taskerKey(1);
    let now = NOW;
    for (let i = 0; i < HISTORY_LIMITS.refusalThreshold - 1; i++) history.resultAnswered(tasker, false, now + i * MINUTE);
    expect(history.leftUntil(tasker)).toBe(0);
    now += (HISTORY_LIMITS.refusalThreshold - 1) * MINUTE;
    history.resultAnswered(tasker, false, now);
    expect(history.leftUntil(tasker) - now).toBe(HISTORY_LIMITS.leaveBaseMs);
    expect(history.tasker(tasker)).toMatchObject({ strikes: 1, refusals: [] });

    // Each further leave, once the last has ended: 20 min, 40 min, ... up to 6 h.
    const leaves: number[] = [];
    for (let round = 0; round < 7; round++) {
      now = history.leftUntil(tasker);
      for (let i = 0; i < HISTORY_LIMITS.refusalThreshold; i++) history.resultAnswered(tasker, false, now);
      leaves.push((history.leftUntil(tasker) - now) / MINUTE);
    }
    expect(leaves).toEqual([20, 40, 80, 160, 320, 360, 360]);
    expect(HISTORY_LIMITS.leaveCapMs).toBe(360 * MINUTE);
    expect(history.tasker(tasker)).toMatchObject({ strikes: 8, rejected: 8 * HISTORY_LIMITS.refusalThreshold });
  });

  it('passes over a left tasker\'s offers until the leave ends, then chooses it again', () => {
    const { policy, history, clock } = policyWith();
    measure(history, 1, 1_000);
    measure(history, 2, 1_000);
    const left = offer({ task: 1, price: 100 });
    const other = offer({ task: 2, price: 10 });
    expect(policy.choose([left, other])).toBe(left);
    for (let i = 0; i < HISTORY_LIMITS.refusalThreshold; i++) history.resultAnswered(left.tasker, false, clock.now);
    const until = history.leftUntil(left.tasker);
    expect(until - clock.now).toBe(HISTORY_LIMITS.leaveBaseMs);
    expect(policy.choose([left, other])).toBe(other);
    expect(policy.assess([left, other]).skipped).toEqual([{ offer: left, reason: 'tasker-left' }]);
    clock.now = until - 1;
    expect(policy.choose([left, other])).toBe(other);
    clock.now = until;
    expect(policy.choose([left, other])).toBe(left);
    expect(policy.assess([left, other]).skipped).toEqual([]);
  });

  it('forgives past leaves after forgiveAfter accepted results in a row', () => {
    const history = new OfferHistory();
    const tasker = taskerKey(1);
    let now = NOW;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < HISTORY_LIMITS.refusalThreshold; i++) history.resultAnswered(tasker, false, now);
      now = history.leftUntil(tasker);
    }
    expect(history.tasker(tasker)).toMatchObject({ strikes: 10, rejected: 30 });
    for (let i = 0; i < HISTORY_LIMITS.forgiveAfter - 1; i++) history.resultAnswered(tasker, true, now);
    expect(history.tasker(tasker)).toMatchObject({ strikes: 10, acceptedInARow: HISTORY_LIMITS.forgiveAfter - 1 });
    history.resultAnswered(tasker, true, now);
    expect(history.tasker(tasker)).toMatchObject({ strikes: 0, accepted: HISTORY_LIMITS.forgiveAfter, rejected: 30 });
    for (let i = 0; i < HISTORY_LIMITS.refusalThreshold; i++) history.resultAnswered(tasker, false, now);
    expect(history.leftUntil(tasker) - now).toBe(HISTORY_LIMITS.leaveBaseMs);
  });

  it('does not forgive when a refusal breaks the run of accepted results', () => {
    const history = new OfferHistory();
    const tasker = taskerKey(1);
    for (let i = 0; i < HISTORY_LIMITS.refusalThreshold; i++) history.resultAnswered(tasker, false, NOW);
    let now = history.leftUntil(tasker);
    for (let i = 0; i < HISTORY_LIMITS.forgiveAfter - 1; i++) history.resultAnswered(tasker, true, now);
    history.resultAnswered(tasker, false, now);
    for (let i = 0; i < HISTORY_LIMITS.forgiveAfter - 1; i++) history.resultAnswered(tasker, true, now);
    expect(history.tasker(tasker)).toMatchObject({ strikes: 1, accepted: 2 * (HISTORY_LIMITS.forgiveAfter - 1) });
    now += HISTORY_LIMITS.refusalWindowMs;
    for (let i = 0; i < HISTORY_LIMITS.refusalThreshold; i++) history.resultAnswered(tasker, false, now);
    expect(history.leftUntil(tasker) - now).toBe(2 * HISTORY_LIMITS.leaveBaseMs);
  });
});

describe('filtering', () => {
  it('passes over expired and empty offers, and those whose deadline leaves no time for a unit', () => {
    const { policy, history } = policyWith();
    const now = NOW / 1000;
    const expired = offer({ task: 1, deadline: now });
    const empty = offer({ task: 2, left: 0 });
    // A fresh node guesses 30 s a unit: it needs 1.5 × 30 s + 15 s = 60 s.
    const near = offer({ task: 3, deadline: now + 59 });
    const enough = offer({ task: 4, deadline: now + 60 });
    const { ranked, skipped } = policy.assess([expired, empty, near, enough]);
    expect(ranked.map((e) => e.offer)).toEqual([enough]);
    expect(skipped).toEqual([
      { offer: expired, reason: 'expired' },
      { offer: empty, reason: 'empty' },
      { offer: near, reason: 'deadline-near' },
    ]);
    // Measured at 1 s a unit, the near one has time enough.
    measure(history, 3, 1_000);
    expect(names(policy.assess([near]).ranked)).toEqual([3]);
  });

  it('passes over offers without a rendezvous on a stealth node', () => {
    const { policy } = policyWith({ needsRendezvous: true });
    const open = offer({ task: 1, price: 100 });
    const hidden = offer({ task: 2, rendezvous: { relay: new Uint8Array(32), mailbox: new Uint8Array(32) } });
    expect(policy.choose([open, hidden])).toBe(hidden);
    expect(policy.assess([open]).skipped).toEqual([{ offer: open, reason: 'no-rendezvous' }]);
  });

  it('answers bad measurements with a typed error and keeps what it had', () => {
    const history = new OfferHistory();
    history.unitComputed(taskId(1), 1_000);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = caught(() => history.unitComputed(taskId(1), bad));
      expect(error).toBeInstanceOf(UsageError);
      expect(error).toMatchObject({ code: 'USAGE', field: 'busyMs' });
    }
    expect(caught(() => history.resultAnswered(taskerKey(1), false, Number.NaN))).toMatchObject({ code: 'USAGE', field: 'nowMs' });
    expect(history.samples(taskId(1))).toEqual([{ ms: 1_000, ok: true }]);
    expect(history.tasker(taskerKey(1))).toBeUndefined();
  });

  it('keeps a bounded history', () => {
    const history = new OfferHistory({ tasksKept: 2, unitsKept: 3 });
    for (let i = 0; i < 5; i++) history.unitComputed(taskId(1), 1_000 + i);
    expect(history.samples(taskId(1)).map((s) => s.ms)).toEqual([1_002, 1_003, 1_004]);
    history.unitComputed(taskId(2), 1);
    history.unitComputed(taskId(3), 1);
    expect(history.samples(taskId(1))).toEqual([]);
    expect(history.samples(taskId(3))).toHaveLength(1);
  });

  it('assesses only the newest offer (highest seq) for one task and tasker', () => {
    const { policy } = policyWith();
    const old = offer({ task: 1, seq: 1, price: 1_000 });
    const newer = offer({ task: 1, seq: 2, price: 1 });
    const otherTasker = offer({ task: 1, tasker: 2, seq: 1, price: 5 });
    for (const offers of [
      [old, newer, otherTasker],
      [newer, otherTasker, old],
    ]) {
      const { ranked, skipped } = policy.assess(offers);
      expect(ranked.map((e) => e.offer)).toEqual([otherTasker, newer]);
      expect(skipped).toEqual([{ offer: old, reason: 'superseded' }]);
    }
    expect(policy.choose([old, newer])).toBe(newer);
    expect(policy.choose([newer, old])).toBe(newer);
  });
});

describe('shouldPreempt', () => {
  function setup(draws?: number[]) {
    const s = policyWith(draws ? { draws } : {});
    for (const task of [1, 2, 3, 4, 5]) measure(s.history, task, 1_000);
    return s;
  }

  it('lets immediate work preempt batch work when its rate is within the bonus', () => {
    const { policy } = setup();
    const batch = offer({ task: 1, price: 100 });
    expect(policy.shouldPreempt(batch, offer({ task: 2, price: 100, mode: 'immediate' }))).toBe(true);
    expect(policy.shouldPreempt(batch, offer({ task: 3, price: 85, mode: 'immediate' }))).toBe(true);
    expect(policy.shouldPreempt(batch, offer({ task: 4, price: 70, mode: 'immediate' }))).toBe(false);
  });

  it('switches within a mode, or from immediate to batch, only for switchGain times the score', () => {
    const { policy } = setup();
    const batch = offer({ task: 1, price: 100 });
    expect(policy.shouldPreempt(batch, offer({ task: 2, price: 140 }))).toBe(false);
    expect(policy.shouldPreempt(batch, offer({ task: 3, price: 150 }))).toBe(true);
    const immediate = offer({ task: 4, price: 100, mode: 'immediate' }); // scores 125
    expect(policy.shouldPreempt(immediate, offer({ task: 5, price: 180 }))).toBe(false);
    expect(policy.shouldPreempt(immediate, offer({ task: 5, price: 190 }))).toBe(true);
    expect(policy.shouldPreempt(batch, batch)).toBe(false);
  });

  it('lets an unmeasured candidate of the same mode win on an exploration draw only', () => {
    const never = setup([0.5]);
    const always = setup([0]);
    const batch = offer({ task: 1, price: 100 });
    const unknown = offer({ task: 9, price: 1_000_000 });
    expect(never.policy.shouldPreempt(batch, unknown)).toBe(false);
    expect(always.policy.shouldPreempt(batch, unknown)).toBe(true);
  });

  it('never moves to an offer it may not work on, and always leaves one it no longer may', () => {
    const { policy, history, clock } = setup();
    const batch = offer({ task: 1, price: 100 });
    const expired = offer({ task: 2, price: 1_000, mode: 'immediate', deadline: NOW / 1000 - 1 });
    expect(policy.shouldPreempt(batch, expired)).toBe(false);
    const cheap = offer({ task: 3, price: 1 });
    expect(policy.shouldPreempt(offer({ task: 1, price: 100, left: 0 }), cheap)).toBe(true);
    for (let i = 0; i < HISTORY_LIMITS.refusalThreshold; i++) history.resultAnswered(batch.tasker, false, clock.now);
    expect(policy.shouldPreempt(batch, cheap)).toBe(true);
  });
});

describe('plan', () => {
  it('gives the best offer every thread it has units for, and the next best the rest', () => {
    const { policy, history } = policyWith();
    for (const task of [1, 2, 3]) measure(history, task, 1_000);
    const small = offer({ task: 1, price: 30, left: 3 });
    const big = offer({ task: 2, price: 20, left: 100 });
    const third = offer({ task: 3, price: 10, left: 100 });
    expect(policy.plan([third, big, small], 8).map((h) => [h.estimate.offer.task[0], h.threads])).toEqual([
      [1, 3],
      [2, 5],
    ]);
    expect(policy.plan([third, big], 8).map((h) => [h.estimate.offer.task[0], h.threads])).toEqual([[2, 8]]);
  });

  it('holds at most tasksHeld tasks, and leaves threads idle only when units run out', () => {
    const { policy } = policyWith();
    const ones = [1, 2, 3, 4, 5, 6].map((task) => offer({ task, price: task, left: 1 }));
    expect(policy.plan(ones, 8).map((h) => [h.estimate.offer.task[0], h.threads])).toEqual([
      [6, 1],
      [5, 1],
      [4, 1],
      [3, 1],
    ]);
    expect(policy.plan(ones.slice(0, 2), 8).map((h) => h.threads)).toEqual([1, 1]);
    expect(policy.plan([], 8)).toEqual([]);
  });

  it('refuses a thread count that is not a positive integer', () => {
    const { policy } = policyWith();
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(caught(() => policy.plan([offer({ task: 1 })], bad))).toMatchObject({ code: 'USAGE', field: 'threads' });
    }
  });
});

describe('properties', () => {
  const nowS = NOW / 1000;
  const offerArb = fc.record({
    task: fc.integer({ min: 1, max: 8 }),
    tasker: fc.integer({ min: 1, max: 4 }),
    price: fc.integer({ min: 0, max: 1_000_000 }),
    left: fc.integer({ min: 0, max: 20 }),
    deadline: fc.integer({ min: nowS - 600, max: nowS + 3_600 }),
    mode: fc.constantFrom('immediate' as const, 'batch' as const),
    seq: fc.integer({ min: 0, max: 3 }),
  });
  const eventArb = fc.oneof(
    fc.record({ kind: fc.constant('unit' as const), task: fc.integer({ min: 1, max: 8 }), ms: fc.integer({ min: 0, max: 200_000 }), ok: fc.boolean() }),
    fc.record({ kind: fc.constant('answer' as const), tasker: fc.integer({ min: 1, max: 4 }), accepted: fc.boolean(), at: fc.integer({ min: -3_600_000, max: 0 }) }),
  );
  const drawsArb = fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 8 });

  type HistoryEvent = typeof eventArb extends fc.Arbitrary<infer E> ? E : never;

  /** A policy whose history has heard `events`, at times up to an hour before NOW. */
  function run(events: HistoryEvent[], draws: number[]) {
    const { policy, history } = policyWith({ draws });
    for (const e of events) {
      if (e.kind === 'unit') {
        if (e.ok) history.unitComputed(taskId(e.task), e.ms);
        else history.unitFailed(taskId(e.task), e.ms);
      } else history.resultAnswered(taskerKey(e.tasker), e.accepted, NOW + e.at);
    }
    return { policy, history };
  }

  it('never chooses or plans an expired, empty, too-near or superseded offer, nor one of a tasker it is leaving', () => {
    fc.assert(
      fc.property(fc.array(offerArb, { maxLength: 12 }), fc.array(eventArb, { maxLength: 40 }), drawsArb, fc.integer({ min: 1, max: 16 }), (fields, events, draws, threads) => {
        const { policy, history } = run(events, draws);
        const offers = fields.map((f) => offer(f));
        const highestSeq = (o: Offer) => Math.max(...offers.filter((x) => toHex(x.task) === toHex(o.task) && toHex(x.tasker) === toHex(o.tasker)).map((x) => x.seq));
        const allowed = (o: Offer) => {
          expect(o.left).toBeGreaterThan(0);
          expect(o.deadline * 1000).toBeGreaterThan(NOW + POLICY.resultMarginMs);
          expect(history.leftUntil(o.tasker)).toBeLessThanOrEqual(NOW);
          expect(o.seq).toBe(highestSeq(o));
        };
        const chosen = policy.choose(offers);
        if (chosen) allowed(chosen);
        const plan = policy.plan(offers, threads);
        plan.forEach((h) => allowed(h.estimate.offer));
        // Threads: each holding gets at least one and no more than its units left; the total never exceeds what the node has.
        expect(plan.every((h) => h.threads >= 1 && h.threads <= h.estimate.offer.left)).toBe(true);
        expect(plan.reduce((sum, h) => sum + h.threads, 0)).toBeLessThanOrEqual(threads);
        expect(plan.length).toBeLessThanOrEqual(POLICY.tasksHeld);
        expect(new Set(plan.map((h) => toHex(h.estimate.offer.task) + toHex(h.estimate.offer.tasker))).size).toBe(plan.length);
        // Something is chosen whenever anything may be worked on.
        expect(chosen === undefined).toBe(policy.assess(offers).ranked.length === 0);
      }),
    );
  });

  it('ranks the same whatever order the offers arrive in', () => {
    const uniqueOffers = fc.uniqueArray(offerArb, { maxLength: 10, selector: (o) => `${o.task} ${o.tasker}` });
    fc.assert(
      fc.property(uniqueOffers, fc.array(eventArb, { maxLength: 30 }), (fields, events) => {
        const { history } = run(events, [0.5]);
        const offers = fields.map((f) => offer(f));
        const settings = { ...POLICY, needsRendezvous: false };
        const forward = assess(offers, history, NOW, settings).ranked.map((e) => e.offer);
        const backward = assess([...offers].reverse(), history, NOW, settings).ranked.map((e) => e.offer);
        expect(backward).toEqual(forward);
      }),
    );
  });
});

// The mint's work budget (mint/work.ts) on a clock of the test's own: what
// the default lets one address do, that other addresses keep theirs, and what
// a refusal says. No timing: time passes only when the test says so.

import { describe, expect, it } from 'vitest';
import { MESSAGE_LIMITS } from '../../protocol/constants.ts';
import { MintError, UsageError } from '../../protocol/errors.ts';
import { bodyWork, DEFAULT_BUDGET, RateLimitedError, WORK, WorkBudget } from '../../mint/work.ts';

/** A redeem of 64 forged credits, 7.7 KB: what the flood in the finding sent. */
const FORGED_REDEEM = WORK.request + bodyWork(7.7 * 1024) + MESSAGE_LIMITS.outputs * WORK.proof;

/** Sends `perSecond` requests of `cost` a second for `seconds` from `address`; returns how many were let through each second. */
function flood(budget: WorkBudget, address: string, cost: number, perSecond: number, seconds: number, start = 0): number[] {
  const through: number[] = [];
  for (let s = 0; s < seconds; s++) {
    let n = 0;
    for (let i = 0; i < perSecond; i++) {
      try {
        budget.charge(address, cost, start + s * 1000 + (i * 1000) / perSecond);
        n++;
      } catch (error) {
        expect(error).toBeInstanceOf(RateLimitedError);
      }
    }
    through.push(n);
  }
  return through;
}

describe('the work budget', () => {
  it('by default holds a flood of forged redeems at 130 a second to a few a second, well under a core', () => {
    const budget = new WorkBudget();
    const through = flood(budget, '203.0.113.7', FORGED_REDEEM, 130, 60);
    // The burst goes first; after it, what the rate earns.
    expect(through[0]).toBeLessThanOrEqual(Math.ceil(DEFAULT_BUDGET.burst / FORGED_REDEEM) + 10);
    const steady = through.slice(20);
    expect(Math.max(...steady)).toBeLessThanOrEqual(Math.ceil(DEFAULT_BUDGET.perMinute / 60 / FORGED_REDEEM));
    expect(Math.min(...steady)).toBeGreaterThanOrEqual(Math.floor(DEFAULT_BUDGET.perMinute / 60 / FORGED_REDEEM) - 1);
    // 64 credit checks each, at about 0.14 ms a check: under a tenth of one core.
    const checksPerSecond = (steady.reduce((a, b) => a + b, 0) / steady.length) * MESSAGE_LIMITS.outputs;
    expect(checksPerSecond * 0.14).toBeLessThan(100);
  });

  it('lets an honest worker and tasker through at once: a redeem of a large wallet, a run of payments', () => {
    const budget = new WorkBudget();
    // 4,600 credits in 72 redeems of 64, at once.
    expect(flood(budget, '198.51.100.1', FORGED_REDEEM, 72, 1)).toEqual([72]);
    // 800 one-output payments at once, then 80 a second.
    const payment = WORK.request + bodyWork(400) + WORK.signature + WORK.output;
    const tasker = flood(budget, '198.51.100.2', payment, 800, 1);
    expect(tasker).toEqual([800]);
    expect(flood(budget, '198.51.100.2', payment, 80, 30, 60_000).slice(1)).toEqual(Array(29).fill(80));
  });

  it('keeps one budget per address, so a flooding address leaves the others theirs', () => {
    const budget = new WorkBudget({ perMinute: 600, burst: 100 });
    expect(flood(budget, '127.0.0.1', 30, 100, 1)).toEqual([3]);
    // Another address, and the IPv4 address of the flooder mapped into IPv6 is the flooder.
    expect(() => budget.charge('127.0.0.2', 30, 1000)).not.toThrow();
    expect(() => budget.charge('::ffff:127.0.0.1', 30, 1000)).toThrow(RateLimitedError);
    // IPv6 counts per /64: another address in the block shares its budget.
    for (let i = 0; i < 3; i++) budget.charge('2001:db8:1:2::1', 30, 0);
    expect(() => budget.charge('2001:db8:1:2::ffff', 30, 0)).toThrow(RateLimitedError);
    expect(() => budget.charge('2001:db8:1:3::1', 30, 0)).not.toThrow();
  });

  it('refuses with RATE_LIMITED, takes nothing for a refused request, and says when its cost is earned back', () => {
    // One unit a millisecond, so that every sum here is exact.
    const budget = new WorkBudget({ perMinute: 60_000, burst: 100 });
    budget.charge('192.0.2.1', 90, 0);
    let refusal: unknown;
    try {
      budget.charge('192.0.2.1', 50, 0);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(MintError);
    // Retry-After is whole seconds, at least one.
    expect(refusal).toMatchObject({ code: 'RATE_LIMITED', retryAfterS: 1 });
    // 10 units left, 40 more earned in 40 ms: exactly enough, since the refusal took nothing.
    expect(() => budget.charge('192.0.2.1', 50, 39)).toThrow(RateLimitedError);
    expect(() => budget.charge('192.0.2.1', 50, 40)).not.toThrow();
    // A clock that steps back earns nothing.
    expect(() => budget.charge('192.0.2.1', 1, 10)).toThrow(RateLimitedError);
    const slow = new WorkBudget({ perMinute: 600, burst: 100 });
    slow.charge('192.0.2.1', 90, 0);
    expect(() => slow.charge('192.0.2.1', 50, 0)).toThrow(expect.objectContaining({ retryAfterS: 4 }));
  });

  it('forgets budgets that are full again, and refuses settings that are no budget', () => {
    const budget = new WorkBudget({ perMinute: 600, burst: 100 });
    budget.charge('192.0.2.1', 50, 0);
    budget.charge('192.0.2.2', 1, 0);
    // A second later the nearly full one is full; the half-spent one is not yet.
    budget.sweep(1_000);
    expect(budget.size).toBe(1);
    budget.sweep(6_000);
    expect(budget.size).toBe(0);
    expect(() => new WorkBudget({ perMinute: 0, burst: 10 })).toThrow(UsageError);
    expect(() => new WorkBudget({ perMinute: 10, burst: Number.NaN })).toThrow(UsageError);
  });
});

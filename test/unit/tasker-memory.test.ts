// What the tasker keeps per worker key must not grow with keys, which cost an
// attacker nothing, and forgetting must never cost the defence anything: a
// banned key stays banned, a forgotten key comes back as a fresh one, every
// unit a forgotten key helped verify can still be reopened, and an honest
// worker and the task's outcome are untouched. Also here: stealth workers
// (onion routes) counted as one address class. The coordinator is driven by
// hand with the simulation's seeded randomness and a clock the test moves.

import { describe, expect, it } from 'vitest';
import { equalBytes } from '../../protocol/bytes.ts';
import { seeded, trueHash as truth } from '../../testnet/sim/rng.ts';
import { STEALTH_GROUP } from '../../tasker/address-group.ts';
import { Coordinator } from '../../tasker/verify/coordinator.ts';
import type { Defence } from '../../tasker/verify/defence.ts';
import { BAN_MEMORY, ReputationBook } from '../../tasker/verify/reputation.ts';

const key = (n: number): string => n.toString(16).padStart(64, '0');

function wrong(unit: number): Uint8Array {
  const h = truth(unit);
  h[31] ^= 0xff;
  return h;
}

class World {
  t = 1_000_000;
  readonly coord: Coordinator;
  /** Every key ever proven to cheat. */
  readonly caught = new Set<string>();

  constructor(units: number, options: { canaries?: number[]; leaseMs?: number; defence?: Partial<Defence>; seed?: number } = {}) {
    this.coord = new Coordinator({
      units,
      policy: { replication: 2, canaryPpm: 0, samplePpm: 0, minUnitMs: 10 },
      canaries: new Map((options.canaries ?? []).map((u) => [u, truth(u)])),
      random: seeded(options.seed ?? 7),
      now: () => this.t,
      leaseMs: options.leaseMs ?? 1_000,
      ...(options.defence ? { defence: options.defence } : {}),
    });
  }

  advance(ms: number): void {
    this.t += ms;
    this.coord.expire();
    this.settle();
  }

  /** The tasker's own recomputations, done at once, and the verdicts they free. */
  settle(): void {
    for (let checks = this.coord.localChecks(); checks.length > 0; checks = this.coord.localChecks()) {
      for (const c of checks) for (const j of this.coord.resolveLocal(c.unit, truth(c.unit))) if (j.status === 'rejected') this.caught.add(j.worker);
    }
    this.coord.settle();
  }

  /** `worker` takes up to `want` units and answers each with `answer`. */
  work(worker: string, want: number, answer: (unit: number) => Uint8Array = truth): number {
    const leases = this.coord.assign(worker, want);
    this.t += 20;
    for (const a of leases) {
      const out = this.coord.submit(worker, a.lease, a.unit, answer(a.unit), 20);
      for (const p of out.penalised ?? []) this.caught.add(p);
    }
    this.settle();
    return leases.length;
  }
}

describe('throwaway keys', () => {
  it('leave bounded state behind, and neither the honest workers nor the outcome notice', () => {
    const w = new World(512, { canaries: [3, 70, 200, 401] });
    const honest = [key(1), key(2), key(3)];
    honest.forEach((h, i) => w.coord.introduce(h, { group: `10.${i}/16` }));
    const KEYS = 6_000;
    let peak = 0;
    let liars = 0;
    for (let n = 0; n < KEYS; n++) {
      const k = key(1_000 + n);
      w.coord.introduce(k, { group: `172.${n % 64}/16` });
      // Most claim once and vanish; some answer once, right or wrong, then vanish.
      const kind = n % 10;
      if (kind < 7) {
        w.coord.assign(k, 1);
        w.coord.workerLost(k);
      } else if (kind < 9) w.work(k, 1);
      else liars += w.work(k, 1, wrong);
      if (n % 20 === 19) {
        for (const h of honest) w.work(h, 1);
        w.advance(100);
        const s = w.coord.stats();
        peak = Math.max(peak, s.keys, s.profiles, s.told, s.records, s.answered);
      }
    }
    // 6,000 keys came at 200 a simulated second; what is kept is what arrived
    // within about one forgetting time (four lease times) and waits on a verdict.
    expect(peak).toBeLessThan(1_500);
    expect(w.coord.stats().forgotten).toBeGreaterThan(KEYS - 1_500);
    expect(liars).toBeGreaterThan(0);

    // The honest workers finish the task; the keys that lied stay banned.
    while (!w.coord.isComplete()) {
      for (const h of honest) w.work(h, 4);
      w.advance(50);
    }
    for (let u = 0; u < 512; u++) expect(equalBytes(w.coord.verifiedHash(u)!, truth(u))).toBe(true);
    for (const h of honest) {
      expect(w.coord.remembers(h)).toBe(true);
      expect(w.coord.reputation.isBanned(h)).toBe(false);
      expect(w.coord.reputation.honesty(h)).toBeGreaterThan(0.9);
    }
    expect(w.caught.size).toBeGreaterThan(0);
    for (const k of w.caught) {
      expect(w.coord.reputation.isBanned(k)).toBe(true);
      expect(w.coord.batchLimit(k)).toBe(0);
    }
  });

  it('forget nothing a unit still rests on: a forgotten liar stays banned, and its partners are found when it is', () => {
    // Checks that would catch the pair at once are off: this is about what happens after a wrong unit got through.
    const w = new World(3, { defence: { matureAfter: 0, epochUnits: 1, epochMs: 1, newcomerSample: 0, freshCheck: 0, youngCheck: 0, coIssue: 0 } });
    const [a, b, f, g] = [key(0xa), key(0xb), key(0xf), key(0xe)];
    for (const [i, k] of [a, b, f, g].entries()) w.coord.introduce(k, { group: `10.${i}/16` });
    // a and b agree on a wrong answer for one unit, from different groups: it is verified.
    const la = w.coord.assign(a, 1)[0]!;
    // f and g hold the other two units for now, so that b's lease can land on a's unit.
    const held = w.coord.assign(f, 1)[0]!;
    const spare = w.coord.assign(g, 1)[0]!;
    expect(new Set([la.unit, held.unit, spare.unit]).size).toBe(3);
    w.t += 20;
    w.coord.submit(a, la.lease, la.unit, wrong(la.unit), 20);
    let lb = w.coord.assign(b, 1)[0]!;
    while (lb.unit !== la.unit) {
      w.coord.workerLost(b);
      lb = w.coord.assign(b, 1)[0]!;
    }
    w.t += 20;
    w.coord.submit(b, lb.lease, lb.unit, wrong(lb.unit), 20);
    w.settle();
    expect(equalBytes(w.coord.verifiedHash(la.unit)!, wrong(la.unit))).toBe(true);
    // g answers before going quiet; f lets its lease run out. A unit lost three times (b's dropped
    // leases count) is computed by the tasker, so g's keeps a unit open for the honest keys below.
    w.t += 20;
    w.coord.submit(g, spare.lease, spare.unit, truth(spare.unit), 20);
    // Both go quiet for far longer than the forgetting time: their answers verify a unit, so both are kept.
    for (let i = 0; i < 20; i++) w.advance(1_000);
    expect(w.coord.remembers(a)).toBe(true);
    expect(w.coord.remembers(b)).toBe(true);
    expect(w.coord.remembers(f)).toBe(false);

    // a is caught on the other unit: the unit it vouched for is reopened, and b, its partner, is caught by the recomputation.
    const other = w.coord.assign(a, 1)[0]!;
    expect(other.unit).not.toBe(la.unit);
    w.t += 20;
    w.coord.submit(a, other.lease, other.unit, wrong(other.unit), 20);
    for (const j of w.coord.resolveLocal(other.unit, truth(other.unit))) if (j.status === 'rejected') w.caught.add(j.worker);
    w.settle();
    expect(w.caught).toEqual(new Set([a, b]));
    expect(equalBytes(w.coord.verifiedHash(la.unit)!, truth(la.unit))).toBe(true);

    // Their bans are told when the next epoch closes, which takes a unit verified: two honest keys do the last one.
    const [h1, h2] = [key(0x11), key(0x12)];
    w.coord.introduce(h1, { group: '10.7/16' });
    w.coord.introduce(h2, { group: '10.8/16' });
    while (!w.coord.isComplete()) {
      w.work(h1, 1);
      w.work(h2, 1);
      w.advance(10);
    }
    // Now nothing rests on them: idle, they are forgotten, the bans kept.
    for (let i = 0; i < 20; i++) w.advance(1_000);
    expect(w.coord.remembers(a)).toBe(false);
    expect(w.coord.remembers(b)).toBe(false);
    expect(w.coord.stats()).toMatchObject({ refused: 0, leaseHolders: 0, bans: 2 });
    expect(w.coord.reputation.isBanned(a)).toBe(true);
    expect(w.coord.assign(a, 4)).toEqual([]);
    expect(w.coord.batchLimit(b)).toBe(0);
  });

  it('keeps bans of forgotten keys in a capped set', () => {
    const book = new ReputationBook();
    for (let n = 0; n < BAN_MEMORY + 10; n++) {
      book.recordBad(key(n), 'proven');
      book.forget(key(n));
    }
    expect(book.size).toEqual({ records: 0, bans: BAN_MEMORY });
    // The oldest bans went first; a forgotten clean key is a stranger again.
    expect(book.isBanned(key(0))).toBe(false);
    expect(book.isBanned(key(BAN_MEMORY + 9))).toBe(true);
    book.recordGood(key(BAN_MEMORY + 9));
    expect(book.isBanned(key(BAN_MEMORY + 9))).toBe(true);
    book.recordGood(key(-1 >>> 0));
    book.forget(key(-1 >>> 0));
    expect(book.credits(key(-1 >>> 0))).toBe(0);
  });
});

describe('stealth workers', () => {
  it('are one address class: two of them agreeing never verify a unit alone', () => {
    const defence = { matureAfter: 0, epochUnits: 1, epochMs: 1, newcomerSample: 0, freshCheck: 0, youngCheck: 0, coIssue: 0 };
    // One unit, so that both keys hold it.
    const w = new World(1, { defence });
    const [s1, s2] = [key(0x51), key(0x52)];
    w.coord.introduce(s1, { group: STEALTH_GROUP });
    w.coord.introduce(s2, { group: STEALTH_GROUP });
    const first = w.coord.assign(s1, 1)[0]!;
    const second = w.coord.assign(s2, 1)[0]!;
    // A direct worker asks for work while both hold the unit: there is none for it yet, but it is at hand.
    const d = key(0xd);
    w.coord.introduce(d, { group: '10.1/16' });
    expect(w.coord.assign(d, 1)).toEqual([]);
    w.t += 20;
    w.coord.submit(s1, first.lease, 0, wrong(0), 20);
    w.coord.submit(s2, second.lease, 0, wrong(0), 20);
    // Agreeing stealth keys are not enough: the unit waits for another key's answer.
    expect(w.coord.verifiedHash(0)).toBeUndefined();
    expect(w.coord.localChecks()).toEqual([]);
    // A third stealth key changes nothing: still one class.
    const s4 = key(0x54);
    w.coord.introduce(s4, { group: STEALTH_GROUP });
    const third = w.coord.assign(s4, 1)[0]!;
    expect(third.unit).toBe(0);
    w.t += 20;
    w.coord.submit(s4, third.lease, 0, wrong(0), 20);
    expect(w.coord.verifiedHash(0)).toBeUndefined();
    expect(w.coord.localChecks()).toEqual([]);
    // The direct worker takes the unit and disagrees: the tasker recomputes it, and all three are caught.
    const direct = w.coord.assign(d, 1)[0]!;
    expect(direct.unit).toBe(0);
    w.t += 20;
    w.coord.submit(d, direct.lease, 0, truth(0), 20);
    expect(w.coord.localChecks()).toEqual([{ unit: 0, reason: 'tiebreak' }]);
    const judged = w.coord.resolveLocal(0, truth(0));
    expect(judged.filter((j) => j.status === 'rejected').map((j) => j.worker).sort()).toEqual([s1, s2, s4].sort());

    // A stealth key and a direct one together do verify a unit.
    const v = new World(1, { defence });
    const [s3, d2] = [key(0x53), key(0xd2)];
    v.coord.introduce(s3, { group: STEALTH_GROUP });
    v.coord.introduce(d2, { group: '10.1/16' });
    const ls = v.coord.assign(s3, 1)[0]!;
    const ld = v.coord.assign(d2, 1)[0]!;
    v.t += 20;
    v.coord.submit(s3, ls.lease, 0, truth(0), 20);
    v.coord.submit(d2, ld.lease, 0, truth(0), 20);
    expect(v.coord.localChecks()).toEqual([]);
    expect(equalBytes(v.coord.verifiedHash(0)!, truth(0))).toBe(true);
  });
});

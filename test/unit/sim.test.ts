// The verification policy against honest and adversarial workers, in the
// in-process simulation (testnet/sim): the real Coordinator on a simulated
// clock, many seeds per attack. The adversary holds 30% of the compute and
// 1,000 keys. Each attack must let the task complete, keep wrong units
// within the policy's bound, and earn no more per CPU-second than honest
// work does. `SIM_SEEDS=n` runs more seeds.

import { describe, expect, it } from 'vitest';
import { WRONG_UNITS_TARGET_PER_10K, attacks, boundFor, campaign } from '../../testnet/sim/campaign.ts';
import { defaultConfig, runSim } from '../../testnet/sim/sim.ts';
import { wrongUnitBound } from '../../tasker/verify/model.ts';

const SEEDS = Array.from({ length: Number(process.env.SIM_SEEDS ?? 10) }, (_, i) => 1 + i);
const SHARE = 0.3;

describe("the policy's bound", () => {
  const base = { units: 512, replication: 2, resultsPerUnit: 2.2, catchRate: 0.02, matureAfter: 8 };
  const bound = (adversary: Partial<{ share: number; identities: number }>, policy: Partial<typeof base> & { newcomerCatchRate?: number } = {}) =>
    wrongUnitBound({ share: 0.3, identities: 1_000, ...adversary }, { ...base, ...policy }).per10k;

  it('never exceeds the chance that every replica is the adversary\'s and goes unsampled', () => {
    for (const share of [0.05, 0.3, 0.5, 0.9]) {
      expect(bound({ share })).toBeLessThanOrEqual(10_000 * share ** 2 * 0.98 + 1e-9);
      expect(bound({ share }, { replication: 3 })).toBeLessThanOrEqual(10_000 * share ** 3 * 0.98 + 1e-9);
    }
  });

  it('falls as the catch rate, the replication and the task grow, and as keys run short; newcomer sampling never loosens it', () => {
    expect(bound({}, { catchRate: 0.2 })).toBeLessThan(bound({}));
    expect(bound({}, { replication: 3 })).toBeLessThan(bound({}));
    expect(bound({}, { newcomerCatchRate: 0.2 })).toBeLessThanOrEqual(bound({}));
    // a task too short for any key of the adversary's to grow well known is left with newcomers only
    expect(bound({}, { units: 64, newcomerCatchRate: 0.2 })).toBeLessThan(bound({}, { units: 64 }));
    expect(bound({}, { units: 50_000 })).toBeLessThan(bound({}));
    expect(bound({ identities: 2 })).toBeLessThan(bound({}));
    expect(bound({ identities: 1 })).toBe(0); // a lie needs two mature keys
    expect(bound({ share: 0 })).toBe(0);
  });

  it('refuses a share or a catch rate that is not a probability', () => {
    expect(() => bound({ share: 1.5 })).toThrow(/share/);
    expect(() => bound({}, { catchRate: 0 })).toThrow(/catchRate/);
  });
});

describe('simulator', () => {
  it('runs an honest-only task to the end: every unit verified with its true hash, honest work paid, nobody banned', () => {
    const report = runSim(defaultConfig(7));
    expect(report.complete).toBe(true);
    expect(report.verified).toBe(report.units);
    expect(report.wrongUnits).toBe(0);
    expect(report.classes.honest!.earningsPerCpuS).toBeGreaterThan(0);
    expect(report.bannedHonestKeys).toBe(0);
    // replication 2: at least two results per unit, less the canaries the tasker knows
    expect(report.workerResults).toBeGreaterThanOrEqual(2 * (report.units - report.taskerUnits));
  });

  it('gives the same run for the same seed', () => {
    const config = () => defaultConfig(11, { adversary: { mode: 'wrong', share: 0.1, identities: 3, spread: 'one' } });
    expect(runSim(config())).toEqual(runSim(config()));
  });

  it('bans a lone worker that always answers wrong, and its lies reach no unit', () => {
    // Eight volunteers of two threads; one machine like theirs holds the rest.
    const population = { honestMachines: 8, threads: [2], msPerUnit: [800, 1_200] as const };
    const report = runSim(defaultConfig(3, { population, adversary: { mode: 'wrong', share: 0.05, identities: 1, spread: 'one' } }));
    expect(report.complete).toBe(true);
    expect(report.classes.wrong).toMatchObject({ machines: 1, keys: 1, bannedKeys: 1, paid: 0 });
    expect(report.wrongUnits).toBe(0);
    expect(report.bannedHonestKeys).toBe(0);
  });
});

describe(`adversaries at ${SHARE * 100}% of the compute, over ${SEEDS.length} seeds`, () => {
  for (const attack of attacks(SHARE)) {
    it(`${attack.name}: completes, keeps wrong units within the bound, out-earns no honest worker`, async () => {
      const figures = await campaign(attack, SEEDS);
      const bound = Math.min(figures.boundPer10k, WRONG_UNITS_TARGET_PER_10K);
      expect(boundFor(defaultConfig(1, { adversary: attack.adversary }))).toBe(figures.boundPer10k);
      expect(figures.complete).toBe(SEEDS.length);
      expect(figures.bannedHonestKeys).toBe(0);
      expect(figures.wrongPer10k, `${figures.wrongUnits} wrong units in ${SEEDS.length} runs`).toBeLessThanOrEqual(bound);
      expect(figures.honestEarnings).toBeGreaterThan(0);
      expect(figures.adversaryEarnings, 'credits per CPU-second, against honest work').toBeLessThanOrEqual(figures.honestEarnings);
    });
  }
});

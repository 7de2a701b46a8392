// Many seeded runs of one attack, pooled: the figures the threat model quotes
// and the tests and benchmark check against the policy's bound.

import { DEFENCE } from '../../tasker/verify/defence.ts';
import { wrongUnitBound } from '../../tasker/verify/model.ts';
import type { AdversaryConfig, AdversaryMode } from './population.ts';
import { defaultConfig, runSim } from './sim.ts';
import type { SimConfig, SimReport } from './sim.ts';

/** The target for wrong units per 10,000, whatever the model allows. */
export const WRONG_UNITS_TARGET_PER_10K = 10;

/** An attack as the campaigns name it: a mode, and for colluders how their addresses spread. */
export interface Attack {
  name: string;
  adversary: AdversaryConfig;
}

/**
 * Every attack at `share` of the compute with `identities` keys: each mode;
 * colluders in one /16 and spread over 256, split into eight independent
 * cells (one caught key unravels only its cell), holding every lease to its
 * deadline in the hope of a partner, and agreeing with throwaway keys that
 * lie once each.
 */
export function attacks(share: number, identities = 1_000): Attack[] {
  const modes: Array<[string, AdversaryMode, AdversaryConfig['spread'], Partial<AdversaryConfig>?]> = [
    ['wrong', 'wrong', 'one'],
    ['lazy', 'lazy', 'one'],
    ['ramp', 'ramp', 'one'],
    ['colluding', 'colluding', 'one'],
    ['colluding-spread', 'colluding', 256],
    ['colluding-cells', 'colluding', 256, { cells: 8 }],
    ['colluding-patient', 'colluding', 256, { holdShare: 1 }],
    ['colluding-liars', 'colluding', 256, { liars: true }],
    ['copying', 'copying', 'one'],
  ];
  return modes.map(([name, mode, spread, extra]) => ({ name, adversary: { mode, share, identities, spread, ...extra } }));
}

export interface CampaignFigures {
  attack: string;
  seeds: number;
  complete: number;
  wrongUnits: number;
  /** Pooled over every run: wrong units over all units, per 10,000. */
  wrongPer10k: number;
  maxWrongInRun: number;
  /** Mean computations per unit of output (worker results plus tasker recomputations), and the tasker's alone. */
  overhead: number;
  taskerOverhead: number;
  /** Pooled credits per CPU-second. */
  honestEarnings: number;
  adversaryEarnings: number;
  bannedCheaterKeys: number;
  bannedHonestKeys: number;
  meanTimeMs: number;
  /** The model's bound for this adversary and policy, per 10,000 units. */
  boundPer10k: number;
  reports: SimReport[];
}

/**
 * The model's bound (tasker/verify/model.ts) for a run's adversary and
 * policy. The catch rates taken are the manifest's sampling rate and the
 * newcomer sampling floor: the least the policy catches a lie with.
 */
export function boundFor(config: SimConfig): number {
  const adv = config.population.adversary;
  if (!adv) return 0;
  const { units, policy } = config.task;
  return wrongUnitBound(
    { share: adv.share, identities: adv.identities },
    {
      units,
      replication: policy.replication,
      resultsPerUnit: policy.replication * 1.1,
      catchRate: Math.max(policy.samplePpm / 1_000_000, 1e-6),
      matureAfter: DEFENCE.matureAfter,
      newcomerCatchRate: DEFENCE.newcomerSample,
    },
  ).per10k;
}

/** Runs `attack` once per seed. Yields to the event loop between runs, so a test runner stays responsive. */
export async function campaign(attack: Attack, seeds: readonly number[], tune: (config: SimConfig) => void = () => {}): Promise<CampaignFigures> {
  const reports: SimReport[] = [];
  let bound = 0;
  for (const seed of seeds) {
    const config = defaultConfig(seed, { adversary: attack.adversary });
    tune(config);
    bound = boundFor(config);
    reports.push(runSim(config));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const sum = (f: (r: SimReport) => number): number => reports.reduce((a, r) => a + f(r), 0);
  const earnings = (kind: string): number => {
    const paid = sum((r) => r.classes[kind as keyof SimReport['classes']]?.paid ?? 0);
    const cpuMs = sum((r) => r.classes[kind as keyof SimReport['classes']]?.cpuMs ?? 0);
    return cpuMs > 0 ? paid / (cpuMs / 1000) : 0;
  };
  const n = reports.length;
  return {
    attack: attack.name,
    seeds: n,
    complete: sum((r) => (r.complete ? 1 : 0)),
    wrongUnits: sum((r) => r.wrongUnits),
    wrongPer10k: (sum((r) => r.wrongUnits) / sum((r) => r.units)) * 10_000,
    maxWrongInRun: Math.max(0, ...reports.map((r) => r.wrongUnits)),
    overhead: sum((r) => r.overhead) / n,
    taskerOverhead: sum((r) => r.taskerOverhead) / n,
    honestEarnings: earnings('honest'),
    adversaryEarnings: earnings(attack.adversary.mode),
    bannedCheaterKeys: sum((r) => r.bannedCheaterKeys),
    bannedHonestKeys: sum((r) => r.bannedHonestKeys),
    meanTimeMs: sum((r) => r.timeMs) / n,
    boundPer10k: bound,
    reports,
  };
}

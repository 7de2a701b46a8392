// Who takes part in a run: honest volunteers and one adversary, sized by the
// share of the total compute the adversary controls.

import { DEFENCE } from '../../tasker/verify/defence.ts';
import { Coalition } from './coalition.ts';
import { randomGroup } from './rng.ts';
import { copying, honest, lazy, LeakBoard, ramp, wrong } from './strategies.ts';
import type { SimTasker } from './tasker.ts';
import { IdentityBudget, SimWorker } from './worker.ts';
import type { MachineSpec, Strategy, WorkerClass, WorkerEnv } from './worker.ts';

export type AdversaryMode = Exclude<WorkerClass, 'honest'>;
export const ADVERSARY_MODES: readonly AdversaryMode[] = ['wrong', 'lazy', 'ramp', 'colluding', 'copying'];

export interface AdversaryConfig {
  mode: AdversaryMode;
  /** Share of the total compute the adversary controls, in [0, 1). */
  share: number;
  /** Keys the adversary may create, throwaway keys included. */
  identities: number;
  /** Its addresses: all in one /16, or spread over this many /16s. */
  spread: 'one' | number;
  /** Colluders and copiers: how long a lease is held for a partner or a leak. Default `holdShare` of the lease. */
  holdMs?: number;
  /** Colluders and copiers: the share of the lease a unit is held for when `holdMs` is not given. Default 0.5. */
  holdShare?: number;
  /** Copiers: how long after a result is sent it can be read. Default 500 ms. */
  leakDelayMs?: number;
  /** Colluders: accepted results a key needs before it lies. Default the policy's maturity (DEFENCE.matureAfter), which the adversary can read. */
  lieAfter?: number;
  /** Colluders: independent cells the coalition's machines are split into. Default 1. */
  cells?: number;
  /** Colluders: throwaway keys lie once each and members agree with them, instead of members lying in pairs. */
  liars?: boolean;
}

export interface PopulationConfig {
  honestMachines: number;
  /** Threads are drawn from this list, ms per unit uniformly from this range. */
  threads: readonly number[];
  msPerUnit: readonly [number, number];
  churn?: { upMs: number; downMs: number };
  adversary?: AdversaryConfig;
}

export interface Population {
  machines: SimWorker[];
  coalition?: Coalition;
  budget?: IdentityBudget;
}

/** Units per ms a machine computes. */
const rate = (spec: MachineSpec): number => spec.threads / spec.msPerUnit;

function drawSpec(config: PopulationConfig, random: () => number, group: MachineSpec['group']): MachineSpec {
  const [lo, hi] = config.msPerUnit;
  return {
    threads: config.threads[Math.floor(random() * config.threads.length)]!,
    msPerUnit: lo + random() * (hi - lo),
    group,
  };
}

export function buildPopulation(
  config: PopulationConfig,
  env: WorkerEnv,
  tasker: SimTasker,
  options: { leaseMs: number; expectedChecks: number },
): Population {
  const { random } = env;
  const machines: SimWorker[] = [];
  const unlimited = new IdentityBudget();
  let honestRate = 0;
  for (let i = 0; i < config.honestMachines; i++) {
    const spec = drawSpec(config, random, randomGroup(random));
    if (config.churn) spec.churn = config.churn;
    honestRate += rate(spec);
    machines.push(new SimWorker(`h${i}`, spec, honest, unlimited, env));
  }
  const adv = config.adversary;
  if (!adv || adv.share <= 0) return { machines };

  const groups = adv.spread === 'one' ? [randomGroup(random)] : Array.from({ length: adv.spread }, () => randomGroup(random));
  const group = (): string => groups[Math.floor(random() * groups.length)]!;
  const budget = new IdentityBudget(adv.identities);
  const holdMs = adv.holdMs ?? options.leaseMs * (adv.holdShare ?? 0.5);
  let coalition: Coalition | undefined;
  let strategy: Strategy;
  switch (adv.mode) {
    case 'wrong':
      strategy = wrong;
      break;
    case 'lazy':
      strategy = lazy();
      break;
    case 'ramp':
      strategy = ramp();
      break;
    case 'copying': {
      const board = new LeakBoard((ms, fire) => env.queue.after(ms, fire), adv.leakDelayMs ?? 500);
      if (tasker.config.outputs === 'leaked') tasker.published.push((key, unit, hash) => board.published(key, unit, hash));
      strategy = copying(board, holdMs);
      break;
    }
    case 'colluding':
      coalition = new Coalition(env, budget, {
        holdMs,
        lieAfter: adv.lieAfter ?? DEFENCE.matureAfter,
        hoard: 64,
        expectedChecks: options.expectedChecks,
        probeParallel: 64,
        probeQuiet: 100,
        probeShare: 0.5,
        probeMs: 50,
        group,
        ...(adv.cells ? { cells: adv.cells } : {}),
        ...(adv.liars ? { liars: true } : {}),
      });
      strategy = honest; // unused: members get the coalition's strategy
      break;
  }

  // Machines like the volunteers', until the adversary holds its share; the last one is slowed to fit exactly.
  const target = (honestRate * adv.share) / (1 - adv.share);
  let advRate = 0;
  for (let i = 0; advRate < target * (1 - 1e-9); i++) {
    const spec = drawSpec(config, random, group);
    const left = target - advRate;
    if (rate(spec) > left) spec.msPerUnit = spec.threads / left;
    advRate += rate(spec);
    machines.push(coalition ? coalition.member(`a${i}`, spec) : new SimWorker(`a${i}`, spec, strategy, budget, env));
  }
  return coalition ? { machines, coalition, budget } : { machines, budget };
}

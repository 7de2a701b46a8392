// One simulated task from start to merge, and what it cost and paid whom.
// Everything runs in-process on a simulated clock: the real Coordinator,
// simulated workers, simulated hashes. The same config and seed give the
// same run.

import { SpareCyclesError } from '../../protocol/errors.ts';
import type { VerifyPolicy } from '../../tasker/verify/coordinator.ts';
import { buildPopulation } from './population.ts';
import type { AdversaryMode, PopulationConfig } from './population.ts';
import { EventQueue } from './queue.ts';
import { isTrue, seeded } from './rng.ts';
import { SimTasker, canaryCount } from './tasker.ts';
import type { CoordinatorFactory, TaskConfig } from './tasker.ts';
import type { WorkerClass } from './worker.ts';

/** The verification block tasker/task-dir.ts fills in when a task names none. */
export const DEFAULT_POLICY: VerifyPolicy = { replication: 2, canaryPpm: 50_000, samplePpm: 20_000, minUnitMs: 0 };

export interface SimConfig {
  seed: number;
  task: TaskConfig;
  population: PopulationConfig;
  /** Credits per paid result. */
  price: number;
  /** CPU a result costs beyond computing it. */
  resultCpuMs: number;
  /** A run still going at this simulated time is reported incomplete. */
  maxSimMs: number;
  /** Another coordinator to run instead of tasker/verify's (an older version, to compare). */
  coordinator?: CoordinatorFactory;
}

export interface ClassFigures {
  machines: number;
  keys: number;
  bannedKeys: number;
  cpuMs: number;
  paid: number;
  /** Credits per CPU-second: paid × price / CPU seconds. */
  earningsPerCpuS: number;
}

export interface SimReport {
  seed: number;
  mode: AdversaryMode | 'none';
  complete: boolean;
  /** Simulated ms from the tasker's start to the last unit verified (or to the give-up point). */
  timeMs: number;
  units: number;
  /** Units verified at the end (all of them in a complete run). */
  verified: number;
  wrongUnits: number;
  wrongPer10k: number;
  /** Results workers sent that counted, and units the tasker computed itself (canaries and local checks). */
  workerResults: number;
  taskerUnits: number;
  localChecks: number;
  /** (workerResults + taskerUnits) / units: computations per unit of output. */
  overhead: number;
  /** taskerUnits / units. */
  taskerOverhead: number;
  classes: Partial<Record<WorkerClass, ClassFigures>>;
  bannedCheaterKeys: number;
  bannedHonestKeys: number;
  /** Colluders: throwaway keys spent, and checks they listed. */
  probes?: number;
  checksListed?: number;
  events: number;
}

export function defaultConfig(seed: number, overrides: { adversary?: PopulationConfig['adversary']; task?: Partial<TaskConfig>; population?: Partial<PopulationConfig> } = {}): SimConfig {
  const unitTimeMs = 5_000;
  return {
    seed,
    task: {
      units: 512,
      policy: DEFAULT_POLICY,
      // The session's default: twice the manifest's unit time limit, at least 10 s.
      leaseMs: Math.max(10_000, unitTimeMs * 2),
      tickMs: 1_000,
      taskerThreads: 2,
      taskerUnitMs: 1_000,
      receipts: 'settle',
      ...overrides.task,
    },
    population: {
      honestMachines: 40,
      threads: [1, 2, 4, 8],
      msPerUnit: [500, 2_000],
      ...overrides.population,
      ...(overrides.adversary ? { adversary: overrides.adversary } : {}),
    },
    price: 1,
    resultCpuMs: 10,
    maxSimMs: 6 * 60 * 60 * 1000,
  };
}

export function runSim(config: SimConfig): SimReport {
  const { task } = config;
  if (!(task.units >= 1) || !(task.leaseMs > 0) || !(task.taskerThreads >= 1)) {
    throw new SpareCyclesError('USAGE', `expected units >= 1, leaseMs > 0 and taskerThreads >= 1, got ${task.units}, ${task.leaseMs}, ${task.taskerThreads}`);
  }
  const adv = config.population.adversary;
  if (adv && !(adv.share >= 0 && adv.share < 1)) throw new SpareCyclesError('USAGE', `expected an adversary share in [0, 1), got ${adv.share}`);
  const random = seeded(config.seed);
  const queue = new EventQueue();
  let finished = false;
  const tasker = new SimTasker(task, queue, random, () => (finished = true), config.coordinator);
  const env = { queue, tasker, random, resultCpuMs: config.resultCpuMs };
  const expectedChecks = canaryCount(task.units, task.policy.canaryPpm);
  const population = buildPopulation(config.population, env, tasker, { leaseMs: task.leaseMs, expectedChecks });

  tasker.start();
  for (const m of population.machines) m.start();
  population.coalition?.startProbing();
  while (!finished && queue.now() < config.maxSimMs && queue.step()) {
    // the events do the work
  }

  const coord = tasker.coordinator;
  let wrongUnits = 0;
  for (let unit = 0; unit < task.units; unit++) if (!isTrue(unit, coord.verifiedHash(unit))) wrongUnits++;

  const classes: Partial<Record<WorkerClass, ClassFigures>> = {};
  let bannedCheaterKeys = 0;
  let bannedHonestKeys = 0;
  const seen = new Set<string>();
  const machines = [...population.machines, ...(population.coalition?.probeMachines ?? [])];
  for (const m of machines) {
    const c = (classes[m.kind] ??= { machines: 0, keys: 0, bannedKeys: 0, cpuMs: 0, paid: 0, earningsPerCpuS: 0 });
    c.machines++;
    c.cpuMs += m.cpuMs;
    for (const key of m.keys) {
      if (seen.has(key)) continue;
      seen.add(key);
      c.keys++;
      c.paid += tasker.receipts.paid(key) * config.price;
      if (coord.reputation.isBanned(key)) {
        c.bannedKeys++;
        if (m.kind === 'honest') bannedHonestKeys++;
        else bannedCheaterKeys++;
      }
    }
  }
  for (const c of Object.values(classes)) c.earningsPerCpuS = c.cpuMs > 0 ? c.paid / (c.cpuMs / 1000) : 0;

  const taskerUnits = tasker.stats.canaryComputations + tasker.stats.localChecks;
  return {
    seed: config.seed,
    mode: adv && adv.share > 0 ? adv.mode : 'none',
    complete: tasker.done,
    timeMs: tasker.doneAt ?? queue.now(),
    units: task.units,
    verified: coord.progress().verified,
    wrongUnits,
    wrongPer10k: (wrongUnits / task.units) * 10_000,
    workerResults: tasker.stats.workerResults,
    taskerUnits,
    localChecks: tasker.stats.localChecks,
    overhead: (tasker.stats.workerResults + taskerUnits) / task.units,
    taskerOverhead: taskerUnits / task.units,
    classes,
    bannedCheaterKeys,
    bannedHonestKeys,
    ...(population.coalition ? { probes: population.coalition.probes, checksListed: population.coalition.checks.size } : {}),
    events: queue.fired,
  };
}

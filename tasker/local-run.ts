// `cycles run-local`: every unit of a task on this machine, through the same
// unit pool a worker uses. Taskers use it to test a task before publishing,
// and it is the baseline every benchmark compares against.

import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { unitInputRef } from '../protocol/manifest.ts';
import type { ManifestBody } from '../protocol/manifest.ts';
import { prepareUnitModule } from '../protocol/unit-module.ts';
import type { PreparedModule } from '../protocol/unit-module.ts';
import type { UnitOutcome, UnitPool } from '../units/pool.ts';
import { mergeOutputs } from './merge.ts';
import type { TaskDir } from './task-dir.ts';

export interface LocalRunProgress {
  done: number;
  failed: number;
  total: number;
}

export interface LocalRunResult {
  outputs: Uint8Array[];
  merged: Uint8Array;
  /** Sum of the units' compute time, measured in their threads. */
  busyMs: number;
  wallMs: number;
}

/** Units that failed. The code, and the cause, are those of the first failure. */
export class LocalRunError extends SpareCyclesError {
  constructor(readonly failures: Map<number, SpareCyclesError>) {
    const [unit, first] = failures.entries().next().value as [number, SpareCyclesError];
    super(first.code, `${failures.size} unit(s) failed; unit ${unit}: ${first.code} ${first.message}`, { cause: first });
  }
}

export async function runLocal(
  backend: CryptoBackend,
  task: TaskDir,
  pool: UnitPool,
  onProgress: (p: LocalRunProgress) => void = () => {},
): Promise<LocalRunResult> {
  const started = performance.now();
  const { body, files } = task;
  const prepared = await prepareUnitModule(backend, body, files.get(body.module.path)!);
  const outputs: Uint8Array[] = new Array(body.units);
  const failures = new Map<number, SpareCyclesError>();
  let busyMs = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: body.units }, async (_, unit) => {
      try {
        const outcome = await runTaskUnit(pool, prepared, files, body, unit);
        outputs[unit] = outcome.output;
        busyMs += outcome.busyMs;
        done++;
      } catch (error) {
        failures.set(unit, error as SpareCyclesError);
      }
      onProgress({ done, failed: failures.size, total: body.units });
    }),
  );
  if (failures.size > 0) throw new LocalRunError(failures);
  return { outputs, merged: mergeOutputs(body, outputs), busyMs, wallMs: performance.now() - started };
}

/** Runs one unit of a task folder in the pool, under the manifest's limits. */
export function runTaskUnit(
  pool: UnitPool,
  prepared: PreparedModule,
  files: Map<string, Uint8Array>,
  manifest: ManifestBody,
  unit: number,
): Promise<UnitOutcome> {
  const ref = unitInputRef(manifest, unit);
  return pool.run(
    prepared.module,
    {
      unit,
      input: ref ? files.get(ref.path)! : new Uint8Array(0),
      memory: prepared.memory,
      maxOutputBytes: manifest.limits.outputBytes,
    },
    manifest.limits.unitTimeMs,
  );
}

// Task folders made for benchmarks: units that each spin for a chosen time
// (test/fixtures/wasm/slow.wat), and a task with a large input file.

import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { rm } from 'node:fs/promises';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { runLocal } from '../tasker/local-run.ts';
import { loadTaskDir } from '../tasker/task-dir.ts';
import { nodeUnitPool } from '../units/node/node-thread.ts';
import type { UnitPool } from '../units/pool.ts';
import { compileFixture } from '../testnet/wasm-fixtures.ts';

export interface SpinTaskOptions {
  units: number;
  /** slow.wat spins input[0] million iterations; this picks input[0]. */
  spin: number;
  replication?: number;
  canaryRate?: number;
  sampleRate?: number;
  /** Extra bytes in one shared input file, to make the torrent larger. */
  inputBytes?: number;
}

export async function makeSpinTask(options: SpinTaskOptions): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-bench-task-'));
  await writeFile(join(dir, 'unit.wasm'), await compileFixture('slow'));
  await mkdir(join(dir, 'inputs'));
  const inputs: string[] = [];
  for (let unit = 0; unit < options.units; unit++) {
    const path = `inputs/${unit}.bin`;
    await writeFile(join(dir, path), Uint8Array.of(options.spin, unit & 255, unit >> 8));
    inputs.push(path);
  }
  const task: Record<string, unknown> = {
    name: 'bench-spin',
    module: 'unit.wasm',
    units: options.units,
    inputs,
    pricePerUnit: 1,
    limits: { memoryPages: 64, unitTimeMs: 60_000, outputBytes: 1024 },
    verification: {
      replication: options.replication ?? 1,
      canaryRate: options.canaryRate ?? 0,
      sampleRate: options.sampleRate ?? 0,
      minUnitMs: 0,
    },
    merge: { kind: 'concat' },
  };
  if (options.inputBytes) {
    // Incompressible, so the bytes on the wire are the bytes counted.
    const blob = new Uint8Array(options.inputBytes);
    for (let i = 0; i < blob.length; i += 65536) crypto.getRandomValues(blob.subarray(i, i + 65536));
    await writeFile(join(dir, 'payload.bin'), blob);
    // A task has either one shared input or one per unit: the payload replaces the per-unit files.
    delete task.inputs;
    task.input = 'payload.bin';
  }
  await writeFile(join(dir, 'task.json'), JSON.stringify(task, null, 2));
  return dir;
}

export async function readTaskJson(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, 'task.json'), 'utf8'));
}

/** Starts every thread of a pool, and runs a unit on each, before the clock does. */
export async function warm(pool: UnitPool, taskDir: string): Promise<void> {
  const task = await loadTaskDir(nodeCrypto, taskDir);
  const single = { ...task, body: { ...task.body, units: 1, inputs: task.body.inputs?.slice(0, 1) } };
  await Promise.all(Array.from({ length: pool.size }, () => runLocal(nodeCrypto, single, pool)));
}

/** slow.wat's spin byte for units of about `targetMs` on this machine's Node. */
export async function calibrateSpin(targetMs: number): Promise<number> {
  const probe = await makeSpinTask({ units: 4, spin: 20 });
  const pool = nodeUnitPool(1 / cpus().length);
  try {
    await warm(pool, probe);
    const { busyMs } = await runLocal(nodeCrypto, await loadTaskDir(nodeCrypto, probe), pool);
    return Math.min(255, Math.max(1, Math.round((20 * targetMs) / (busyMs / 4))));
  } finally {
    await pool.stop();
    await rm(probe, { recursive: true, force: true });
  }
}

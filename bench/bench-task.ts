// Task folders made for benchmarks: units that each spin for a chosen time
// (test/fixtures/wasm/slow.wat), and a task with a large input file.

import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFixture } from '../test/support/wasm-fixtures.ts';

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

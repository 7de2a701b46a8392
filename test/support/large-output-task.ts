// A task whose every output is too large to ride inline in a result message,
// so it must travel back as a result torrent: echo.wat returns its input
// reversed plus the unit's byte, and each input is past the inline limit.

import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIMITS } from '../../protocol/constants.ts';
import { compileFixture } from '../../testnet/wasm-fixtures.ts';

export interface LargeOutputTask {
  dir: string;
  /** The merged output the task must end with. */
  expected: Buffer;
}

export async function makeLargeOutputTask(units: number, replication: number): Promise<LargeOutputTask> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-large-'));
  await mkdir(join(dir, 'inputs'));
  await writeFile(join(dir, 'unit.wasm'), await compileFixture('echo'));
  const inputs: Uint8Array[] = [];
  for (let unit = 0; unit < units; unit++) {
    const input = new Uint8Array(LIMITS.inlineOutputBytes + 4096).map((_, i) => (i * 7 + unit) & 255);
    inputs.push(input);
    await writeFile(join(dir, `inputs/${unit}.bin`), input);
  }
  await writeFile(
    join(dir, 'task.json'),
    JSON.stringify({
      name: 'large-outputs',
      units,
      inputs: inputs.map((_, u) => `inputs/${u}.bin`),
      limits: { memoryPages: 64, unitTimeMs: 10_000, outputBytes: 1 << 20 },
      verification: { replication, canaryRate: 0, sampleRate: 0, minUnitMs: 0 },
      merge: { kind: 'concat' },
    }),
  );
  const expected = Buffer.concat(inputs.map((input, unit) => Buffer.from([...input.slice().reverse(), unit])));
  return { dir, expected };
}

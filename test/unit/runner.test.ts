// The unit runner against hostile modules, on real worker threads. Each bad
// unit must end in its own typed error, and the runner must go on to run the
// next unit in the same pool.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import {
  HashMismatchError,
  UnitAbiError,
  UnitMemoryError,
  UnitTimeoutError,
  UnitTrapError,
} from '../../protocol/errors.ts';
import type { ManifestBody } from '../../protocol/manifest.ts';
import { prepareUnitModule } from '../../protocol/unit-module.ts';
import type { PreparedModule } from '../../protocol/unit-module.ts';
import { spawnNodeThread } from '../../units/node/node-thread.ts';
import { UnitPool } from '../../units/pool.ts';
import { compileFixture } from '../../testnet/wasm-fixtures.ts';

function manifestFor(bytes: Uint8Array, memoryPages = 64): ManifestBody {
  return {
    t: 'manifest',
    v: 2,
    name: 'fixture',
    module: { path: 'unit.wasm', sha256: nodeCrypto.sha256(bytes), size: bytes.length },
    units: 4,
    price: 0,
    mode: 'immediate',
    deadline: 2,
    limits: { memoryPages, unitTimeMs: 400, outputBytes: 1024 },
    verify: { replication: 1, canaryPpm: 0, samplePpm: 0, minUnitMs: 0 },
    merge: { kind: 'concat' },
    tasker: new Uint8Array(32),
    created: 1,
  };
}

async function prepare(name: string, memoryPages?: number): Promise<PreparedModule> {
  const bytes = await compileFixture(name);
  return prepareUnitModule(nodeCrypto, manifestFor(bytes, memoryPages), bytes);
}

describe('unit runner', () => {
  // One thread, so every "next unit" runs on the slot the bad unit just used.
  let pool: UnitPool;
  let echo: PreparedModule;
  beforeAll(async () => {
    pool = new UnitPool({ threads: 1, dutyCycle: 1, spawn: spawnNodeThread });
    echo = await prepare('echo');
  });
  afterAll(() => pool.stop());

  const run = (m: PreparedModule, unit: number, input: number[], timeMs = 2000) =>
    pool.run(m.module, { unit, input: Uint8Array.from(input), memory: m.memory, maxOutputBytes: 1024 }, timeMs);

  async function expectNextUnitRuns(): Promise<void> {
    const outcome = await run(echo, 7, [1, 2, 3]);
    expect(Array.from(outcome.output)).toEqual([3, 2, 1, 7]);
  }

  it('runs a good unit through the ABI', async () => {
    const outcome = await run(echo, 300, [9, 8]);
    expect(Array.from(outcome.output)).toEqual([8, 9, 300 & 255]);
    expect(outcome.busyMs).toBeGreaterThanOrEqual(0);
  });

  it('kills a unit that loops forever and runs the next', async () => {
    const error = await run(await prepare('loop-forever'), 0, [], 300).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnitTimeoutError);
    expect((error as UnitTimeoutError).code).toBe('UNIT_TIMEOUT');
    await expectNextUnitRuns();
  });

  it('stops a unit that grows memory past the limit', async () => {
    const error = await run(await prepare('grow-memory', 48), 0, []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnitMemoryError);
    await expectNextUnitRuns();
  });

  it('reports a trap', async () => {
    const error = await run(await prepare('trap'), 0, []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnitTrapError);
    await expectNextUnitRuns();
  });

  it('reports a negative result code as a failed unit', async () => {
    const error = await run(await prepare('negative-result'), 0, []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnitTrapError);
    expect((error as Error).message).toContain('-7');
  });

  it('refuses an output that points outside memory', async () => {
    const error = await run(await prepare('out-of-bounds-output'), 0, []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnitAbiError);
    await expectNextUnitRuns();
  });

  it('refuses a module of another ABI version', async () => {
    const error = await run(await prepare('bad-version'), 0, []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnitAbiError);
    expect((error as UnitAbiError).field).toBe('sc_abi_version');
  });

  it('refuses a module that imports beyond the ABI before running it', async () => {
    await expect(prepare('bad-import')).rejects.toBeInstanceOf(UnitAbiError);
    await expect(prepare('own-memory')).rejects.toBeInstanceOf(UnitAbiError);
    await expect(prepare('missing-export')).rejects.toBeInstanceOf(UnitAbiError);
    await expect(prepare('big-min-memory')).rejects.toBeInstanceOf(UnitAbiError);
  });

  it('refuses a module whose hash does not match the manifest', async () => {
    const bytes = await compileFixture('echo');
    const manifest = manifestFor(bytes);
    const tampered = Uint8Array.from(bytes);
    tampered[tampered.length - 1]! ^= 1;
    const error = await prepareUnitModule(nodeCrypto, manifest, tampered).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HashMismatchError);
    expect((error as HashMismatchError).field).toBe('unit.wasm');
  });

  it('keeps running units on every thread after a storm of failures', async () => {
    const wide = new UnitPool({ threads: 2, dutyCycle: 1, spawn: spawnNodeThread });
    try {
      const loop = await prepare('loop-forever');
      const trap = await prepare('trap');
      const jobs = [loop, trap, echo, loop, echo, trap, echo].map((m, unit) =>
        wide
          .run(m.module, { unit, input: Uint8Array.of(5), memory: m.memory, maxOutputBytes: 64 }, 300)
          .then((o) => Array.from(o.output), (e: Error) => e.name),
      );
      expect(await Promise.all(jobs)).toEqual([
        'UnitTimeoutError',
        'UnitTrapError',
        [5, 2],
        'UnitTimeoutError',
        [5, 4],
        'UnitTrapError',
        [5, 6],
      ]);
    } finally {
      await wide.stop();
    }
  });

  it('resizes while units run: no unit is dropped, and a retiring thread still kills a unit that overruns', async () => {
    const spawned: string[] = [];
    const terminated: string[] = [];
    const pool2 = new UnitPool({
      threads: 2,
      dutyCycle: 1,
      spawn: () => {
        const name = `t${spawned.length}`;
        spawned.push(name);
        const thread = spawnNodeThread();
        return {
          run: (job, onStart) => thread.run(job, onStart),
          terminate: () => {
            terminated.push(name);
            thread.terminate();
          },
        };
      },
    });
    try {
      const loop = await prepare('loop-forever');
      const runOne = (m: PreparedModule, unit: number) =>
        pool2
          .run(m.module, { unit, input: Uint8Array.of(5), memory: m.memory, maxOutputBytes: 64 }, 300)
          .then((o) => Array.from(o.output), (e: Error) => e.name);
      // t0 holds units 0 and 2, t1 the looping unit 1 and unit 3 behind it.
      const first = [echo, loop, echo, echo].map((m, unit) => runOne(m, unit));
      pool2.setBudget({ threads: 1, dutyCycle: 1 });
      expect(pool2.size).toBe(1);
      expect(terminated).toEqual([]);
      expect(await Promise.all(first)).toEqual([[5, 0], 'UnitTimeoutError', [5, 2], [5, 3]]);
      // The retiring thread was killed for the overrun and not replaced; unit 3 ran on t0.
      expect(spawned).toEqual(['t0', 't1']);
      expect(terminated).toEqual(['t1']);

      pool2.setBudget({ threads: 2, dutyCycle: 1 });
      expect(spawned).toEqual(['t0', 't1', 't2']);
      const second = [echo, echo, echo, echo].map((m, i) => runOne(m, 10 + i));
      expect(await Promise.all(second)).toEqual([[5, 10], [5, 11], [5, 12], [5, 13]]);
      expect(terminated).toEqual(['t1']);
    } finally {
      await pool2.stop();
    }
  });
});

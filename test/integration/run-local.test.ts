// `cycles run-local` as a tasker runs it: the real command, real threads, the
// committed Mandelbrot module. Its PNG is checked pixel by pixel against an
// independent TypeScript rendering of the same parameters.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '../support/png-decode.ts';
import { parseMandelbrotParams, renderMandelbrotReference } from '../support/mandelbrot-reference.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const CYCLES = join(ROOT, 'bin/cycles.mjs');
const EXAMPLE = join(ROOT, 'examples/mandelbrot');

describe('cycles run-local', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sc-run-local-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the Mandelbrot PNG, pixel for pixel', async () => {
    const out = join(dir, 'm.png');
    const { stdout } = await run(process.execPath, [CYCLES, 'run-local', EXAMPLE, '--out', out, '--json']);
    const done = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(done).toMatchObject({ event: 'done', units: 32, out });

    const params = parseMandelbrotParams(new Uint8Array(await readFile(join(EXAMPLE, 'params.bin'))));
    const png = decodePng(new Uint8Array(await readFile(out)));
    expect({ width: png.width, height: png.height, channels: png.channels }).toEqual({
      width: params.width,
      height: params.height,
      channels: 3,
    });
    const expected = renderMandelbrotReference(params);
    let mismatches = 0;
    for (let i = 0; i < expected.length; i++) if (png.pixels[i] !== expected[i]) mismatches++;
    expect(mismatches).toBe(0);
    // Not a flat image: the set and its outside are both there.
    expect(new Set(png.pixels).size).toBeGreaterThan(50);
  });

  it('refuses a task.json with a field out of range and says which', async () => {
    const task = join(dir, 'tampered');
    await cp(EXAMPLE, task, { recursive: true });
    const manifest = JSON.parse(await readFile(join(task, 'task.json'), 'utf8'));
    manifest.units = 0;
    await writeFile(join(task, 'task.json'), JSON.stringify(manifest));
    const error = await run(process.execPath, [CYCLES, 'run-local', task, '--out', join(dir, 'x.png')]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toMatch(/SCHEMA: manifest\.units: expected an integer in \[1, /);
  });

  it('prints usage and exits 2 when called wrongly', async () => {
    const error = await run(process.execPath, [CYCLES, 'run-local']).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toContain('usage');
  });

  it('lists every command in --help', async () => {
    const { stdout } = await run(process.execPath, [CYCLES, '--help']);
    for (const command of ['run-local', 'publish', 'worker', 'tracker', 'relay', 'mint', 'redeem', 'wallet']) {
      expect(stdout).toContain(command);
    }
  });
});

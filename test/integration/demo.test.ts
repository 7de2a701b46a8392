// `npm start` runs `cycles demo`: a private network, a tasker, two workers
// that find its offer on the DHT. It must finish by itself with both magnets
// and a PNG equal to the local run's.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runLocally } from '../support/local-run.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

describe('npm start', () => {
  it('runs the mesh demo to the end', async () => {
    const { stdout } = await run(process.execPath, [`${ROOT}bin/cycles.mjs`, 'demo'], { timeout: 120_000 });
    const task = /^task magnet: +(magnet:\S+)$/m.exec(stdout)?.[1];
    const output = /^output magnet: +(magnet:\S+)$/m.exec(stdout)?.[1];
    const png = /^merged image: +(\S+\.png)$/m.exec(stdout)?.[1];
    expect(task, stdout).toMatch(/^magnet:\?xt=urn:btih:[0-9a-f]{40}/);
    expect(output, stdout).toMatch(/^magnet:\?xt=urn:btih:[0-9a-f]{40}/);
    expect(output).not.toBe(task);
    // What the tasker paid is exactly what the workers' wallets hold.
    const paid = Number(/^the tasker paid (\d+) credits/m.exec(stdout)?.[1]);
    const earned = [...stdout.matchAll(/^worker \d+ earned (\d+) credits/gm)].map((m) => Number(m[1]));
    expect(earned, stdout).toHaveLength(2);
    expect(paid, stdout).toBeGreaterThanOrEqual(32);
    expect(earned.reduce((a, b) => a + b, 0)).toBe(paid);
    const local = await runLocally(`${ROOT}examples/mandelbrot`);
    expect(Buffer.compare(await readFile(png!), local.merged)).toBe(0);
  });
});

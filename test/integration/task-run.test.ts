// One task end to end on a private loopback network with real parts: DHT
// nodes, a tracker, WebTorrent over TCP and WebRTC, worker threads. The
// merged output must equal `run-local` byte for byte, whoever cheats or dies.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.ts';
import { makeLargeOutputTask } from '../support/large-output-task.ts';
import { corrupting } from '../../testnet/adversaries.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { runLocally } from '../support/local-run.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/mandelbrot`;

let expected: Uint8Array;
beforeAll(async () => {
  expected = (await runLocally(EXAMPLE)).merged;
});

let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.stop();
  mesh = undefined;
});

describe('a task over the network', () => {
  it('three honest workers give exactly the run-local output', async () => {
    mesh = await Mesh.start();
    const session = await mesh.publish(EXAMPLE);
    const workers = await Promise.all([0, 1, 2].map(() => mesh!.worker(session.magnet, { pool: mesh!.pool(0.25) })));
    const merged = await session.done;
    expect(Buffer.compare(merged, expected)).toBe(0);
    const accepted = workers.map((w) => session.coordinator.acceptedUnits(toHex(w.identity.publicKey)).length);
    // Replication 2 over 32 units (less the canaries, which the tasker knows).
    expect(accepted.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * (32 - 2));
    for (const w of workers) expect(w.engine.stats.rejected).toBe(0);
  });

  it('survives a liar, two colluders and a worker killed mid-unit', async () => {
    mesh = await Mesh.start();
    const session = await mesh.publish(EXAMPLE, { leaseMs: 4000 });
    const statuses = new Map<string, string[]>();
    const heard = (r: { worker: string; status: string }) => statuses.set(r.worker, [...(statuses.get(r.worker) ?? []), r.status]);
    session.on('result', heard);
    session.on('verdict', heard);

    // A worker killed mid-unit: a real `cycles worker` process, SIGKILLed once it
    // holds ordinary units. Its first unit is a canary, whose answer the tasker
    // already has, so it dies on its second assignment.
    const killed = spawn(process.execPath, [
      `${ROOT}bin/cycles.mjs`, 'worker', '--magnet', session.magnet, '--json', '--cpu', '0.5',
      '--dht-bootstrap', mesh.net.bootstrap.join(','), ...mesh.trackers.flatMap((t) => ['--tracker', t]),
    ], { env: { ...process.env, SPARECYCLES_HOME: `${mesh.dir}/killed` }, stdio: ['ignore', 'pipe', 'ignore'] });
    let killedKey = '';
    let assignments = 0;
    const killedUnits: number[] = [];
    const gotUnits = new Promise<void>((resolve) => {
      createInterface({ input: killed.stdout! }).on('line', (line) => {
        const event = JSON.parse(line);
        if (event.event === 'worker') killedKey = event.key;
        if (event.event === 'assigned' && ++assignments === 2) {
          killedUnits.push(...event.units);
          killed.kill('SIGKILL');
          resolve();
        }
      });
    });
    await gotUnits;

    const flip = (_unit: number, output: Uint8Array) => output.map((b, i) => (i === 7 ? b ^ 0xff : b));
    // Off by one more than the unit, so that no unit (not even unit 0, which may be its canary) comes back right.
    const liar = await mesh.worker(session.magnet, { pool: corrupting(mesh.pool(0.5), (unit, out) => out.map((b) => (b + unit + 1) & 255)) });
    const colluders = [
      await mesh.worker(session.magnet, { pool: corrupting(mesh.pool(0.5), flip) }),
      await mesh.worker(session.magnet, { pool: corrupting(mesh.pool(0.5), flip) }),
    ];
    const honest = [await mesh.worker(session.magnet), await mesh.worker(session.magnet)];

    const merged = await session.done;
    expect(Buffer.compare(merged, expected)).toBe(0);

    const book = session.coordinator.reputation;
    for (const cheater of [liar, ...colluders]) {
      const key = toHex(cheater.identity.publicKey);
      expect(statuses.get(key) ?? [], 'a cheater had a result rejected').toContain('rejected');
      expect(book.honesty(key)).toBeLessThan(book.honesty(toHex(honest[0]!.identity.publicKey)));
      expect(session.coordinator.acceptedUnits(key)).toEqual([]);
    }
    // The killed worker's units were reissued and verified without it.
    expect(killedKey).toMatch(/^[0-9a-f]{64}$/);
    expect(killedUnits.length).toBeGreaterThan(0);
    for (const unit of killedUnits) {
      expect(session.coordinator.acceptedUnits(killedKey)).not.toContain(unit);
      expect(session.coordinator.verifiedHash(unit)).toBeDefined();
    }
    expect(book.availability(killedKey)).toBeLessThan(0.5);
  });
});

describe('large outputs', () => {
  it('travel back as result torrents and merge exactly', async () => {
    const units = 4;
    const { dir, expected } = await makeLargeOutputTask(units, 2);
    mesh = await Mesh.start();
    const session = await mesh.publish(dir);
    const workers = [await mesh.worker(session.magnet), await mesh.worker(session.magnet)];
    const merged = await session.done;
    expect(Buffer.compare(merged, expected)).toBe(0);
    // Every unit was computed by both workers and shipped in result torrents they seed (a lease that ran
    // out on a loaded machine is handed out again, so a unit may be computed twice by one of them).
    for (const w of workers) {
      expect(w.engine.stats.computed).toBeGreaterThanOrEqual(units);
      const results = w.torrents.client.torrents.filter((t) => t.name.startsWith('sc-result') || t.name.startsWith('unit-'));
      expect(results.length).toBeGreaterThan(0);
    }
  });
});

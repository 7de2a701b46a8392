// The network benchmarks of one task on loopback: how close W workers come to
// W times run-local, how soon the first verified result arrives, and how much
// the tasker uploads while workers fetch the task from each other.

import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Torrent } from 'webtorrent';
import { whenDone } from '../net/fetch-torrent.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { signManifest } from '../protocol/manifest.ts';
import { runLocal } from '../tasker/local-run.ts';
import { loadTaskDir } from '../tasker/task-dir.ts';
import { seedTask } from '../tasker/task-torrent.ts';
import { nodeUnitPool } from '../units/node/node-thread.ts';
import { Mesh } from '../testnet/mesh.ts';
import { calibrateSpin, makeSpinTask, warm } from './bench-task.ts';
import type { Figure } from './results-file.ts';

// 240 units of 80 ms: about ten seconds on two workers, so that the figure is
// the pipeline's steady state more than its start (which first_result_ms
// measures); first_unit_ms below says what the start cost in this run.
export async function benchPipeline(workers = 2, units = 240): Promise<Record<string, Figure>> {
  const spin = await calibrateSpin(80);
  const dir = await makeSpinTask({ units, spin });
  const cores = cpus().length;

  // run-local on one thread: the baseline each worker is compared with, run
  // before and after the network run and averaged, so that the machine
  // speeding up or slowing down meanwhile (these are shared machines) moves
  // both sides of the ratio.
  const runLocalOnce = async (): Promise<{ wallMs: number; unitMs: number }> => {
    const local = nodeUnitPool(1 / cores);
    try {
      await warm(local, dir);
      const result = await runLocal(nodeCrypto, await loadTaskDir(nodeCrypto, dir), local);
      return { wallMs: result.wallMs, unitMs: result.busyMs / units };
    } finally {
      await local.stop();
    }
  };
  const before = await runLocalOnce();

  // run-local on every core: what this machine can do at all, so the figure
  // below can be read apart from how well two threads share these cores.
  const all = nodeUnitPool(1);
  let allCoresMs: number;
  try {
    await warm(all, dir);
    allCoresMs = (await runLocal(nodeCrypto, await loadTaskDir(nodeCrypto, dir), all)).wallMs;
  } finally {
    await all.stop();
  }

  const mesh = await Mesh.start();
  let networkMs: number;
  let firstUnitMs: number | undefined;
  let mainThreadMs = 0;
  try {
    const pools = Array.from({ length: workers }, () => mesh.pool(1 / cores));
    await Promise.all(pools.map((p) => warm(p, dir)));
    // A short task first, untimed, through the same mesh and pools: a tasker
    // and its workers run for hours, and the first task a process handles
    // also pays for V8 compiling the network and message code.
    const warmDir = await makeSpinTask({ units: 4 * workers, spin: 1 });
    const warmSession = await mesh.publish(warmDir, { defence: { matureAfter: 0 } });
    const warmWorkers = [];
    for (const pool of pools) warmWorkers.push(await mesh.worker(warmSession.magnet, { pool }));
    await warmSession.done;
    for (const w of warmWorkers) w.engine.stop();
    await warmSession.stop();
    // Let the warm-up's teardown (its wires, torrents and WebRTC offers) finish before the clock starts.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Every worker key here is fresh, and the tasker would vouch for their
    // first units by recomputing them: this figure is the pipeline's, not the policy's.
    const session = await mesh.publish(dir, { defence: { matureAfter: 0 } });
    const started = performance.now();
    // The event loop's busy time is the main thread's CPU: the tasker, both
    // engines and their torrent clients all run on it, and the units do not.
    const loop = performance.eventLoopUtilization();
    for (const pool of pools) {
      const { engine } = await mesh.worker(session.magnet, { pool });
      engine.once('assigned', () => (firstUnitMs ??= performance.now() - started));
    }
    await session.done;
    networkMs = performance.now() - started;
    mainThreadMs = performance.eventLoopUtilization(loop).active;
  } finally {
    await mesh.stop();
  }
  const after = await runLocalOnce();
  const localMs = (before.wallMs + after.wallMs) / 2;
  const unitMs = (before.unitMs + after.unitMs) / 2;
  const ideal = Math.min(workers, cores);
  const efficiency = Math.round((localMs / networkMs / ideal) * 1000) / 1000;
  return {
    pipeline_efficiency: {
      value: efficiency,
      unit: 'fraction of ideal',
      target: '>= 0.93 for units of 50 ms or more',
      pass: efficiency >= 0.93,
      workers,
      cores,
      units,
      unit_ms: Math.round(unitMs),
      run_local_ms: Math.round(localMs),
      run_local_before_after_ms: [Math.round(before.wallMs), Math.round(after.wallMs)],
      run_local_all_cores_ms: Math.round(allCoresMs),
      network_ms: Math.round(networkMs),
      first_unit_ms: firstUnitMs === undefined ? null : Math.round(firstUnitMs),
      main_thread_ms_per_unit: Math.round((mainThreadMs / units) * 100) / 100,
      machine_ceiling: Math.round((localMs / allCoresMs / ideal) * 1000) / 1000,
      vs_run_local_all_cores: Math.round((allCoresMs / networkMs) * 1000) / 1000,
      notes:
        'run-local on one thread (the mean of one run before and one after) vs W one-thread workers on loopback, from the workers joining (task fetch included) to the merged output (first_unit_ms: from the workers joining to the first unit handed out; main_thread_ms_per_unit: the event loop busy time over that run, per unit, for the tasker and both workers together), after an untimed warm-up task through the same mesh and threads; replication 1, no canaries or samples, so it measures the pipeline and not the verification policy',
    },
  };
}

export async function benchFirstResult(): Promise<Record<string, Figure>> {
  const dir = await makeSpinTask({ units: 16, spin: 1, replication: 2, canaryRate: 0.1 });
  const mesh = await Mesh.start();
  try {
    const started = performance.now();
    let first: number | undefined;
    const session = await mesh.publish(dir);
    // Verdicts are told only when an epoch closes (tasker/verify/verdicts.ts),
    // so the figure is the first unit verified from the workers' results:
    // the canaries are verified before anyone joins.
    const before = session.coordinator.progress().verified;
    const verified = new Promise<void>((resolve) =>
      session.on('progress', (p) => {
        if (p.verified > before && first === undefined) {
          first = performance.now() - started;
          resolve();
        }
      }),
    );
    await mesh.worker(session.magnet, { pool: mesh.pool(0.25) });
    await mesh.worker(session.magnet, { pool: mesh.pool(0.25) });
    await verified;
    const ms = Math.round(first!);
    return {
      first_result_ms: {
        value: ms,
        unit: 'ms',
        target: '< 2000',
        pass: ms < 2000,
        notes:
          'cold: fresh network, tasker and two workers; from starting the publish (signing, canaries, seeding) to the first unit verified from their results (two fresh keys agreeing are vouched for by the tasker recomputing the unit, which this includes)',
      },
    };
  } finally {
    await mesh.stop();
  }
}

export async function benchUploadRatio(leechers = 8, bytes = 8 * 1024 * 1024): Promise<Record<string, Figure>> {
  const dir = await makeSpinTask({ units: 1, spin: 1, inputBytes: bytes });
  const mesh = await Mesh.start();
  try {
    // The tasker as it runs: a session, whose task torrent super-seeds.
    const session = await mesh.publish(dir);
    const superSeeded = await fetchAll(mesh, session.torrent, leechers);
    // The same task seeded plainly, fetched by as many fresh clients, for comparison.
    const task = await loadTaskDir(nodeCrypto, dir);
    const manifest = signManifest(nodeCrypto, Identity.generate(nodeCrypto).exportSeed(), task.body);
    const seeder = await mesh.client();
    const plain = await seedTask(seeder.client, manifest, task.files, { trackers: mesh.trackers, path: seeder.path, superSeed: false });
    const star = await fetchAll(mesh, plain, leechers);
    const size = session.torrent.length;
    const ratio = superSeeded.ratio;
    return {
      tasker_upload_ratio: {
        value: ratio,
        unit: 'torrent sizes uploaded',
        target: '<= 1.5 (a star would be 8)',
        pass: ratio <= 1.5,
        leechers,
        torrent_bytes: size,
        tasker_uploaded: superSeeded.uploaded,
        fetch_ms: superSeeded.ms,
        without_super_seeding: { ratio: star.ratio, tasker_uploaded: star.uploaded, fetch_ms: star.ms },
        notes: `${leechers} clients fetch the task torrent at once over the tracker and the DHT on loopback; fetch_ms runs from adding the magnet to the last client done; without_super_seeding seeds the same task plainly in the same run`,
      },
    };
  } finally {
    await mesh.stop();
  }
}

/** Has `leechers` fresh clients fetch a seeded torrent at once; what its seeder uploaded, and how long it took. */
async function fetchAll(mesh: Mesh, seeded: Torrent, leechers: number): Promise<{ ratio: number; uploaded: number; ms: number }> {
  const clients = await Promise.all(Array.from({ length: leechers }, () => mesh.client()));
  const before = seeded.uploaded;
  const started = performance.now();
  const torrents = clients.map((c) => c.client.add(seeded.magnetURI, { path: c.path, announce: mesh.trackers }));
  await Promise.all(torrents.map((t) => whenDone(t, 120_000)));
  const ms = Math.round(performance.now() - started);
  const uploaded = seeded.uploaded - before;
  await Promise.all(torrents.map((t) => new Promise<void>((resolve) => t.destroy({}, () => resolve()))));
  return { ratio: Math.round((uploaded / seeded.length) * 100) / 100, uploaded, ms };
}

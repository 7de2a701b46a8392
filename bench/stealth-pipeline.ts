// stealth_pipeline_ratio: what onion routes cost a task's pipeline. One mesh
// with four onion relays; the same spin task is run by W direct workers and
// by W stealth workers (each reaching the tasker's rendezvous only through
// routes), in turns, so that the machine slowing down or speeding up meanwhile
// (these are shared machines) moves both sides alike.

import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { OnionClient } from '../net/onion-client.ts';
import { keepStream, RendezvousHost } from '../net/onion-stream.ts';
import { nodeCrypto as backend } from '../protocol/crypto/node.ts';
import { decodeSegment } from '../protocol/onion/stream.ts';
import { Mesh } from '../testnet/mesh.ts';
import { addOnionRelays, loopbackOnionClient } from '../testnet/onion-relays.ts';
import type { UnitPool } from '../units/pool.ts';
import { calibrateSpin, makeSpinTask, warm } from './bench-task.ts';
import type { Figure } from './results-file.ts';

const UNIT_MS = 80;
/** Runs of each kind, taken in turns: direct, stealth, direct, stealth. */
const ROUNDS = 2;
/** Untimed pause after each run, so that its teardown (wires, torrents, streams) is not billed to the next. */
const SETTLE_MS = 1000;

const round = (x: number, places: number): number => Math.round(x * 10 ** places) / 10 ** places;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** What the tasker's rendezvous took in and sent out in one stealth run, counted from outside net/. */
interface Traffic {
  segmentsIn: number;
  replyBlocksIn: number;
  segmentsOut: number;
}

interface Run {
  ms: number;
  /** The event loop's busy time over the run: the tasker, the engines, their torrents and (here) the relays all run on it. */
  mainThreadMs: number;
  firstUnitMs: number | null;
  traffic?: Traffic;
}

/**
 * Counts, on the tasker's onion client, the segments its rendezvous is
 * delivered, the reply blocks they carry, and the packets it sends (each a
 * segment on one of those blocks): whether the workers kept it supplied.
 */
function tapRendezvous(client: OnionClient): Traffic {
  const traffic: Traffic = { segmentsIn: 0, replyBlocksIn: 0, segmentsOut: 0 };
  const open = client.openMailbox.bind(client);
  client.openMailbox = (relay, handler, secret) =>
    open(
      relay,
      (message) => {
        try {
          const segment = decodeSegment(message);
          traffic.segmentsIn++;
          traffic.replyBlocksIn += segment.surbs?.length ?? 0;
        } catch {
          // The host refuses it; nothing to count.
        }
        handler(message);
      },
      secret,
    );
  const send = client.sendPacket.bind(client);
  client.sendPacket = (firstHop, packet) => {
    traffic.segmentsOut++;
    return send(firstHop, packet);
  };
  return traffic;
}

export async function benchStealthPipeline(workers = 2, units = 120): Promise<Record<string, Figure>> {
  const spin = await calibrateSpin(UNIT_MS);
  const dir = await makeSpinTask({ units, spin });
  const cores = cpus().length;
  const mesh = await Mesh.start();
  const clients: OnionClient[] = [];
  const runs: { direct: Run[]; stealth: Run[] } = { direct: [], stealth: [] };
  try {
    const { relays, identities } = await addOnionRelays(mesh);
    const onion = { client: (guard: number) => loopbackOnionClient(relays, identities[guard]!.publicKey) };
    // The tasker keeps its rendezvous at the fourth relay; each stealth worker's guard is the first.
    const hostClient = await onion.client(3);
    clients.push(hostClient);
    for (let i = 0; i < workers; i++) clients.push(await onion.client(0));
    const pools: UnitPool[] = Array.from({ length: workers }, () => mesh.pool(1 / cores));
    await Promise.all(pools.map((p) => warm(p, dir)));

    const run = async (taskDir: string, stealth: boolean): Promise<Run> => {
      // Every worker key here is fresh, and the tasker would vouch for their
      // first units by recomputing them: this figure is the pipeline's, not the policy's.
      const session = await mesh.publish(taskDir, { defence: { matureAfter: 0 } });
      const traffic = stealth ? tapRendezvous(hostClient) : undefined;
      const host = stealth ? await RendezvousHost.open({ backend, client: hostClient, relay: identities[3]!.publicKey }, session.frames) : undefined;
      const stops: (() => void)[] = [];
      let firstUnitMs: number | undefined;
      const started = performance.now();
      const loop = performance.eventLoopUtilization();
      try {
        for (const [i, pool] of pools.entries()) {
          const { engine } = await mesh.worker(session.magnet, { pool, ...(stealth ? { stealth: true } : {}) });
          stops.push(() => engine.stop());
          engine.once('assigned', () => (firstUnitMs ??= performance.now() - started));
          if (host) {
            const stream = keepStream({ backend, client: clients[i + 1]! }, host.rendezvous, engine.frames);
            stops.push(() => stream.stop());
          }
        }
        await session.done;
        const ms = performance.now() - started;
        const mainThreadMs = performance.eventLoopUtilization(loop).active;
        return { ms, mainThreadMs, firstUnitMs: firstUnitMs === undefined ? null : Math.round(firstUnitMs), ...(traffic ? { traffic: { ...traffic } } : {}) };
      } finally {
        for (const stop of stops.reverse()) stop();
        host?.stop();
        await session.stop();
        // The tap goes with the run: the next one counts afresh.
        if (traffic) {
          delete (hostClient as Partial<OnionClient>).openMailbox;
          delete (hostClient as Partial<OnionClient>).sendPacket;
        }
        await settle();
      }
    };

    // A short task of each kind first, untimed: the first task a process
    // handles also pays for V8 compiling the network, message and onion code.
    const warmDir = await makeSpinTask({ units: 4 * workers, spin: 1 });
    await run(warmDir, false);
    await run(warmDir, true);
    for (let i = 0; i < ROUNDS; i++) {
      runs.direct.push(await run(dir, false));
      runs.stealth.push(await run(dir, true));
    }
  } finally {
    for (const client of clients) client.stop();
    await mesh.stop();
  }

  const directMs = mean(runs.direct.map((r) => r.ms));
  const stealthMs = mean(runs.stealth.map((r) => r.ms));
  const ratio = round(directMs / stealthMs, 3);
  const traffic = runs.stealth.map((r) => r.traffic!);
  return {
    stealth_pipeline_ratio: {
      value: ratio,
      unit: 'direct ms / stealth ms',
      target: '>= 0.85',
      pass: ratio >= 0.85,
      direct_ms: Math.round(directMs),
      stealth_ms: Math.round(stealthMs),
      direct_runs_ms: runs.direct.map((r) => Math.round(r.ms)),
      stealth_runs_ms: runs.stealth.map((r) => Math.round(r.ms)),
      main_thread_ms_per_unit_direct: round(mean(runs.direct.map((r) => r.mainThreadMs)) / units, 2),
      main_thread_ms_per_unit_stealth: round(mean(runs.stealth.map((r) => r.mainThreadMs)) / units, 2),
      first_unit_direct_ms: runs.direct.map((r) => r.firstUnitMs),
      first_unit_stealth_ms: runs.stealth.map((r) => r.firstUnitMs),
      rendezvous_segments_in: traffic.map((t) => t.segmentsIn),
      rendezvous_reply_blocks_in: traffic.map((t) => t.replyBlocksIn),
      rendezvous_segments_out: traffic.map((t) => t.segmentsOut),
      workers,
      cores,
      units,
      unit_ms: UNIT_MS,
      notes:
        'the same task run in turns by W direct workers and by W stealth workers (each a stream through onion routes to the tasker\'s rendezvous, over four in-process relays), in one mesh after an untimed warm-up task of each kind, from the workers joining (task fetch included) to the merged output; the value is the mean direct time over the mean stealth time (unit_ms is the calibrated target; main_thread_ms_per_unit_*: the event loop busy time per unit, in this process the relays\' included; first_unit_*: from joining to the first unit handed out; rendezvous_*: per stealth run, segments the tasker was delivered, the reply blocks they carried, and the segments it sent back on them)',
    },
  };
}

// Replays and relays on the task wires of a real swarm (loopback testnet,
// WebTorrent over TCP, worker threads): a peer with no engine, only a key of
// its own and what it overhears (testnet/adversaries.ts Impostor), replays
// the tasker's handshake answer to the workers, replays the workers'
// initiations to the tasker, and relays one worker's handshake to the tasker
// and then swallows what follows. Every replay fails its handshake, and the
// task completes exactly, with every unit computed by the honest workers.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { SpareCyclesError } from '../../protocol/errors.ts';
import type { LogLine } from '../../serve/log.ts';
import { Impostor } from '../../testnet/adversaries.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { waitFor } from '../../testnet/wait.ts';
import { nodeTorrentPort } from '../../worker/node/torrent-port.ts';
import { runLocally } from '../support/local-run.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;

let expected: Uint8Array;
beforeAll(async () => {
  expected = (await runLocally(EXAMPLE)).merged;
});

let mesh: Mesh | undefined;
let impostor: Impostor | undefined;
afterEach(async () => {
  impostor?.stop();
  await mesh?.stop();
  mesh = impostor = undefined;
});

describe('an impostor on the task wires', () => {
  it('fails every replay, and the task completes with every unit computed by honest workers', async () => {
    mesh = await Mesh.start({ transports: 'tcp' });
    const log: LogLine[] = [];
    const session = await mesh.publish(EXAMPLE, { log: (line) => log.push(line) });
    const results: string[] = [];
    session.on('result', (r) => results.push(r.worker));

    // The impostor joins first, so that its wires are there when the workers greet.
    const client = await mesh.client();
    impostor = new Impostor(nodeCrypto, Identity.generate(nodeCrypto), fromHex(session.infoHash), {
      key: session.manifest.tasker,
      noise: session.manifest.noise,
    });
    const handle = nodeTorrentPort(client.client, mesh.trackers, client.path).openTask(session.magnet, impostor.frames);
    await handle.complete(60_000);

    const warnings = new Map<string, SpareCyclesError[]>();
    const workers = await Promise.all(
      [0, 1].map(async () => {
        const w = await mesh!.worker(session.magnet, { pool: mesh!.pool(0.25), claimTimeoutMs: 2000 });
        const key = toHex(w.identity.publicKey);
        warnings.set(key, []);
        w.engine.on('warning', (e) => e instanceof SpareCyclesError && warnings.get(key)!.push(e));
        return w;
      }),
    );
    await waitFor('the impostor to have replayed both ways', () => impostor!.stats.answersReplayed >= 1 && impostor!.stats.initiationsReplayed >= 2, 30_000);

    const merged = await session.done;
    expect(Buffer.compare(merged, expected)).toBe(0);
    const honest = new Set(workers.map((w) => toHex(w.identity.publicKey)));
    expect(results.length).toBeGreaterThan(0);
    for (const worker of results) expect(honest.has(worker)).toBe(true);
    const accepted = workers.map((w) => session.coordinator.acceptedUnits(toHex(w.identity.publicKey)).length);
    expect(accepted.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * (32 - 2));

    // The tasker's answer, replayed to a worker, failed that worker's handshake.
    const refusedAnswers = [...warnings.values()].flat().filter((e) => e.code === 'HANDSHAKE');
    expect(refusedAnswers.length).toBeGreaterThanOrEqual(1);
    // A worker's initiation sent to the tasker again failed on its timestamp or on the channel it came down.
    const refused = log.filter((l) => l.event === 'bad-message' && l.code === 'HANDSHAKE');
    expect(refused.some((l) => String(l.message).includes('a replayed initiation'))).toBe(true);
    // Nothing the impostor did opened a channel for it at the tasker.
    expect(log.filter((l) => l.event === 'worker-hello').every((l) => honest.has(String(l.worker)))).toBe(true);
    for (const w of workers) expect(w.engine.stats.rejected).toBe(0);
  });
});

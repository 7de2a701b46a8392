// Result torrents are public: anyone who learns an info-hash can fetch one.
// Their files are sealed under a key only the tasker hears (inside the task
// wire's session), so what a stranger fetches is not the outputs, and a
// worker whose files do not open under the key it sent has its result
// refused as its own fault.

import { afterEach, describe, expect, it } from 'vitest';
import { addTorrent, magnetFor, whenDone } from '../../net/fetch-torrent.ts';
import { readTorrentFile } from '../../net/torrent-files.ts';
import { equalBytes, fromHex, toHex } from '../../protocol/bytes.ts';
import { LIMITS } from '../../protocol/constants.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { blamesPeer, HashMismatchError } from '../../protocol/errors.ts';
import type { Receipt } from '../../protocol/messages/index.ts';
import { RESULT_CIPHER, sealResultFile } from '../../protocol/result-cipher.ts';
import { resultFileName } from '../../protocol/task-files.ts';
import { ResultFetcher } from '../../tasker/result-fetcher.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { nodeTorrentPort } from '../../worker/node/torrent-port.ts';
import type { TorrentPort } from '../../worker/ports.ts';
import { makeLargeOutputTask } from '../support/large-output-task.ts';

let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.stop();
  mesh = undefined;
});

/** A worker's torrent port that seeds every result file sealed under a key of its own, not the one its result names. */
function underAnotherKey(port: TorrentPort): TorrentPort {
  let task: Uint8Array = new Uint8Array(20);
  const other = nodeCrypto.randomBytes(RESULT_CIPHER.keyBytes);
  return {
    openTask(magnet, channels) {
      const handle = port.openTask(magnet, channels);
      return {
        get infoHash() {
          task = fromHex(handle.infoHash);
          return handle.infoHash;
        },
        complete: (timeoutMs) => handle.complete(timeoutMs),
        read: (path) => handle.read(path),
        close: () => handle.close(),
      };
    },
    seedResults(name, files) {
      return port.seedResults(
        name,
        files.map((f) => ({ name: f.name, bytes: sealResultFile(other, task, Number(/\d+/.exec(f.name)![0]), f.bytes) })),
      );
    },
  };
}

describe('result torrent keys', () => {
  it('a stranger who fetches a result torrent gets no outputs, and a wrong key is the worker’s fault', async () => {
    const units = 2;
    const { dir, expected } = await makeLargeOutputTask(units, 1);
    const size = LIMITS.inlineOutputBytes + 4096 + 1;
    const outputs = Array.from({ length: units }, (_, u) => new Uint8Array(expected.subarray(u * size, (u + 1) * size)));
    mesh = await Mesh.start();
    const session = await mesh.publish(dir);
    const worker = await mesh.worker(session.magnet);
    expect(Buffer.compare(await session.done, expected)).toBe(0);

    // A batch of one output is a single-file torrent, named after its file.
    const seeded = worker.torrents.client.torrents.filter((t) => t.name.startsWith('sc-result') || t.name.startsWith('unit-'));
    expect(seeded.length).toBeGreaterThan(0);
    const task = fromHex(session.infoHash);

    // A stranger fetches every result torrent: each file is there, and none is an output.
    const stranger = await mesh.client();
    let files = 0;
    for (const seed of seeded) {
      const torrent = await whenDone(addTorrent(stranger.client, magnetFor(seed.infoHash, mesh.trackers), { path: stranger.path }), 60_000);
      for (const file of torrent.files) {
        const unit = Number(/unit-(\d+)\.out$/.exec(file.name)![1]);
        const bytes = (await readTorrentFile(torrent, resultFileName(unit)))!;
        files++;
        expect(bytes.length).toBe(outputs[unit]!.length + RESULT_CIPHER.tagBytes);
        expect(equalBytes(bytes.subarray(0, outputs[unit]!.length), outputs[unit]!)).toBe(false);
        expect(toHex(nodeCrypto.sha256(bytes))).not.toBe(toHex(nodeCrypto.sha256(outputs[unit]!)));
      }
    }
    expect(files).toBeGreaterThanOrEqual(units);

    // The tasker's fetcher, given any key but the worker's, refuses the file as the worker's fault.
    const other = await mesh.client();
    const fetcher = new ResultFetcher(other.client, mesh.trackers, other.path, 1 << 22);
    try {
      const seed = seeded[0]!;
      const unit = Number(/unit-(\d+)\.out$/.exec(seed.files[0]!.name)![1]);
      const error = await fetcher.fetch(task, fromHex(seed.infoHash), nodeCrypto.randomBytes(32), unit).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(HashMismatchError);
      expect(blamesPeer(error)).toBe(true);
    } finally {
      fetcher.stop();
    }
  }, 120_000);

  it('a worker whose result files do not open under the key it sent is refused, and the unit is done by another', async () => {
    const units = 2;
    const { dir, expected } = await makeLargeOutputTask(units, 1);
    mesh = await Mesh.start();
    const refused: unknown[] = [];
    const session = await mesh.publish(dir, {
      leaseMs: 4000,
      log: (entry) => {
        if (entry.event === 'bad-result-torrent') refused.push(entry);
      },
    });
    const own = await mesh.client();
    const liar = await mesh.worker(session.magnet, { torrents: underAnotherKey(nodeTorrentPort(own.client, mesh.trackers, own.path)) });
    // The honest worker joins once the liar's results have been refused, so the liar is sure to have had units.
    await new Promise<void>((resolve) => {
      liar.engine.on('receipt', (receipt: Receipt) => {
        if (receipt.status === 'rejected') resolve();
      });
    });
    const honest = await mesh.worker(session.magnet);
    expect(Buffer.compare(await session.done, expected)).toBe(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(session.coordinator.acceptedUnits(toHex(liar.identity.publicKey))).toEqual([]);
    expect(session.coordinator.acceptedUnits(toHex(honest.identity.publicKey)).length).toBe(units);
  }, 120_000);
});

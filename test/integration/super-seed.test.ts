// Super-seeding on a loopback swarm: several real WebTorrent leechers fetch
// one seeded torrent, and the seeder uploads each piece about once instead of
// once per leecher; a lone leecher still gets everything from the seeder.

import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Torrent } from 'webtorrent';
import { whenDone } from '../../net/fetch-torrent.ts';
import { namedFile, readTorrentFile, seedBuffers } from '../../net/torrent-files.ts';
import { SuperSeed } from '../../tasker/super-seed.ts';
import { Mesh } from '../support/mesh.ts';

// 2 MiB makes 128 pieces of 16 KiB.
const SIZE = 2 * 1024 * 1024;

let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.stop();
  mesh = undefined;
});

async function superSeeded(net: Mesh, bytes: Uint8Array): Promise<Torrent> {
  const seeder = await net.client();
  const superSeed = new SuperSeed(seeder.client);
  return seedBuffers(seeder.client, 'data', [namedFile('data.bin', bytes)], {
    trackers: net.trackers,
    path: seeder.path,
    onWire: (wire) => superSeed.attach(wire),
  });
}

async function fetchAll(net: Mesh, seeded: Torrent, leechers: number): Promise<Torrent[]> {
  const clients = await Promise.all(Array.from({ length: leechers }, () => net.client()));
  const torrents = clients.map((c) => c.client.add(seeded.magnetURI, { path: c.path, announce: net.trackers }));
  return Promise.all(torrents.map((t) => whenDone(t, 90_000)));
}

describe('super-seeding', () => {
  it('uploads each piece about once to a swarm of leechers, and every leecher gets exact bytes', async () => {
    mesh = await Mesh.start();
    const bytes = randomBytes(SIZE);
    const seeded = await superSeeded(mesh, bytes);
    expect(seeded.pieces.length).toBeGreaterThan(64);
    const leechers = 6;
    const fetched = await fetchAll(mesh, seeded, leechers);
    for (const torrent of fetched) {
      const got = await readTorrentFile(torrent, 'data.bin');
      expect(got && Buffer.compare(got, bytes)).toBe(0);
    }
    // A star would upload `leechers` sizes; allow generous slack over the ideal 1.
    expect(seeded.uploaded).toBeGreaterThanOrEqual(SIZE);
    expect(seeded.uploaded).toBeLessThan(3 * SIZE);
  }, 120_000);

  it('serves a lone leecher everything', async () => {
    mesh = await Mesh.start();
    const bytes = randomBytes(SIZE);
    const seeded = await superSeeded(mesh, bytes);
    const [torrent] = await fetchAll(mesh, seeded, 1);
    const got = await readTorrentFile(torrent!, 'data.bin');
    expect(got && Buffer.compare(got, bytes)).toBe(0);
    expect(seeded.uploaded).toBeGreaterThanOrEqual(SIZE);
  }, 120_000);
});

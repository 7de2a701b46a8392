// Super-seeding on a loopback swarm: several real WebTorrent leechers fetch
// one seeded torrent, and the seeder uploads each piece about once instead of
// once per leecher; a lone leecher still gets everything from the seeder.

import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Torrent } from 'webtorrent';
import { whenDone } from '../../net/fetch-torrent.ts';
import { namedFile, readTorrentFile, seedBuffers } from '../../net/torrent-files.ts';
import { SuperSeed } from '../../tasker/super-seed.ts';
import type { SuperSeedOptions } from '../../tasker/super-seed.ts';
import { Mesh } from '../../testnet/mesh.ts';

// 2 MiB makes 128 pieces of 16 KiB.
const SIZE = 2 * 1024 * 1024;

let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.stop();
  mesh = undefined;
});

async function superSeeded(net: Mesh, bytes: Uint8Array, options?: SuperSeedOptions): Promise<Torrent> {
  const seeder = await net.client();
  const superSeed = new SuperSeed(seeder.client, options);
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

  it('seeds a torrent no larger than one window plainly: a second leecher need not wait for the first', async () => {
    mesh = await Mesh.start();
    const small = randomBytes(64 * 1024);
    // A stall that outlasts the test: under super-seeding the second leecher
    // would get nothing while the first sits on every piece it was given.
    const seeded = await superSeeded(mesh, small, { stallMs: 600_000 });
    const [idle, second] = await Promise.all([mesh.client(), mesh.client()]);
    // The first leecher joins and asks for nothing.
    const sitting = idle!.client.add(seeded.magnetURI, { path: idle!.path, announce: mesh.trackers, deselect: true });
    await new Promise<void>((resolve) => sitting.once('wire', () => resolve()));
    const fetched = second!.client.add(seeded.magnetURI, { path: second!.path, announce: mesh.trackers });
    await whenDone(fetched, 20_000);
    const got = await readTorrentFile(fetched, 'data.bin');
    expect(got && Buffer.compare(got, small)).toBe(0);
    expect(sitting.downloaded).toBe(0);
  }, 90_000);

  it('still super-seeds a larger torrent: pieces given to a leecher that sits on them go to nobody else', async () => {
    mesh = await Mesh.start();
    const bytes = randomBytes(SIZE);
    const seeded = await superSeeded(mesh, bytes, { stallMs: 600_000 });
    const [idle, second] = await Promise.all([mesh.client(), mesh.client()]);
    const sitting = idle!.client.add(seeded.magnetURI, { path: idle!.path, announce: mesh.trackers, deselect: true });
    await new Promise<void>((resolve) => sitting.once('wire', () => resolve()));
    const fetched = second!.client.add(seeded.magnetURI, { path: second!.path, announce: mesh.trackers });
    await new Promise<void>((resolve) => fetched.once('wire', () => resolve()));
    // Long enough for 2 MiB to arrive many times over on loopback.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // The first window (256 KiB) went to the sitting leecher, and only to it.
    expect(fetched.done).toBe(false);
    expect(fetched.downloaded).toBeLessThanOrEqual(SIZE - 256 * 1024);
  }, 90_000);
});

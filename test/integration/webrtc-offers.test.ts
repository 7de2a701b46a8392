// When Node peers make WebRTC offers (net/webrtc-offers.ts): two that meet
// over TCP make none, and two that can meet only through a WebSocket tracker
// still do, and connect over WebRTC.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocketTracker from 'bittorrent-tracker/websocket-tracker';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { addTorrent, whenDone } from '../../net/fetch-torrent.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { TorrentClient } from '../../net/torrent-client.ts';
import { namedFile, readTorrentFile, seedBuffers } from '../../net/torrent-files.ts';
import { OFFER_GRACE_MS } from '../../net/webrtc-offers.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { waitFor } from '../../testnet/wait.ts';

const peersMade = () => vi.spyOn((WebSocketTracker as unknown as { prototype: { _createPeer(): unknown } }).prototype, '_createPeer');

let mesh: Mesh | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await mesh?.stop();
  mesh = undefined;
});

describe('WebRTC offers from Node peers', () => {
  it('two Node peers that meet over TCP make no WebRTC offers, through and past the grace', async () => {
    mesh = await Mesh.start();
    const created = peersMade();
    const [seeder, leecher] = await Promise.all([mesh.client(), mesh.client()]);
    const bytes = randomBytes(100_000);
    const seeded = await seedBuffers(seeder.client, 'tcp', [namedFile('blob.bin', bytes)], { trackers: mesh.trackers, path: seeder.path });
    const fetched = await whenDone(addTorrent(leecher.client, seeded.magnetURI, { path: leecher.path, announce: mesh.trackers }), 30_000);
    expect(Buffer.compare(Buffer.from((await readTorrentFile(fetched, 'blob.bin'))!), bytes)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, OFFER_GRACE_MS + 500));
    // Both announced to the WebSocket tracker (it is in mesh.trackers), and neither made a PeerConnection.
    expect(mesh.trackers.some((t) => t.startsWith('ws'))).toBe(true);
    expect(created).not.toHaveBeenCalled();
    for (const wire of fetched.wires) expect(wire.type).not.toBe('webrtc');
  }, 60_000);

  it('two Node peers that can meet only through a WebSocket tracker offer after the grace, and connect over WebRTC', async () => {
    mesh = await Mesh.start();
    const created = peersMade();
    const ws = mesh.trackers.filter((t) => t.startsWith('ws'));
    const dir = await mkdtemp(join(tmpdir(), 'sc-offers-'));
    // No DHT and no TCP tracker: WebRTC is the only way the two can meet.
    const seeder = new TorrentClient(nodeCrypto, { dht: false, loopback: true, path: join(dir, 'a') });
    const leecher = new TorrentClient(nodeCrypto, { dht: false, loopback: true, path: join(dir, 'b') });
    try {
      await seeder.start();
      await leecher.start();
      const bytes = randomBytes(100_000);
      const seeded = await seedBuffers(seeder.client, 'rtc', [namedFile('blob.bin', bytes)], { trackers: ws, path: seeder.path });
      // Half a grace apart, so that the two peers' offers do not cross at the tracker.
      await new Promise((resolve) => setTimeout(resolve, OFFER_GRACE_MS / 2));
      // Added by its metadata: between two Node peers, a magnet's metadata-less start
      // sometimes never gets a WebRTC connection going (a WebTorrent quirk; see relay.test.ts).
      const adding = addTorrent(leecher.client, seeded.torrentFile, { path: leecher.path, announce: ws });
      // An offer can still be lost on a busy machine; like any client, announce again while alone.
      const discovery = adding as unknown as { discovery?: { tracker?: { update(): void } } };
      const reannounce = setInterval(() => {
        if (adding.wires.length === 0) discovery.discovery?.tracker?.update();
      }, 5000);
      const fetched = await whenDone(adding, 40_000).finally(() => clearInterval(reannounce));
      expect(Buffer.compare(Buffer.from((await readTorrentFile(fetched, 'blob.bin'))!), bytes)).toBe(0);
      expect(fetched.wires.length).toBeGreaterThan(0);
      for (const wire of fetched.wires) expect(wire.type).toBe('webrtc');
      expect(created).toHaveBeenCalled();
    } finally {
      await seeder.stop();
      await leecher.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a fetch that offerAtOnce announces with offers from the start; a sparing one starts without', async () => {
    mesh = await Mesh.start();
    const ws = mesh.trackers.filter((t) => t.startsWith('ws'));
    const proto = (WebSocketTracker as unknown as { prototype: { _send(params: unknown): void } }).prototype;
    const sent: Array<{ infoHash: string; event?: string; offers?: unknown[] }> = [];
    const send = proto._send;
    vi.spyOn(proto, '_send').mockImplementation(function (this: { client: { infoHash: string } }, params: unknown) {
      const p = params as { action: string; event?: string; offers?: unknown[] };
      if (p.action === 'announce') sent.push({ infoHash: this.client.infoHash, event: p.event, offers: p.offers });
      return send.call(this, params);
    });
    const dir = await mkdtemp(join(tmpdir(), 'sc-offers-'));
    const client = new TorrentClient(nodeCrypto, { dht: false, loopback: true, path: dir });
    try {
      await client.start();
      const eager = addTorrent(client.client, `magnet:?xt=urn:btih:${'ab'.repeat(20)}`, { path: dir, announce: ws, offerAtOnce: true });
      const sparing = addTorrent(client.client, `magnet:?xt=urn:btih:${'cd'.repeat(20)}`, { path: dir, announce: ws });
      const started = (hash: string) => sent.find((s) => s.infoHash === hash && s.event === 'started');
      await waitFor('both started announces', () => (started(eager.infoHash) && started(sparing.infoHash)) || undefined, 20_000);
      expect(started(eager.infoHash)!.offers!.length).toBeGreaterThan(0);
      expect(started(sparing.infoHash)!.offers).toEqual([]);
    } finally {
      await client.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

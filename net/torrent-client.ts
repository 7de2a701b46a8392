// WebTorrent clients for taskers and Node workers. One place decides how a
// client joins the network: trackers, the DHT with our bootstrap list and
// BEP 44 check, and — on a loopback network — no LSD, PEX, UPnP or STUN.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebTorrent from 'webtorrent';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { dhtOptions } from './dht.ts';
import { installOfferPolicy } from './webrtc-offers.ts';
import { applyWebTorrentPatches } from './webtorrent-patches.ts';
import type { DhtConfig } from './dht.ts';

export interface TorrentClientConfig {
  /** The DHT to join; false for none (tracker only). */
  dht: false | DhtConfig;
  /** Keep to the machine: no local discovery, PEX, port mapping or public STUN. */
  loopback: boolean;
  /** Where this client stores torrents. Each client needs its own: a second client on the same folder "finishes" at once from the first one's files. */
  path?: string;
}

export interface TorrentClient {
  client: WebTorrent;
  path: string;
}

export async function createTorrentClient(backend: CryptoBackend, config: TorrentClientConfig): Promise<TorrentClient> {
  applyWebTorrentPatches();
  installOfferPolicy();
  const path = config.path ?? (await mkdtemp(join(tmpdir(), 'sparecycles-torrents-')));
  const client = new WebTorrent({
    dht: config.dht === false ? false : dhtOptions(backend, config.dht),
    lsd: !config.loopback,
    utPex: !config.loopback,
    natUpnp: !config.loopback,
    natPmp: !config.loopback,
    // uTP's native module is optional; TCP and WebRTC are what we test.
    utp: false,
    tracker: config.loopback ? { rtcConfig: { iceServers: [] } } : {},
  });
  // A client error is ours to log, not a reason to crash the process.
  client.on('error', () => {});
  await new Promise<void>((resolve) => (client.ready ? resolve() : client.once('ready', () => resolve())));
  return { client, path };
}

export function destroyTorrentClient(client: WebTorrent): Promise<void> {
  return new Promise((resolve) => client.destroy(() => resolve()));
}

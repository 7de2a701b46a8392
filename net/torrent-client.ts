// WebTorrent clients for taskers and Node workers. One place decides how a
// client joins the network: trackers, the DHT with our bootstrap list and
// BEP 44 check, and — on a loopback network — no LSD, PEX, UPnP or STUN.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebTorrent from 'webtorrent';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
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

/**
 * A WebTorrent client: configured by its constructor, started (and given its
 * storage folder) by start(), destroyed with its torrents, trackers and DHT
 * node by stop().
 */
export class TorrentClient {
  readonly #backend: CryptoBackend;
  readonly #config: TorrentClientConfig;
  #client: WebTorrent | undefined;
  #path: string | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(backend: CryptoBackend, config: TorrentClientConfig) {
    this.#backend = backend;
    this.#config = config;
  }

  get client(): WebTorrent {
    if (!this.#client) throw new SpareCyclesError('INTERNAL', 'TorrentClient: no client before start()');
    return this.#client;
  }

  /** Where this client stores torrents: the configured folder, or a fresh temporary one. */
  get path(): string {
    if (this.#path === undefined) throw new SpareCyclesError('INTERNAL', 'TorrentClient: no storage before start()');
    return this.#path;
  }

  start(): Promise<void> {
    if (this.#starting || this.#stopping) return Promise.reject(new SpareCyclesError('INTERNAL', 'TorrentClient: start() after start() or stop()'));
    this.#starting = this.#create();
    return this.#starting;
  }

  async #create(): Promise<void> {
    applyWebTorrentPatches();
    installOfferPolicy();
    const config = this.#config;
    this.#path = config.path ?? (await mkdtemp(join(tmpdir(), 'sparecycles-torrents-')));
    const client = new WebTorrent({
      dht: config.dht === false ? false : dhtOptions(this.#backend, config.dht),
      lsd: !config.loopback,
      utPex: !config.loopback,
      natUpnp: !config.loopback,
      natPmp: !config.loopback,
      // uTP's native module is optional; TCP and WebRTC are what we test.
      utp: false,
      tracker: config.loopback ? { rtcConfig: { iceServers: [] } } : {},
    });
    this.#client = client;
    // A client error is ours to log, not a reason to crash the process.
    client.on('error', () => {});
    await new Promise<void>((resolve) => (client.ready ? resolve() : client.once('ready', () => resolve())));
  }

  /** Destroys the client and everything it runs. Safe to call more than once, and before start(). */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => {});
      const client = this.#client;
      if (client) await new Promise<void>((resolve) => client.destroy(() => resolve()));
    })();
    return this.#stopping;
  }
}

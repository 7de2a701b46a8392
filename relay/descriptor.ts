// The relay's own signed descriptor (docs/relay-directory.md), and where
// others find it: a BEP 44 mutable item under the relay's key (seq = the
// descriptor's ts, so each re-signing replaces the last), an announce of the
// relay's port on RELAY_TOPIC_HEX, GET /descriptor on that port, and
// GET /descriptors, which also hands on the descriptors of the relays this
// one has learnt from the DHT, exactly as they signed them, so a browser
// that knows one relay can learn the rest (and check each one itself).
//
// The descriptor lists the onion keys of the current epoch and the next, so
// it is re-signed and published again each time they rotate, as well as
// every reannounceMs. Publishing never holds the relay up: it runs in the
// background and retries with a growing delay; a relay nobody can find still
// serves whoever knows its URL.
//
// The same view is where the relay's onion links look up the relays they
// dial. Peers given by the operator seed it without waiting on a DHT walk,
// so a small private mesh finds itself; they are asked at start, again soon
// while any has not answered, then every peerRefreshMs and at every learn.
// A relay id the view does not hold makes it learn again, at most once every
// missRefreshMs, so a relay that appeared since is soon reachable.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type DHT from 'bittorrent-dht';
import type { Logger } from '../serve/log.ts';
import { DHT_READY_WAIT_MS, onceReady } from './dht-ready.ts';
import type { OnionKeys } from './onion-keys.ts';
import { announceOnTopic, putMessageItem } from '../net/dht.ts';
import { relayDescriptorsSource } from '../net/relay-http-sources.ts';
import { dhtDescriptorSource } from '../net/relay-sources.ts';
import { RelayView, type DescriptorSource } from '../net/relay-view.ts';
import { toHex } from '../protocol/bytes.ts';
import { MESSAGE_LIMITS, MESSAGE_TYPES, RELAY_TOPIC_HEX } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { UsageError } from '../protocol/errors.ts';
import { encodeMessage, signMessage, type RelayDescriptor } from '../protocol/messages/index.ts';
import { encodeDescriptorList, type ExitPolicy } from '../protocol/messages/relay.ts';

export const RELAY_AGENT = 'sparecycles-relay/0.1.0';

/** What a relay says about itself beyond its key and URL; every field has a default. */
export interface DirectoryOptions {
  /** What it delivers to as an exit. Default: no mints, and no mailboxes. */
  exit?: ExitPolicy;
  /** The operator's label, shared by every relay one operator runs. */
  family?: string;
  /** The software and its version. */
  agent?: string;
}

export interface DescriptorFields extends DirectoryOptions {
  ws: string;
  /** Without them the descriptor lists no onion keys: the relay forwards no packets. */
  onionKeys?: OnionKeys | undefined;
  ts: number;
}

export function signDescriptor(backend: CryptoBackend, identity: Identity, fields: DescriptorFields): RelayDescriptor {
  const { ws, onionKeys, ts, exit, family, agent } = fields;
  return signMessage(backend, identity.exportSeed(), {
    t: 'relay-descriptor',
    v: MESSAGE_TYPES['relay-descriptor'].version,
    key: identity.publicKey,
    ws,
    onion: onionKeys?.published() ?? [],
    exit: exit ? { mints: [...exit.mints], mailboxes: exit.mailboxes } : { mints: [], mailboxes: false },
    ...(family === undefined ? {} : { family }),
    agent: agent ?? RELAY_AGENT,
    ts,
  });
}

/** The JSON face of a descriptor, for people and dashboards (GET /descriptor.json). */
export function descriptorJson(d: RelayDescriptor): Record<string, unknown> {
  return {
    t: d.t,
    v: d.v,
    key: toHex(d.key),
    ws: d.ws,
    onion: d.onion.map((k) => ({ epoch: k.epoch, key: toHex(k.key) })),
    exit: { mints: d.exit.mints, mailboxes: d.exit.mailboxes },
    ...(d.family === undefined ? {} : { family: d.family }),
    agent: d.agent,
    ts: d.ts,
    sig: toHex(d.sig),
  };
}

export interface DescriptorPublisherOptions extends DirectoryOptions {
  backend: CryptoBackend;
  identity: Identity;
  dht: DHT;
  /** The relay's onion keys, already opened: the descriptor lists them and follows their rotation. None for a relay that forwards no packets. */
  onionKeys?: OnionKeys | undefined;
  /** The WebSocket URL the descriptor names. */
  url: string;
  /** The TCP port announced on the relay topic (HTTP and WebSocket). */
  port: number;
  /** How often to re-sign, put and announce; DHT nodes forget both after a while. */
  reannounceMs: number;
  log: Logger;
  /** Other relays' ws URLs whose /descriptors seed the view (at most MAX_PEERS). */
  peers?: readonly string[] | undefined;
  /** How often the peers are asked once all have answered. */
  peerRefreshMs?: number | undefined;
  /** The least time between two learns that lookups of unknown relays set off. */
  missRefreshMs?: number | undefined;
  /** Unix milliseconds; tests move it. */
  now?: () => number;
}

/** Peers a relay asks: each is a GET every peerRefreshMs. */
export const MAX_PEERS = 16;
export const PEER_REFRESH_MS = 60_000;
export const MISS_REFRESH_MS = 10_000;
const FIRST_RETRY_MS = 5_000;
const FIRST_PEER_RETRY_MS = 1_000;
/** Past the epoch boundary before rotating, so a clock a little behind still finds the new epoch begun. */
const ROTATE_MARGIN_MS = 1_000;

export class DescriptorPublisher {
  readonly #options: DescriptorPublisherOptions;
  readonly #now: () => number;
  /** The relays this one has learnt from the DHT, handed on at GET /descriptors. */
  readonly #view: RelayView;
  #current: RelayDescriptor;
  #bytes: Uint8Array;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #rotateTimer: ReturnType<typeof setTimeout> | undefined;
  #learning: Promise<void> | undefined;
  #stopped = false;
  #retryMs = FIRST_RETRY_MS;
  #unwait: (() => void) | undefined;
  readonly #peers: DescriptorSource[];
  readonly #abort = new AbortController();
  #peerTimer: ReturnType<typeof setTimeout> | undefined;
  #peerRetryMs = FIRST_PEER_RETRY_MS;
  #missTimer: ReturnType<typeof setTimeout> | undefined;
  #learnedAt = -Infinity;

  constructor(options: DescriptorPublisherOptions) {
    const peers = options.peers ?? [];
    if (peers.length > MAX_PEERS) throw new UsageError(`peers: expected at most ${MAX_PEERS}, got ${peers.length}`);
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#current = this.#sign(this.#now());
    this.#bytes = encodeMessage(this.#current);
    const { backend, dht } = options;
    this.#peers = peers.map((ws) => relayDescriptorsSource(ws));
    this.#view = new RelayView({ backend, now: this.#now, sources: [dhtDescriptorSource({ dht, backend }), ...this.#peers] });
  }

  get current(): RelayDescriptor {
    return this.#current;
  }

  /** The canonical bytes of the current descriptor (GET /descriptor). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** The relay's view of the others, filled from the DHT at every publish and from the peers. */
  get view(): RelayView {
    return this.#view;
  }

  /** Up to MESSAGE_LIMITS.relayDescriptors signed descriptors: this relay's own first, then those it learnt, newest first. */
  descriptors(): Uint8Array[] {
    const own = toHex(this.#current.key);
    const others = this.#view
      .relays()
      .filter((e) => e.id !== own)
      .map((e) => e.bytes);
    return [this.#bytes, ...others].slice(0, MESSAGE_LIMITS.relayDescriptors);
  }

  /** Publishes once the DHT has joined (or after a while regardless), in the background, then every reannounceMs and at every key rotation. */
  start(): void {
    this.#unwait = onceReady(this.#options.dht, DHT_READY_WAIT_MS, () => void this.#cycle());
    this.#scheduleRotation();
    if (this.#peers.length > 0) void this.#askPeers();
  }

  stop(): void {
    this.#stopped = true;
    this.#unwait?.();
    this.#abort.abort();
    for (const timer of [this.#timer, this.#rotateTimer, this.#peerTimer, this.#missTimer]) clearTimeout(timer);
    this.#timer = this.#rotateTimer = this.#peerTimer = this.#missTimer = undefined;
  }

  /** The ws URL of relay `id` from the view; for an id it does not hold, undefined, and the view learns again soon. */
  urlOf(id: Uint8Array): string | undefined {
    const url = this.#view.get(id)?.descriptor.ws;
    if (url === undefined && !this.#stopped && !this.#missTimer) {
      const wait = Math.max(0, this.#learnedAt + (this.#options.missRefreshMs ?? MISS_REFRESH_MS) - Date.now());
      this.#missTimer = setTimeout(() => {
        this.#missTimer = undefined;
        void this.learn();
      }, wait);
      this.#missTimer.unref();
    }
    return url;
  }

  /** Re-signs (a fresh ts, the keys of now), puts the item and announces the port. Rejects if either fails. */
  async publish(): Promise<void> {
    await this.#options.onionKeys?.rotate();
    // ts is also the BEP 44 seq, which must grow even if the clock does not.
    const descriptor = this.#sign(Math.max(this.#now(), this.#current.ts + 1));
    this.#current = descriptor;
    this.#bytes = encodeMessage(descriptor);
    this.#view.add(this.#bytes, 'self');
    await Promise.all([this.#put(descriptor), this.#announce()]);
  }

  /** Asks every source now, the DHT and the peers (or joins the refresh running). */
  learn(): Promise<void> {
    if (!this.#learning) this.#learnedAt = Date.now();
    this.#learning ??= this.#view
      .refresh(this.#abort.signal)
      .then((report) => {
        if (report.failed.length > 0) this.#options.log({ level: 'debug', event: 'relay-directory-failed', failed: report.failed });
      })
      .finally(() => (this.#learning = undefined));
    return this.#learning;
  }

  #sign(ts: number): RelayDescriptor {
    const { backend, identity, url, onionKeys, exit, family, agent } = this.#options;
    return signDescriptor(backend, identity, { ws: url, onionKeys, ts, exit, family, agent });
  }

  async #cycle(): Promise<void> {
    if (this.#stopped) return;
    const { log, reannounceMs, port } = this.#options;
    let delay = reannounceMs;
    try {
      await this.publish();
      this.#retryMs = FIRST_RETRY_MS;
      log({ level: 'info', event: 'relay-descriptor-published', ts: this.#current.ts, port, topic: RELAY_TOPIC_HEX });
      if (!this.#stopped) void this.learn();
    } catch (error) {
      // A DHT still joining, or with no nodes yet: try again soon.
      delay = Math.min(this.#retryMs, reannounceMs);
      this.#retryMs = Math.min(this.#retryMs * 2, reannounceMs);
      if (!this.#stopped) log({ level: 'warn', event: 'relay-descriptor-publish-failed', message: (error as Error).message, retryMs: delay });
    }
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#cycle(), delay);
    this.#timer.unref();
  }

  /** At each epoch boundary: new keys, old ones deleted, and the descriptor that lists them published at once. */
  #scheduleRotation(): void {
    const keys = this.#options.onionKeys;
    if (this.#stopped || !keys) return;
    const wait = keys.msUntilRotation() + ROTATE_MARGIN_MS;
    this.#rotateTimer = setTimeout(() => {
      keys
        .rotate()
        .then(() => {
          if (this.#stopped) return;
          // The publish cycle re-signs with the new keys and puts them; its timer starts again from here.
          void this.#cycle();
        })
        .catch((error: Error) => this.#options.log({ level: 'error', event: 'relay-onion-rotate-failed', message: error.message }))
        .finally(() => this.#scheduleRotation());
    }, wait);
    this.#rotateTimer.unref();
  }

  /** Asks every peer for its /descriptors; soon again while any has not answered, else after peerRefreshMs. */
  async #askPeers(): Promise<void> {
    const answered = await Promise.all(
      this.#peers.map((source) =>
        source.fetch(this.#abort.signal).then(
          (found) => (found.forEach((bytes) => this.#view.add(bytes, source.name)), true),
          (error: Error) => (this.#options.log({ level: 'debug', event: 'relay-peer-failed', peer: source.name, message: error.message }), false),
        ),
      ),
    );
    if (this.#stopped) return;
    const every = this.#options.peerRefreshMs ?? PEER_REFRESH_MS;
    const delay = answered.every(Boolean) ? every : Math.min(this.#peerRetryMs, every);
    this.#peerRetryMs = answered.every(Boolean) ? FIRST_PEER_RETRY_MS : Math.min(this.#peerRetryMs * 2, every);
    this.#peerTimer = setTimeout(() => void this.#askPeers(), delay);
    this.#peerTimer.unref();
  }

  #put(descriptor: RelayDescriptor): Promise<void> {
    const { backend, identity, dht } = this.#options;
    return putMessageItem(dht, backend, identity, descriptor, descriptor.ts);
  }

  #announce(): Promise<void> {
    return announceOnTopic(this.#options.dht, RELAY_TOPIC_HEX, this.#options.port);
  }
}

/**
 * GET /descriptors: the signed descriptors the relay knows, its own first, as
 * a bencoded list (protocol/messages/relay.ts encodeDescriptorList). The
 * relay's router mounts it; the method and CORS are its business.
 */
export function serveDescriptors(publisher: DescriptorPublisher, _req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' });
  res.end(encodeDescriptorList(publisher.descriptors()));
}

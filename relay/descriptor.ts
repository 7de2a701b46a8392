// The relay's own signed descriptor, and where others will find it: a BEP 44
// mutable item under the relay's key (seq = the descriptor's ts, so each
// re-signing replaces the last), an announce of the relay's port on
// RELAY_TOPIC_HEX, and GET /descriptor on that port. Nothing reads them yet:
// the reader to come (a browser's helper or another relay) looks up the
// topic, fetches /descriptor from each ip:port, and checks the signature
// under the key the descriptor names.
//
// Publishing never holds the relay up: it runs in the background and retries
// with a growing delay; a relay nobody can find still serves whoever knows
// its URL.

import type DHT from 'bittorrent-dht';
import type { Logger } from '../serve/log.ts';
import { DHT_READY_WAIT_MS, onceReady } from './dht-ready.ts';
import { announceOnTopic, putMessageItem } from '../net/dht.ts';
import { toHex } from '../protocol/bytes.ts';
import { MESSAGE_TYPES, RELAY_TOPIC_HEX } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { encodeMessage, signMessage, type RelayDescriptor } from '../protocol/messages/index.ts';

export function signDescriptor(backend: CryptoBackend, identity: Identity, ws: string, ts: number): RelayDescriptor {
  return signMessage(backend, identity.exportSeed(), {
    t: 'relay-descriptor',
    v: MESSAGE_TYPES['relay-descriptor'].version,
    key: identity.publicKey,
    ws,
    ts,
  });
}

/** The JSON face of a descriptor, for people and dashboards (GET /descriptor.json). */
export function descriptorJson(d: RelayDescriptor): Record<string, unknown> {
  return { t: d.t, v: d.v, key: toHex(d.key), ws: d.ws, ts: d.ts, sig: toHex(d.sig) };
}

export interface DescriptorPublisherOptions {
  backend: CryptoBackend;
  identity: Identity;
  dht: DHT;
  /** The WebSocket URL the descriptor names. */
  url: string;
  /** The TCP port announced on the relay topic (HTTP and WebSocket). */
  port: number;
  /** How often to re-sign, put and announce; DHT nodes forget both after a while. */
  reannounceMs: number;
  log: Logger;
}

const FIRST_RETRY_MS = 5_000;

export class DescriptorPublisher {
  readonly #options: DescriptorPublisherOptions;
  #current: RelayDescriptor;
  #bytes: Uint8Array;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #retryMs = FIRST_RETRY_MS;
  #unwait: (() => void) | undefined;

  constructor(options: DescriptorPublisherOptions) {
    this.#options = options;
    this.#current = signDescriptor(options.backend, options.identity, options.url, Date.now());
    this.#bytes = encodeMessage(this.#current);
  }

  get current(): RelayDescriptor {
    return this.#current;
  }

  /** The canonical bytes of the current descriptor (GET /descriptor). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** Publishes once the DHT has joined (or after a while regardless), in the background, then every reannounceMs. */
  start(): void {
    this.#unwait = onceReady(this.#options.dht, DHT_READY_WAIT_MS, () => void this.#cycle());
  }

  stop(): void {
    this.#stopped = true;
    this.#unwait?.();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Re-signs (a fresh ts), puts the item and announces the port. Rejects if either fails. */
  async publish(): Promise<void> {
    const { backend, identity, url } = this.#options;
    // ts is also the BEP 44 seq, which must grow even if the clock does not.
    const descriptor = signDescriptor(backend, identity, url, Math.max(Date.now(), this.#current.ts + 1));
    this.#current = descriptor;
    this.#bytes = encodeMessage(descriptor);
    await Promise.all([this.#put(descriptor), this.#announce()]);
  }

  async #cycle(): Promise<void> {
    if (this.#stopped) return;
    const { log, reannounceMs, port } = this.#options;
    let delay = reannounceMs;
    try {
      await this.publish();
      this.#retryMs = FIRST_RETRY_MS;
      log({ level: 'info', event: 'relay-descriptor-published', ts: this.#current.ts, port, topic: RELAY_TOPIC_HEX });
    } catch (error) {
      // A DHT still joining, or with no nodes yet: try again soon.
      delay = Math.min(this.#retryMs, reannounceMs);
      this.#retryMs = Math.min(this.#retryMs * 2, reannounceMs);
      if (!this.#stopped) log({ level: 'warn', event: 'relay-descriptor-publish-failed', message: (error as Error).message, retryMs: delay });
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#cycle(), delay);
    this.#timer.unref();
  }

  #put(descriptor: RelayDescriptor): Promise<void> {
    const { backend, identity, dht } = this.#options;
    return putMessageItem(dht, backend, identity, descriptor, descriptor.ts);
  }

  #announce(): Promise<void> {
    return announceOnTopic(this.#options.dht, RELAY_TOPIC_HEX, this.#options.port);
  }

}

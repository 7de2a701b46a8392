// Mainline DHT nodes with SpareCycles' rules: BEP 44 signatures checked by our
// crypto backend, an explicit bootstrap list (a private one in tests and the
// demo, the public routers only when the user gives none), and a bound host.

import DHT from 'bittorrent-dht';
import type { DhtOptions } from 'bittorrent-dht';
import { decode } from '../protocol/bencode.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { encodeMessage } from '../protocol/messages/index.ts';
import type { Message } from '../protocol/messages/index.ts';

export interface DhtConfig {
  /** host:port of nodes to join through; undefined means the public mainline DHT. */
  bootstrap?: string[];
  /** Address to bind; 127.0.0.1 keeps a test network on loopback. */
  host?: string;
  port?: number;
  /** Where the node reports socket errors and peers' malformed packets. */
  log?: (level: 'warn' | 'error', event: string, detail: string) => void;
}

/** BEP 44's raw ed25519 check, with lengths checked before the backend sees the bytes. */
export function bep44Verify(backend: CryptoBackend): NonNullable<DhtOptions['verify']> {
  return (signature, message, publicKey) =>
    signature.length === 64 && publicKey.length === 32 && backend.ed25519Verify(publicKey, message, signature);
}

/** Options for a DHT node, also handed to WebTorrent, which builds its own. */
export function dhtOptions(backend: CryptoBackend, config: DhtConfig): DhtOptions {
  const options: DhtOptions = { verify: bep44Verify(backend) };
  // An empty list is "no bootstrap" (the first node of a private network);
  // bittorrent-dht treats a missing one as "use the public routers".
  if (config.bootstrap !== undefined) options.bootstrap = config.bootstrap.length ? config.bootstrap : false;
  return options;
}

export function parseBootstrap(list: string): string[] {
  const nodes = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const node of nodes) {
    if (!/^[^\s:]+:\d{1,5}$/.test(node)) throw new SpareCyclesError('USAGE', `expected host:port in the bootstrap list, got ${node}`);
  }
  return nodes;
}

/**
 * One DHT node: built with its rules and its bootstrap list, bound by start(),
 * destroyed by stop(). What runs on it (lookups, puts, a relay) is handed
 * `node.dht` and never destroys it.
 */
export class DhtNode {
  readonly #backend: CryptoBackend;
  readonly #config: DhtConfig;
  #dht: DHT | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(backend: CryptoBackend, config: DhtConfig) {
    this.#backend = backend;
    this.#config = config;
  }

  /** The running node. */
  get dht(): DHT {
    if (!this.#dht) throw new SpareCyclesError('INTERNAL', 'DhtNode: no node before start()');
    return this.#dht;
  }

  /** host:port the node is bound to: what others bootstrap from. */
  get address(): string {
    return dhtAddress(this.dht);
  }

  start(): Promise<void> {
    if (this.#starting || this.#stopping) return Promise.reject(new SpareCyclesError('INTERNAL', 'DhtNode: start() after start() or stop()'));
    this.#starting = this.#listen();
    return this.#starting;
  }

  async #listen(): Promise<void> {
    const { port, host, log = () => {} } = this.#config;
    const dht = new DHT(dhtOptions(this.#backend, this.#config));
    try {
      await new Promise<void>((resolve, reject) => {
        dht.once('error', reject);
        dht.listen(port ?? 0, host ?? '0.0.0.0', () => {
          dht.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      // It began bootstrapping when it was made: leave nothing behind.
      await new Promise<void>((resolve) => dht.destroy(() => resolve()));
      throw error;
    }
    this.#dht = dht;
    // A malformed packet from a peer is a warning, never a crash.
    dht.on('error', (error: Error) => log('error', 'dht-error', error.message));
    dht.on('warning', (error: Error) => log('warn', 'dht-warning', error.message));
  }

  /** Destroys the node: its socket, its timers, and with them every lookup still running on it. Safe to call more than once, and before start(). */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => {});
      const dht = this.#dht;
      if (dht) await new Promise<void>((resolve) => dht.destroy(() => resolve()));
    })();
    return this.#stopping;
  }
}

export function dhtAddress(dht: DHT): string {
  const { address, port } = dht.address();
  return `${address}:${port}`;
}

/**
 * Resolves true once the node has joined (bootstrapped), false after
 * `timeoutMs` on a quiet network, at once when `signal` aborts, and when the
 * node is destroyed (a destroyed node never becomes ready).
 */
export function dhtReady(dht: DHT, timeoutMs = 10_000, signal?: AbortSignal): Promise<boolean> {
  if ((dht as DHT & { ready?: boolean }).ready) return Promise.resolve(true);
  if (signal?.aborted || dht.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const settle = (ready: boolean) => {
      clearTimeout(timer);
      dht.off('ready', onReady);
      dht.off('close', onEnd);
      signal?.removeEventListener('abort', onEnd);
      resolve(ready);
    };
    const onReady = () => settle(true);
    const onEnd = () => settle(false);
    const timer = setTimeout(onEnd, timeoutMs);
    dht.once('ready', onReady);
    dht.once('close', onEnd);
    signal?.addEventListener('abort', onEnd, { once: true });
  });
}

/**
 * Puts a signed SpareCycles message as the BEP 44 mutable item under its
 * author's key. `v` is the message's own bencode dictionary, so any DHT
 * client can read it; bittorrent-dht hands `sign` BEP 44's signing bytes
 * (`3:seqi…e1:v…`), which are signed with raw ed25519.
 */
export function putMessageItem(
  dht: DHT,
  backend: CryptoBackend,
  identity: Identity,
  message: Message,
  seq: number,
): Promise<void> {
  const seed = identity.exportSeed();
  return new Promise((resolve, reject) => {
    dht.put(
      {
        k: identity.publicKey,
        v: decode(encodeMessage(message)),
        seq,
        sign: (bytes) => backend.ed25519Sign(seed, bytes),
      },
      (error) => (error ? reject(error) : resolve()),
    );
  });
}

/** Announces `port` on a topic info-hash (BEP 5), so get_peers on the topic finds it. */
export function announceOnTopic(dht: DHT, topicHex: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    dht.announce(topicHex, port, (error) => (error ? reject(error) : resolve()));
  });
}

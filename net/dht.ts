// Mainline DHT nodes with SpareCycles' rules: BEP 44 signatures checked by our
// crypto backend, an explicit bootstrap list (a private one in tests and the
// demo, the public routers only when the user gives none), and a bound host.

import DHT from 'bittorrent-dht';
import type { DhtOptions } from 'bittorrent-dht';
import { decode } from '../protocol/bencode.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
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
    if (!/^[^\s:]+:\d{1,5}$/.test(node)) throw new RangeError(`expected host:port in the bootstrap list, got ${node}`);
  }
  return nodes;
}

export async function startDht(backend: CryptoBackend, config: DhtConfig): Promise<DHT> {
  const dht = new DHT(dhtOptions(backend, config));
  await new Promise<void>((resolve, reject) => {
    dht.once('error', reject);
    dht.listen(config.port ?? 0, config.host ?? '0.0.0.0', () => {
      dht.off('error', reject);
      resolve();
    });
  });
  // A malformed packet from a peer is a warning, never a crash.
  const log = config.log ?? (() => {});
  dht.on('error', (error: Error) => log('error', 'dht-error', error.message));
  dht.on('warning', (error: Error) => log('warn', 'dht-warning', error.message));
  return dht;
}

export function stopDht(dht: DHT): Promise<void> {
  return new Promise((resolve) => dht.destroy(() => resolve()));
}

export function dhtAddress(dht: DHT): string {
  const { address, port } = dht.address();
  return `${address}:${port}`;
}

/** Resolves once the node has joined (bootstrapped), or after `timeoutMs` on a quiet network. */
export function dhtReady(dht: DHT, timeoutMs = 10_000): Promise<boolean> {
  if ((dht as DHT & { ready?: boolean }).ready) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    dht.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
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

// The Node-only places a RelayView's descriptors come from (net/relay-view.ts
// checks them all): the DHT (relays announced on RELAY_TOPIC_HEX, each one's
// GET /descriptor, and the BEP 44 item under the key it names, which may be
// fresher). Relays' own GET /descriptors, which a browser can ask too, are in
// net/relay-http-sources.ts. And a guard store in a file, for the CLI.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type DHT from 'bittorrent-dht';
import type { DhtItem } from 'bittorrent-dht';
import { bep44Verify } from './dht.ts';
import { encode, type BValue } from '../protocol/bencode.ts';
import { toHex } from '../protocol/bytes.ts';
import { RELAY_TOPIC_HEX } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { decodeMessage } from '../protocol/messages/index.ts';
import { removeFileDurably, writeFileAtomic } from '../store/atomic-file.ts';
import { getBytes } from './relay-http-sources.ts';
import type { DescriptorSource, GuardStore } from './relay-view.ts';

export interface DhtSourceOptions {
  dht: DHT;
  backend: CryptoBackend;
  /** Bound on the topic lookup. */
  lookupMs?: number;
  /** Bound on each /descriptor fetch and BEP 44 get. */
  timeoutMs?: number;
  /** Announced endpoints asked at most. */
  maxEndpoints?: number;
}

/**
 * The DHT's relays: a lookup on RELAY_TOPIC_HEX, each endpoint's
 * GET /descriptor, and the BEP 44 item under the key that descriptor names.
 */
export function dhtDescriptorSource(options: DhtSourceOptions): DescriptorSource {
  const { dht, backend, lookupMs = 15_000, timeoutMs = 5_000, maxEndpoints = 64 } = options;
  return {
    name: 'dht',
    fetch: async (signal) => {
      const endpoints = (await lookupTopic(dht, lookupMs, signal)).slice(0, maxEndpoints);
      const found: Uint8Array[] = [];
      await Promise.all(
        endpoints.map(async (endpoint) => {
          let bytes: Uint8Array;
          try {
            bytes = await getBytes(`http://${endpoint}/descriptor`, 1024, timeoutMs, signal);
          } catch {
            return;
          }
          found.push(bytes);
          let key: Uint8Array;
          try {
            const message = decodeMessage(bytes, { maxBytes: 1024 });
            if (message.t !== 'relay-descriptor') return;
            key = message.key;
          } catch {
            return;
          }
          const item = await getItem(dht, backend, key, timeoutMs);
          if (item?.v !== undefined) found.push(encode(item.v as BValue));
        }),
      );
      return found;
    },
  };
}

function lookupTopic(dht: DHT, lookupMs: number, signal: AbortSignal | undefined): Promise<string[]> {
  const found = new Set<string>();
  if (signal?.aborted || dht.destroyed) return Promise.resolve([]);
  const onPeer = (peer: { host: string; port: number }, infoHash: Uint8Array) => {
    if (toHex(infoHash) === RELAY_TOPIC_HEX) found.add(`${peer.host}:${peer.port}`);
  };
  dht.on('peer', onPeer);
  return new Promise<string[]>((resolve) => {
    let abort = () => {};
    const done = () => {
      clearTimeout(timer);
      abort();
      dht.off('peer', onPeer);
      dht.off('close', done);
      signal?.removeEventListener('abort', done);
      resolve([...found]);
    };
    const timer = setTimeout(done, lookupMs);
    // A destroyed node drops the callbacks of its queries: end on close or abort too.
    dht.once('close', done);
    signal?.addEventListener('abort', done, { once: true });
    abort = dht.lookup(RELAY_TOPIC_HEX, done);
  });
}

function getItem(dht: DHT, backend: CryptoBackend, key: Uint8Array, timeoutMs: number): Promise<DhtItem | null> {
  if (dht.destroyed) return Promise.resolve(null);
  // BEP 44 target of a mutable item without salt: sha1(k).
  const target = createHash('sha1').update(key).digest();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    dht.get(target, { verify: bep44Verify(backend), cache: false }, (error, item) => {
      clearTimeout(timer);
      resolve(error ? null : item);
    });
  });
}

/** The guard's key in a file of its own (the CLI's state folder). */
export function fileGuardStore(path: string): GuardStore {
  return {
    async load() {
      const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      const id = text?.trim();
      return id && /^[0-9a-f]{64}$/.test(id) ? id : undefined;
    },
    save: (id) => (id === undefined ? removeFileDurably(path) : writeFileAtomic(path, `${id}\n`)),
  };
}

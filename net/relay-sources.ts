// Where a RelayView's descriptors come from (net/relay-view.ts checks them
// all): the DHT (relays announced on RELAY_TOPIC_HEX, each one's GET
// /descriptor, and the BEP 44 item under the key it names, which may be
// fresher) and the GET /descriptors of relays already known. Each source
// returns encoded descriptors unchecked; what they are worth is the view's
// business. And a guard store in a file, for the CLI.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type DHT from 'bittorrent-dht';
import type { DhtItem } from 'bittorrent-dht';
import { bep44Verify } from './dht.ts';
import { encode, type BValue } from '../protocol/bencode.ts';
import { toHex } from '../protocol/bytes.ts';
import { RELAY_TOPIC_HEX } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { NetworkError, SpareCyclesError } from '../protocol/errors.ts';
import { decodeMessage } from '../protocol/messages/index.ts';
import { decodeDescriptorList, DESCRIPTOR_LIST_MAX_BYTES } from '../protocol/messages/relay.ts';
import { removeFileDurably, writeFileAtomic } from '../store/atomic-file.ts';
import type { DescriptorSource, GuardStore, RelayView } from './relay-view.ts';

/** The http(s) base of a relay's ws(s) URL, where its /descriptor and /descriptors are. */
export function httpBaseOf(ws: string): string {
  let u: URL;
  try {
    u = new URL(ws);
  } catch {
    throw new SpareCyclesError('USAGE', `expected a ws:// or wss:// URL, got ${ws}`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new SpareCyclesError('USAGE', `expected a ws:// or wss:// URL, got ${ws}`);
  return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
}

/** GET of at most `maxBytes`, within `timeoutMs`: NetworkError or TimeoutError otherwise. */
async function getBytes(url: string, maxBytes: number, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, { signal: signal ? AbortSignal.any([signal, deadline]) : deadline, redirect: 'error' }).catch((cause: unknown) => {
    throw new NetworkError(`GET ${url}: ${(cause as Error).message}`, { cause });
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new NetworkError(`GET ${url}: expected 200, got ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new NetworkError(`GET ${url}: expected at most ${maxBytes} bytes, got ${declared}`);
  }
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > maxBytes) throw new NetworkError(`GET ${url}: expected at most ${maxBytes} bytes, got ${body.length}`);
  return body;
}

/** One relay's GET /descriptors: the descriptors it knows, its own among them. */
export function relayDescriptorsSource(ws: string, options: { timeoutMs?: number } = {}): DescriptorSource {
  const url = `${httpBaseOf(ws)}/descriptors`;
  return {
    name: `relay:${ws}`,
    fetch: async (signal) => decodeDescriptorList(await getBytes(url, DESCRIPTOR_LIST_MAX_BYTES, options.timeoutMs ?? 5_000, signal)),
  };
}

/** The /descriptors of up to `max` relays the view already holds, best answering first: relays tell of each other. */
export function knownRelaysSource(view: RelayView, options: { max?: number; timeoutMs?: number } = {}): DescriptorSource {
  return {
    name: 'known-relays',
    fetch: async (signal) => {
      const relays = view.ranking().slice(0, options.max ?? 3);
      const lists = await Promise.all(
        relays.map((e) =>
          relayDescriptorsSource(e.descriptor.ws, options)
            .fetch(signal)
            .then(
              (list) => (view.reportSuccess(e.id), list),
              () => (view.reportFailure(e.id), []),
            ),
        ),
      );
      return lists.flat();
    },
  };
}

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

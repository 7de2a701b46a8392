// Finding offers on the mainline DHT. The offer topic yields ip:port pairs of
// taskers' offer endpoints; each endpoint hands over its signed offer, which
// names the tasker's key; that key finds the tasker's BEP 44 item, which may
// hold a fresher offer. Endpoints, relays and DHT nodes can all withhold
// offers but none can forge one: every copy is checked under the key it names
// (verifyMessage), and the BEP 44 copy must also name the key it is stored under.

import { createHash } from 'node:crypto';
import net from 'node:net';
import type DHT from 'bittorrent-dht';
import type { DhtItem } from 'bittorrent-dht';
import Wire from 'bittorrent-protocol';
import { bep44Verify } from './dht.ts';
import type { BValue } from '../protocol/bencode.ts';
import { concatBytes, equalBytes, toHex, utf8 } from '../protocol/bytes.ts';
import { MESSAGE_LIMITS, OFFER_EXTENSION, OFFER_TOPIC_HEX, type ErrorCode } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { KeyError, NetworkError, ProtocolError, SignatureError, SpareCyclesError, TimeoutError, type ErrorDetails } from '../protocol/errors.ts';
import { decodeMessage, encodeMessage, readMessage, verifyMessage } from '../protocol/messages/index.ts';
import type { Message, Offer } from '../protocol/messages/index.ts';
import { messageExtension } from '../protocol/wire.ts';
import { magnetFor } from './fetch-torrent.ts';

export interface FoundOffer {
  /** As its tasker signed it, so its `rendezvous`, if any, is the tasker's own word on where stealth workers reach it. */
  offer: Offer;
  /** Where the copy we kept came from: the endpoint itself, or the tasker's BEP 44 item. */
  source: 'dht' | 'endpoint';
  /** host:port of the endpoint that led us to this tasker. */
  endpoint: string;
}

export type RejectReason =
  /** Not an offer, or an offer that breaks its schema. */
  | 'invalid'
  /** An offer whose signature does not verify under the key it names. */
  | 'bad-signature'
  /** A BEP 44 item whose offer names another tasker than the key it is stored under. */
  | 'tasker-mismatch'
  /** The endpoint did not hand over an offer in time (closed, refused, silent, no sc_offer). */
  | 'unreachable';

export interface Rejection {
  reason: RejectReason;
  source: 'dht' | 'endpoint';
  endpoint: string;
  detail: string;
}

export interface FindOffersOptions {
  backend: CryptoBackend;
  dht: DHT;
  /** Per endpoint, from connecting to holding its offer. */
  timeoutMs?: number;
  /** Endpoints tried per search; the rest of a large swarm is left for the next one. */
  maxEndpoints?: number;
  /** Endpoints contacted at once. */
  concurrency?: number;
  /** Bound on the topic lookup itself. */
  lookupMs?: number;
  /** Ends the search at once (the lookup, the endpoints and items being asked), returning what was found so far. */
  signal?: AbortSignal;
  onRejected?: (rejection: Rejection) => void;
}

const DEFAULTS = { timeoutMs: 3_000, maxEndpoints: 64, concurrency: 8, lookupMs: 15_000 };
/** Handshake, BEP 10 handshake and one offer (at most 999 bytes), with room to spare. */
const MAX_ENDPOINT_BYTES = 16 * 1024;

/** Verified offers, one per tasker (the highest seq seen), best paid first. */
export async function findOffers(options: FindOffersOptions): Promise<FoundOffer[]> {
  const { backend, dht } = options;
  const { timeoutMs, maxEndpoints, concurrency, lookupMs } = { ...DEFAULTS, ...definedOnly(options) };
  const reject = (rejection: Rejection) => options.onRejected?.(rejection);
  const peerId = concatBytes(utf8('-SC0001-'), backend.randomBytes(12));

  const { signal } = options;
  const endpoints = (await lookupTopic(dht, lookupMs, signal)).slice(0, maxEndpoints);
  const best = new Map<string, FoundOffer>();
  await eachLimited(endpoints, concurrency, signal, async (endpoint) => {
    let message: Message;
    try {
      message = await fetchOffer(endpoint, peerId, timeoutMs, signal);
    } catch (error) {
      // Cut short by the caller, not refused by the endpoint.
      if (signal?.aborted) return;
      const reason = error instanceof OfferRejected ? error.reason : 'unreachable';
      return reject({ reason, source: 'endpoint', endpoint, detail: (error as Error).message });
    }
    const checked = checkOffer(backend, message);
    if (Array.isArray(checked)) return reject({ reason: checked[0], source: 'endpoint', endpoint, detail: checked[1] });
    keepFreshest(best, { offer: checked, source: 'endpoint', endpoint });
  });

  await eachLimited([...best.values()], concurrency, signal, async (found) => {
    const { endpoint } = found;
    const key = found.offer.tasker;
    const item = await getItem(dht, backend, key, signal);
    if (!item) return;
    const checked = checkItem(backend, key, item);
    if (Array.isArray(checked)) return reject({ reason: checked[0], source: 'dht', endpoint, detail: checked[1] });
    keepFreshest(best, { offer: checked, source: 'dht', endpoint });
  });

  return [...best.values()].sort(
    (a, b) =>
      b.offer.price - a.offer.price ||
      b.offer.left - a.offer.left ||
      toHex(a.offer.tasker).localeCompare(toHex(b.offer.tasker)),
  );
}

/** A magnet link for the offer's task torrent. */
export function magnetForOffer(offer: Offer, trackers: string[]): string {
  return magnetFor(toHex(offer.task), trackers, offer.name);
}

type Problem = [RejectReason, string];

/** A verified offer, or why not. */
function checkOffer(backend: CryptoBackend, message: Message): Offer | Problem {
  if (message.t !== 'offer') return ['invalid', `expected an offer, got ${message.t}`];
  try {
    verifyMessage(backend, message);
  } catch (error) {
    const forged = error instanceof SignatureError || error instanceof KeyError;
    return [forged ? 'bad-signature' : 'invalid', (error as Error).message];
  }
  // A copy in plain Uint8Arrays, sharing no memory with socket or DHT buffers.
  return decodeMessage(encodeMessage(message)) as Offer;
}

/** bittorrent-dht has checked the BEP 44 signature; what it holds must be an offer by that same key. */
function checkItem(backend: CryptoBackend, key: Uint8Array, item: DhtItem): Offer | Problem {
  if (!(item.k instanceof Uint8Array) || !equalBytes(item.k, key)) return ['tasker-mismatch', 'item k is not the key we asked for'];
  let message: Message;
  try {
    message = readMessage(item.v as BValue);
  } catch (error) {
    return ['invalid', (error as Error).message];
  }
  const offer = checkOffer(backend, message);
  if (Array.isArray(offer)) return offer;
  if (!equalBytes(offer.tasker, key)) {
    return ['tasker-mismatch', `item under ${toHex(key)} holds an offer by ${toHex(offer.tasker)}`];
  }
  if (offer.seq !== item.seq) return ['invalid', `offer seq ${offer.seq} differs from the item's seq ${item.seq}`];
  return offer;
}

function keepFreshest(best: Map<string, FoundOffer>, found: FoundOffer): void {
  const id = toHex(found.offer.tasker);
  const held = best.get(id);
  // Ties keep what we already hold: the endpoint's copy, fetched first.
  if (!held || found.offer.seq > held.offer.seq) best.set(id, found);
}

/**
 * Calls `end` once, when `signal` aborts or the node closes: a destroyed node
 * drops the callbacks of its queries in flight, so without this a lookup on
 * it would wait for its own deadline, or forever. Returns the unsubscribe.
 */
function onEnd(dht: DHT, signal: AbortSignal | undefined, end: () => void): () => void {
  if (signal?.aborted || dht.destroyed) {
    end();
    return () => {};
  }
  const off = () => {
    dht.off('close', run);
    signal?.removeEventListener('abort', run);
  };
  const run = () => {
    off();
    end();
  };
  dht.once('close', run);
  signal?.addEventListener('abort', run, { once: true });
  return off;
}

async function lookupTopic(dht: DHT, lookupMs: number, signal: AbortSignal | undefined): Promise<string[]> {
  if (signal?.aborted || dht.destroyed) return [];
  const found = new Set<string>();
  const onPeer = (peer: { host: string; port: number }, infoHash: Uint8Array) => {
    if (toHex(infoHash) === OFFER_TOPIC_HEX) found.add(`${peer.host}:${peer.port}`);
  };
  dht.on('peer', onPeer);
  let abort = () => {};
  try {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, lookupMs);
      const unsubscribe = onEnd(dht, signal, done);
      // A failed lookup still leaves whatever peers it met on the way.
      abort = dht.lookup(OFFER_TOPIC_HEX, done);
    });
  } finally {
    abort();
    dht.off('peer', onPeer);
  }
  return [...found];
}

/** An endpoint that answered with something other than a well-formed offer. */
class OfferRejected extends SpareCyclesError {
  constructor(
    readonly reason: RejectReason,
    code: ErrorCode,
    message: string,
    details?: ErrorDetails,
  ) {
    super(code, message, details);
  }
}

/** One exchange with an endpoint: handshake on the topic, BEP 10 handshake, one offer message. */
function fetchOffer(endpoint: string, peerId: Uint8Array, timeoutMs: number, signal: AbortSignal | undefined): Promise<Message> {
  const stopped = () => new NetworkError('the search was stopped');
  if (signal?.aborted) return Promise.reject(stopped());
  const colon = endpoint.lastIndexOf(':');
  const socket = net.connect({ host: endpoint.slice(0, colon), port: Number(endpoint.slice(colon + 1)) });
  const wire = new Wire();
  return new Promise<Message>((resolve, reject) => {
    const fail = (error: Error) => {
      reject(error);
      socket.destroy();
    };
    const timer = setTimeout(() => fail(new TimeoutError(`expected an offer within ${timeoutMs} ms, got none`)), timeoutMs);
    const onAbort = () => fail(stopped());
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => signal?.removeEventListener('abort', onAbort));
    socket.on('error', fail);
    // Our side of the exchange is a few hundred bytes; an endpoint streaming more is stalling us.
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_ENDPOINT_BYTES) fail(new OfferRejected('invalid', 'PROTOCOL', `expected at most ${MAX_ENDPOINT_BYTES} bytes from the endpoint, got ${received}`));
    });
    socket.on('close', () => fail(new NetworkError('the endpoint closed the connection before sending an offer')));
    wire.on('error', fail);
    wire.use(
      messageExtension<Wire>(
        OFFER_EXTENSION,
        {
          open: () => {},
          message: (_channel, sealed) => {
            resolve(sealed.message);
            socket.destroy();
          },
          invalid: (_channel, error) => fail(new OfferRejected('invalid', error.code, error.message, { cause: error })),
          closed: () => {},
        },
        MESSAGE_LIMITS.offerBytes,
      ),
    );
    wire.on('extended', (ext) => {
      if (ext === 'handshake' && !wire.peerExtendedMapping[OFFER_EXTENSION]) {
        fail(new ProtocolError(`expected the endpoint to list ${OFFER_EXTENSION}, got ${Object.keys(wire.peerExtendedMapping).join(', ') || 'no extensions'}`));
      }
    });
    wire.on('handshake', (infoHash) => {
      if (infoHash !== OFFER_TOPIC_HEX) fail(new ProtocolError(`expected the endpoint to answer on the offer topic ${OFFER_TOPIC_HEX}, got ${infoHash}`));
    });
    socket.once('close', () => clearTimeout(timer));
    socket.pipe(wire).pipe(socket);
    wire.handshake(OFFER_TOPIC_HEX, peerId);
  }).finally(() => wire.destroy());
}

function getItem(dht: DHT, backend: CryptoBackend, key: Uint8Array, signal: AbortSignal | undefined): Promise<DhtItem | null> {
  // BEP 44 target of a mutable item without salt: sha1(k).
  const target = createHash('sha1').update(key).digest();
  return new Promise((resolve) => {
    // A DHT that cannot answer leaves us with the endpoint's copy, which is still a verified offer.
    const unsubscribe = onEnd(dht, signal, () => resolve(null));
    if (signal?.aborted || dht.destroyed) return;
    dht.get(target, { verify: bep44Verify(backend), cache: false }, (error, item) => {
      unsubscribe();
      resolve(error ? null : item);
    });
  });
}

/** Runs `task` over `items`, at most `limit` at a time; none starts once `signal` has aborted. */
async function eachLimited<T>(items: T[], limit: number, signal: AbortSignal | undefined, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < items.length && !signal?.aborted) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

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
import { MESSAGE_LIMITS, OFFER_EXTENSION, OFFER_TOPIC_HEX } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { KeyError, SignatureError } from '../protocol/errors.ts';
import { decodeMessage, encodeMessage, readMessage, verifyMessage } from '../protocol/messages/index.ts';
import type { Message, Offer } from '../protocol/messages/index.ts';
import { messageExtension } from '../protocol/wire.ts';
import { magnetFor } from './fetch-torrent.ts';

export interface FoundOffer {
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

  const endpoints = (await lookupTopic(dht, lookupMs)).slice(0, maxEndpoints);
  const best = new Map<string, FoundOffer>();
  await eachLimited(endpoints, concurrency, async (endpoint) => {
    let message: Message;
    try {
      message = await fetchOffer(endpoint, peerId, timeoutMs);
    } catch (error) {
      const reason = error instanceof OfferRejected ? error.reason : 'unreachable';
      return reject({ reason, source: 'endpoint', endpoint, detail: (error as Error).message });
    }
    const checked = checkOffer(backend, message);
    if (Array.isArray(checked)) return reject({ reason: checked[0], source: 'endpoint', endpoint, detail: checked[1] });
    keepFreshest(best, { offer: checked, source: 'endpoint', endpoint });
  });

  await eachLimited([...best.values()], concurrency, async (found) => {
    const { endpoint } = found;
    const key = found.offer.tasker;
    const item = await getItem(dht, backend, key);
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

async function lookupTopic(dht: DHT, lookupMs: number): Promise<string[]> {
  const found = new Set<string>();
  const onPeer = (peer: { host: string; port: number }, infoHash: Uint8Array) => {
    if (toHex(infoHash) === OFFER_TOPIC_HEX) found.add(`${peer.host}:${peer.port}`);
  };
  dht.on('peer', onPeer);
  let abort = () => {};
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, lookupMs);
      // A failed lookup still leaves whatever peers it met on the way.
      abort = dht.lookup(OFFER_TOPIC_HEX, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    abort();
    dht.off('peer', onPeer);
  }
  return [...found];
}

class OfferRejected extends Error {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
  }
}

/** One exchange with an endpoint: handshake on the topic, BEP 10 handshake, one offer message. */
function fetchOffer(endpoint: string, peerId: Uint8Array, timeoutMs: number): Promise<Message> {
  const colon = endpoint.lastIndexOf(':');
  const socket = net.connect({ host: endpoint.slice(0, colon), port: Number(endpoint.slice(colon + 1)) });
  const wire = new Wire();
  return new Promise<Message>((resolve, reject) => {
    const fail = (error: Error) => {
      reject(error);
      socket.destroy();
    };
    const timer = setTimeout(() => fail(new Error(`no offer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', fail);
    // Our side of the exchange is a few hundred bytes; an endpoint streaming more is stalling us.
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_ENDPOINT_BYTES) fail(new OfferRejected('invalid', `the endpoint sent more than ${MAX_ENDPOINT_BYTES} bytes`));
    });
    socket.on('close', () => fail(new Error('the endpoint closed the connection before sending an offer')));
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
          invalid: (_channel, error) => fail(new OfferRejected('invalid', error.message)),
          closed: () => {},
        },
        MESSAGE_LIMITS.offerBytes,
      ),
    );
    wire.on('extended', (ext) => {
      if (ext === 'handshake' && !wire.peerExtendedMapping[OFFER_EXTENSION]) {
        fail(new Error(`the endpoint does not list ${OFFER_EXTENSION}`));
      }
    });
    wire.on('handshake', (infoHash) => {
      if (infoHash !== OFFER_TOPIC_HEX) fail(new Error(`the endpoint answered on ${infoHash}, not the offer topic`));
    });
    socket.once('close', () => clearTimeout(timer));
    socket.pipe(wire).pipe(socket);
    wire.handshake(OFFER_TOPIC_HEX, peerId);
  }).finally(() => wire.destroy());
}

function getItem(dht: DHT, backend: CryptoBackend, key: Uint8Array): Promise<DhtItem | null> {
  // BEP 44 target of a mutable item without salt: sha1(k).
  const target = createHash('sha1').update(key).digest();
  return new Promise((resolve) => {
    // A DHT that cannot answer leaves us with the endpoint's copy, which is still a verified offer.
    dht.get(target, { verify: bep44Verify(backend), cache: false }, (error, item) => resolve(error ? null : item));
  });
}

/** Runs `task` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

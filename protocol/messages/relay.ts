// Relay messages: what a browser and an edge relay say over WebSocket, one
// bencoded message per binary frame. The browser asks (relay-find, relay-get)
// and the relay answers with the offers exactly as their taskers signed them,
// each an encoded `offer` message carried as opaque bytes: the browser decodes
// and verifies every one itself (decodeMessage + verifyMessage), so a relay
// can withhold an offer but cannot forge or alter one. Requests carry an 8-byte
// id that the answer (relay-offers, relay-item or relay-error) repeats.
//
// relay-descriptor is the relay's own signed card: its key, its WebSocket
// URL, its onion keys, its exit policy, its operator and its software
// (docs/relay-directory.md). Relays put it as a BEP 44 item under their key,
// announce their port on RELAY_TOPIC_HEX, serve it at GET /descriptor, and
// serve every descriptor they know at GET /descriptors, a descriptor list.

import { decode, encode } from '../bencode.ts';
import { MESSAGE_LIMITS, ONION } from '../constants.ts';
import { bytes, flag, int, list, optional, struct, text, type Infer } from '../schema.ts';
import { invalid, publicKey, signature, signedMessage, timestamp, unsignedMessage } from './envelope.ts';

/** A request id: the browser picks it, every answer repeats it. */
export const requestId = bytes({ length: 8 });

/** An encoded `offer` message, as its tasker signed it (opaque here; the browser decodes and verifies it). */
export const signedOfferBytes = bytes({ max: MESSAGE_LIMITS.offerBytes });

/** Upper-case words: BAD_REQUEST, RATE_LIMITED, ... (constants.ts RELAY_ERROR_CODES lists ours). */
export const RELAY_ERROR_CODE_PATTERN = /^[A-Z][A-Z0-9_]*$/;

/** A relay's public address: ws:// or wss://, printable ASCII. */
export const RELAY_URL_PATTERN = /^wss?:\/\/[\x21-\x7e]+$/;

/** browser → relay: "give me current offers", at most `max` of them (default and cap: MESSAGE_LIMITS.relayOffers). */
export const relayFind = unsignedMessage('relay-find', {
  id: requestId,
  max: optional(int(1, MESSAGE_LIMITS.relayOffers)),
});

/** relay → browser: offers, best paid first, each the encoded offer message its tasker signed. */
export const relayOffers = unsignedMessage('relay-offers', {
  id: requestId,
  offers: list(signedOfferBytes, { max: MESSAGE_LIMITS.relayOffers }),
});

/** browser → relay: a live BEP 44 get of the mutable item under a tasker's key. */
export const relayGet = unsignedMessage('relay-get', {
  id: requestId,
  /** The tasker's ed25519 key; the item's target is sha1(key). */
  key: publicKey,
});

const ITEM_FIELDS = ['offer', 'seq', 'sig'] as const;

/**
 * relay → browser: the answer to relay-get. With an offer, also the item's
 * BEP 44 `seq` and `sig`, so a browser can check the item signature itself:
 * ed25519(key, "3:seqi<seq>e1:v" ‖ offer, sig). Without any of the three: the
 * DHT holds no valid offer under that key.
 */
export const relayItem = unsignedMessage(
  'relay-item',
  {
    id: requestId,
    offer: optional(signedOfferBytes),
    /** The BEP 44 sequence number (the offer's own `seq` mirrors it). */
    seq: optional(int(0, Number.MAX_SAFE_INTEGER)),
    /** The BEP 44 signature: raw ed25519 by the tasker key, no domain. */
    sig: optional(signature),
  },
  (m) => {
    const present = ITEM_FIELDS.filter((f) => m[f] !== undefined);
    if (present.length !== 0 && present.length !== ITEM_FIELDS.length) {
      const missing = ITEM_FIELDS.find((f) => m[f] === undefined)!;
      throw invalid(missing, `expected offer, seq and sig together or none of them, got ${present.join(' and ')} only`);
    }
  },
);

/** relay → browser: a request refused. `id` is absent when the request could not be read far enough to find one. */
export const relayError = unsignedMessage('relay-error', {
  id: optional(requestId),
  code: text({ min: 1, max: MESSAGE_LIMITS.relayCodeBytes, pattern: RELAY_ERROR_CODE_PATTERN }),
  message: text({ max: MESSAGE_LIMITS.relayMessageBytes }),
});

/** A mint's origin as an exit names it: http(s), host and optional port, nothing after. */
export const MINT_ORIGIN_PATTERN = /^https?:\/\/[A-Za-z0-9.\-\[\]:]+$/;

/** An operator label: printable ASCII, no spaces. */
export const RELAY_FAMILY_PATTERN = /^[\x21-\x7e]+$/;

/** The largest onion-key epoch: the packet header carries it in 4 bytes. */
export const MAX_ONION_EPOCH = 0xffff_ffff;

/** One onion key: the X25519 public key for packets of `epoch` (ONION.epochMs long). */
export const onionKeyEntry = struct({
  epoch: int(0, MAX_ONION_EPOCH),
  key: bytes({ length: 32 }),
});

/** Where an exit delivers: the mints it will POST to, and whether it keeps rendezvous mailboxes. */
export const exitPolicy = struct({
  mints: list(text({ min: 1, max: MESSAGE_LIMITS.relayMintOriginBytes, pattern: MINT_ORIGIN_PATTERN }), { max: MESSAGE_LIMITS.relayExitMints }),
  mailboxes: flag(),
});

/**
 * A relay's signed descriptor: who it is, where it is reached, the onion keys
 * a route through it uses, and what it delivers to as the last hop. Every
 * bound together keeps it inside a BEP 44 value (< 1000 bytes).
 */
export const relayDescriptor = signedMessage(
  'relay-descriptor',
  'key',
  {
    /** The relay's ed25519 key; it signs the descriptor, under the `relay` domain, and is the relay's id in routes. */
    key: publicKey,
    /** Where browsers and other relays connect, e.g. wss://relay.example:8443/. */
    ws: text({ min: 1, max: MESSAGE_LIMITS.relayUrlBytes, pattern: RELAY_URL_PATTERN }),
    /** X25519 onion keys by epoch, ascending; each is good for packets of its epoch and the one after. None: the relay forwards no packets. */
    onion: list(onionKeyEntry, { max: MESSAGE_LIMITS.relayOnionKeys }),
    exit: exitPolicy,
    /** The operator's label: path selection never puts two relays with one label on one route. */
    family: optional(text({ min: 1, max: MESSAGE_LIMITS.relayFamilyBytes, pattern: RELAY_FAMILY_PATTERN })),
    /** The relay software and its version, e.g. sparecycles-relay/0.4.0. */
    agent: text({ min: 1, max: MESSAGE_LIMITS.agentBytes }),
    /** Unix time in milliseconds when it was signed; also the BEP 44 `seq` of the item that holds it. */
    ts: timestamp,
  },
  (d) => {
    d.onion.forEach((entry, i) => {
      if (i > 0 && entry.epoch <= d.onion[i - 1]!.epoch) {
        throw invalid(`onion[${i}].epoch`, `expected epochs in ascending order without repeats, got ${entry.epoch} after ${d.onion[i - 1]!.epoch}`);
      }
    });
    const seen = new Set<string>();
    d.exit.mints.forEach((origin, i) => {
      const lower = origin.toLowerCase();
      if (seen.has(lower)) throw invalid(`exit.mints[${i}]`, 'expected no repeats, got a repeated origin');
      seen.add(lower);
    });
  },
);

/** The first unix millisecond of `epoch`; the key for it is good until the end of `epoch + 1`. */
export function epochStartMs(epoch: number): number {
  return epoch * ONION.epochMs;
}

/** The onion-key epoch at unix time `ms`. */
export function epochAt(ms: number): number {
  return Math.floor(ms / ONION.epochMs);
}

/** When a relay deletes the secret of `epoch`: once the epoch after it is over. */
export function onionKeyExpiresMs(epoch: number): number {
  return epochStartMs(epoch + 2);
}

/** The most bytes one descriptor may take in a descriptor list (a BEP 44 value's bound). */
export const descriptorBytes = bytes({ max: MESSAGE_LIMITS.offerBytes });

/** The largest descriptor list: the list's own framing plus the cap of descriptors at their largest. */
export const DESCRIPTOR_LIST_MAX_BYTES = 2 + MESSAGE_LIMITS.relayDescriptors * (4 + MESSAGE_LIMITS.offerBytes);

/**
 * GET /descriptors: a bencoded list of encoded relay-descriptor messages,
 * each exactly as its relay signed it (opaque here; the reader decodes and
 * verifies every one under the key it names), at most
 * MESSAGE_LIMITS.relayDescriptors of them.
 */
export function encodeDescriptorList(descriptors: readonly Uint8Array[]): Uint8Array {
  const schema = list(descriptorBytes, { max: MESSAGE_LIMITS.relayDescriptors });
  const value = encode(schema.write([...descriptors]));
  // Read back, so that a list this side would refuse is never sent.
  schema.read(decode(value, { maxBytes: DESCRIPTOR_LIST_MAX_BYTES }), 'descriptors');
  return value;
}

/** Reads a descriptor list; DecodeError for bytes that are not canonical bencode, SchemaError for the wrong shape or too many. */
export function decodeDescriptorList(bytes: Uint8Array): Uint8Array[] {
  const value = decode(bytes, { maxBytes: DESCRIPTOR_LIST_MAX_BYTES });
  return list(descriptorBytes, { max: MESSAGE_LIMITS.relayDescriptors }).read(value, 'descriptors');
}

export type RelayFind = Infer<typeof relayFind.schema>;
export type RelayOffers = Infer<typeof relayOffers.schema>;
export type RelayGet = Infer<typeof relayGet.schema>;
export type RelayItem = Infer<typeof relayItem.schema>;
export type RelayError = Infer<typeof relayError.schema>;
export type RelayDescriptor = Infer<typeof relayDescriptor.schema>;
export type OnionKeyEntry = Infer<typeof onionKeyEntry>;
export type ExitPolicy = Infer<typeof exitPolicy>;

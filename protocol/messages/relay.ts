// Relay messages: what a browser and an edge relay say over WebSocket, one
// bencoded message per binary frame. The browser asks (relay-find, relay-get)
// and the relay answers with the offers exactly as their taskers signed them,
// each an encoded `offer` message carried as opaque bytes: the browser decodes
// and verifies every one itself (decodeMessage + verifyMessage), so a relay
// can withhold an offer but cannot forge or alter one. Requests carry an 8-byte
// id that the answer (relay-offers, relay-item or relay-error) repeats.
//
// relay-descriptor is the relay's own signed card: its key and WebSocket URL.
// Relays put it as a BEP 44 item under their key, announce their port on
// RELAY_TOPIC_HEX and serve it at GET /descriptor.

import { MESSAGE_LIMITS } from '../constants.ts';
import { bytes, int, list, optional, text, type Infer } from '../schema.ts';
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

/** A relay's signed descriptor: who it is and where browsers reach it. Fits a BEP 44 value (< 1000 bytes). */
export const relayDescriptor = signedMessage('relay-descriptor', 'key', {
  /** The relay's ed25519 key; it signs the descriptor, under the `relay` domain. */
  key: publicKey,
  /** Where browsers connect, e.g. wss://relay.example:8443/. */
  ws: text({ min: 1, max: MESSAGE_LIMITS.relayUrlBytes, pattern: RELAY_URL_PATTERN }),
  /** Unix time in milliseconds when it was signed; also the BEP 44 `seq` of the item that holds it. */
  ts: timestamp,
});

export type RelayFind = Infer<typeof relayFind.schema>;
export type RelayOffers = Infer<typeof relayOffers.schema>;
export type RelayGet = Infer<typeof relayGet.schema>;
export type RelayItem = Infer<typeof relayItem.schema>;
export type RelayError = Infer<typeof relayError.schema>;
export type RelayDescriptor = Infer<typeof relayDescriptor.schema>;

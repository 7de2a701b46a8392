// The keys one hop derives from its shared secret, and the MAC of its
// header. Everything is the backend's HMAC-SHA256, so a relay on Node runs
// OpenSSL's while the browser builds it over @noble/hashes' SHA-256, with
// the same bytes (the tests hold this HMAC to @noble/hashes' own).

import { concatBytes, utf8 } from '../bytes.ts';
import { ONION } from '../constants.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { MAC_BYTES } from './layout.ts';

export function hmacSha256(backend: CryptoBackend, key: Uint8Array, data: Uint8Array): Uint8Array {
  return backend.hmacSha256(key, data);
}

/** RFC 5869 HKDF-Expand with SHA-256. */
export function hkdfExpand(backend: CryptoBackend, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let block: Uint8Array = new Uint8Array(0);
  for (let i = 0, counter = 1; i < length; i += 32, counter++) {
    block = hmacSha256(backend, prk, concatBytes(block, info, Uint8Array.of(counter)));
    out.set(block.subarray(0, Math.min(32, length - i)), i);
  }
  return out;
}

const LABEL = {
  extract: utf8(ONION.labels.extract),
  headerMac: utf8(ONION.labels.headerMac),
  headerStream: utf8(ONION.labels.headerStream),
  payload: utf8(ONION.labels.payload),
  blind: utf8(ONION.labels.blind),
  replay: utf8(ONION.labels.replay),
  padding: utf8(ONION.labels.padding),
  surbKey: utf8(ONION.labels.surbKey),
};

/** The LIONESS key; LIONESS stretches it into its four round keys. */
export const PAYLOAD_KEY_BYTES = 32;

export interface HopKeys {
  /** Keys gamma, the MAC over the header. */
  readonly headerMac: Uint8Array;
  /** Keys the ChaCha20 stream that hides beta. */
  readonly headerStream: Uint8Array;
  /** The LIONESS key this hop peels the payload with. */
  readonly payload: Uint8Array;
  /** The scalar that blinds alpha for the next hop. */
  readonly blind: Uint8Array;
  /** What the hop's replay store remembers. */
  readonly replayTag: Uint8Array;
}

/**
 * prk = HKDF-Extract(salt = extract label, ikm = alpha ‖ shared secret), then
 * one HKDF-Expand per key with its own label. Alpha is in the input because
 * X25519 ignores alpha's top bit: without it two encodings of one point
 * would share every key.
 */
export function hopKeys(backend: CryptoBackend, alpha: Uint8Array, shared: Uint8Array): HopKeys {
  const prk = hmacSha256(backend, LABEL.extract, concatBytes(alpha, shared));
  return {
    headerMac: hkdfExpand(backend, prk, LABEL.headerMac, 32),
    headerStream: hkdfExpand(backend, prk, LABEL.headerStream, 32),
    payload: hkdfExpand(backend, prk, LABEL.payload, PAYLOAD_KEY_BYTES),
    blind: hkdfExpand(backend, prk, LABEL.blind, 32),
    replayTag: hkdfExpand(backend, prk, LABEL.replay, 32),
  };
}

/** The LIONESS key of a reply block's own layer, from its 32-byte key. */
export function surbPayloadKey(backend: CryptoBackend, surbKey: Uint8Array): Uint8Array {
  return hkdfExpand(backend, hmacSha256(backend, LABEL.extract, surbKey), LABEL.payload, PAYLOAD_KEY_BYTES);
}

/** A sender's own values from its ephemeral secret: the header padding's stream key, or a reply block's key. */
export function senderKey(backend: CryptoBackend, ephemeral: Uint8Array, purpose: 'padding' | 'surbKey'): Uint8Array {
  return hkdfExpand(backend, hmacSha256(backend, LABEL.extract, ephemeral), LABEL[purpose], 32);
}

/** gamma: HMAC-SHA256 over version ‖ epoch ‖ alpha ‖ beta, cut to MAC_BYTES. */
export function headerMac(backend: CryptoBackend, key: Uint8Array, authenticated: Uint8Array): Uint8Array {
  return hmacSha256(backend, key, authenticated).subarray(0, MAC_BYTES);
}

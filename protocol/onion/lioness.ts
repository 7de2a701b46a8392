// LIONESS (Anderson and Biham, 1996): a wide-block cipher built from a
// stream cipher and a keyed hash, so that changing any bit of the payload
// changes every bit of what the next hop peels off. Sphinx needs that: with
// a plain stream cipher a relay could flip a bit, watch for the flipped bit
// at the end of the route, and so link sender to receiver.
//
// The block is L ‖ R with |L| = 32 bytes. Four rounds, with K1..K4 the four
// 32-byte parts of ChaCha20(key) over 128 zero bytes (one stream call
// instead of four more HMACs per hop):
//   R ^= ChaCha20(L ^ K1);  L ^= HMAC(K2, R);  R ^= ChaCha20(L ^ K3);  L ^= HMAC(K4, R)
// ChaCha20 is RFC 8439's, with an all-zero nonce and counter 0: its key is
// new for every block. It comes from the backend, as the HMAC does, so a
// relay on Node runs it natively. Decryption runs the rounds backwards.

import type { CryptoBackend } from '../crypto/backend.ts';
import { portableChaCha20 } from '../crypto/chacha20.ts';
import { KeyError, SchemaError } from '../errors.ts';
import { hmacSha256, PAYLOAD_KEY_BYTES } from './kdf.ts';
import { copyBytes } from '../bytes.ts';

const HALF = 32;

/**
 * ChaCha20 of `data` under a fresh key: the only way the onion uses it.
 * Without a backend it is the pure-JS one, the same bytes more slowly.
 */
export function stream(key: Uint8Array, data: Uint8Array, backend?: CryptoBackend): Uint8Array {
  return backend ? backend.chacha20(key, data) : portableChaCha20(key, data);
}

function xorInto(target: Uint8Array, other: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i]! ^= other[i]!;
}

function keyed(l: Uint8Array, k: Uint8Array): Uint8Array {
  const out = new Uint8Array(HALF);
  for (let i = 0; i < HALF; i++) out[i] = l[i]! ^ k[i]!;
  return out;
}

function split(backend: CryptoBackend, key: Uint8Array, block: Uint8Array) {
  if (key.length !== PAYLOAD_KEY_BYTES) throw new KeyError(`LIONESS: expected a ${PAYLOAD_KEY_BYTES}-byte key, got ${key.length} bytes`, { field: 'key' });
  if (block.length <= HALF) throw new SchemaError(`LIONESS: expected a block longer than ${HALF} bytes, got ${block.length}`, { field: 'block' });
  const round = stream(key, new Uint8Array(4 * HALF), backend);
  return {
    k1: round.subarray(0, 32),
    k2: round.subarray(32, 64),
    k3: round.subarray(64, 96),
    k4: round.subarray(96, 128),
    l: copyBytes(block, 0, HALF),
    r: block.subarray(HALF),
  };
}

export function lionessEncrypt(backend: CryptoBackend, key: Uint8Array, block: Uint8Array): Uint8Array {
  const { k1, k2, k3, k4, l, r: r0 } = split(backend, key, block);
  let r = stream(keyed(l, k1), r0, backend);
  xorInto(l, hmacSha256(backend, k2, r));
  r = stream(keyed(l, k3), r, backend);
  xorInto(l, hmacSha256(backend, k4, r));
  return join(l, r);
}

export function lionessDecrypt(backend: CryptoBackend, key: Uint8Array, block: Uint8Array): Uint8Array {
  const { k1, k2, k3, k4, l, r: r0 } = split(backend, key, block);
  xorInto(l, hmacSha256(backend, k4, r0));
  let r = stream(keyed(l, k3), r0, backend);
  xorInto(l, hmacSha256(backend, k2, r));
  r = stream(keyed(l, k1), r, backend);
  return join(l, r);
}

function join(l: Uint8Array, r: Uint8Array): Uint8Array {
  const out = new Uint8Array(l.length + r.length);
  out.set(l);
  out.set(r, l.length);
  return out;
}

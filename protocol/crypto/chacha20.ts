// ChaCha20 in pure JS (@noble/ciphers), as CryptoBackend.chacha20 defines
// it: RFC 8439 with an all-zero nonce and counter 0. The browser backends
// use it as is; node.ts does the same natively, and the tests hold the two
// to the same bytes.

import { chacha20 } from '@noble/ciphers/chacha.js';
import { KeyError } from '../errors.ts';

const ZERO_NONCE = new Uint8Array(12);

export function portableChaCha20(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new KeyError(`ChaCha20: expected a 32-byte key, got ${key.length} bytes`, { field: 'key' });
  return chacha20(key, ZERO_NONCE, data);
}

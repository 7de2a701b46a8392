// CryptoBackend.chacha20 and .hmacSha256, the primitives under every onion
// layer: the native ones in node.ts (libsodium's ChaCha20, OpenSSL's where
// libsodium does not load, OpenSSL's HMAC) and the pure-JS ones the browser
// backends use must give @noble's bytes at every length, and LIONESS and the
// header streams the same bytes through any backend.

import fc from 'fast-check';
import { chacha20 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../protocol/bytes.ts';
import { ONION } from '../../protocol/constants.ts';
import type { CryptoBackend } from '../../protocol/crypto/backend.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { nodeCrypto, opensslCrypto } from '../../protocol/crypto/node.ts';
import { KeyError } from '../../protocol/errors.ts';
import { BETA_BYTES, PAYLOAD_BYTES, SLOT_BYTES } from '../../protocol/onion/layout.ts';
import { lionessDecrypt, lionessEncrypt, stream } from '../../protocol/onion/lioness.ts';
import { caught } from '../support/caught.ts';

// Where sodium-native does not load, nodeCrypto is the OpenSSL backend and is listed once.
const BACKENDS: CryptoBackend[] = [...new Set([nodeCrypto, opensslCrypto, nobleCrypto, naclCrypto])];
const ZERO_NONCE = new Uint8Array(12);
/** Block edges, a header stream, a LIONESS half and a whole packet. */
const LENGTHS = [0, 1, 63, 64, 65, 128, 1000, BETA_BYTES + SLOT_BYTES, PAYLOAD_BYTES - 32, ONION.packetBytes];

/** Bytes that differ at every position and for every seed, without a random source. */
function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 97 + (i >> 8)) & 0xff);
}

const reference = (key: Uint8Array, data: Uint8Array) => chacha20(key, ZERO_NONCE, data);

describe.each(BACKENDS.map((b) => [b.name, b] as const))('%s chacha20', (_name, backend) => {
  it("gives RFC 8439's keystream for the all-zero key, nonce and counter (A.1, test vector #1)", () => {
    expect(toHex(backend.chacha20(new Uint8Array(32), new Uint8Array(64)))).toBe(
      '76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7' +
        'da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586',
    );
  });

  it.each(LENGTHS)("gives @noble's bytes for %i bytes of data", (length) => {
    const key = pattern(32, length);
    const data = pattern(length, 7);
    const out = backend.chacha20(key, data);
    expect(out).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(out)).toBe(false);
    expect(toHex(out)).toBe(toHex(reference(key, data)));
  });

  it('leaves its input alone and returns memory of its own', () => {
    const key = pattern(32, 1);
    const data = pattern(300, 2);
    const out = backend.chacha20(key, data);
    expect(toHex(data)).toBe(toHex(pattern(300, 2)));
    expect(toHex(key)).toBe(toHex(pattern(32, 1)));
    out.fill(0);
    expect(toHex(backend.chacha20(key, data))).toBe(toHex(reference(key, data)));
  });

  it('reads a key or data that is a view into a larger buffer at its offset', () => {
    const big = pattern(200, 3);
    const key = big.subarray(5, 37);
    const data = big.subarray(41, 170);
    expect(toHex(backend.chacha20(key, data))).toBe(toHex(reference(key.slice(), data.slice())));
  });

  it.each([0, 16, 31, 33, 64])('refuses a %i-byte key with a KeyError', (length) => {
    const error = caught(() => backend.chacha20(new Uint8Array(length), new Uint8Array(10)));
    expect(error).toBeInstanceOf(KeyError);
    expect((error as KeyError).field).toBe('key');
  });

  it('agrees with @noble on any key and data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 5000 }), (key, data) => {
        expect(toHex(backend.chacha20(key, data))).toBe(toHex(reference(key, data)));
      }),
      { numRuns: 50 },
    );
  });

  it('gives the onion the same stream and LIONESS bytes as the pure-JS path', () => {
    const key = pattern(32, 9);
    const header = pattern(BETA_BYTES + SLOT_BYTES, 4);
    expect(toHex(stream(key, header, backend))).toBe(toHex(stream(key, header)));
    const block = pattern(PAYLOAD_BYTES, 5);
    const cipher = lionessEncrypt(backend, key, block);
    expect(toHex(cipher)).toBe(toHex(lionessEncrypt(nobleCrypto, key, block)));
    expect(toHex(lionessDecrypt(backend, key, cipher))).toBe(toHex(block));
  });
});

describe.each(BACKENDS.map((b) => [b.name, b] as const))('%s hmacSha256', (_name, backend) => {
  it('gives RFC 4231 test case 2', () => {
    expect(toHex(backend.hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?')))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  // Keys either side of SHA-256's 64-byte block, which a longer key is hashed down from.
  it.each([0, 1, 32, 64, 65, 131])("gives @noble's bytes for a %i-byte key at every data length", (keyLength) => {
    const key = pattern(keyLength, keyLength + 1);
    for (const length of LENGTHS) {
      const data = pattern(length, 3);
      expect(toHex(backend.hmacSha256(key, data)), `${length} bytes of data`).toBe(toHex(hmac(sha256, key, data)));
    }
  });

  it('reads a key or data that is a view into a larger buffer at its offset', () => {
    const big = pattern(300, 6);
    const key = big.subarray(3, 35);
    const data = big.subarray(40, 290);
    expect(toHex(backend.hmacSha256(key, data))).toBe(toHex(hmac(sha256, key.slice(), data.slice())));
  });

  it('agrees with @noble on any key and data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 5000 }), (key, data) => {
        expect(toHex(backend.hmacSha256(key, data))).toBe(toHex(hmac(sha256, key, data)));
      }),
      { numRuns: 50 },
    );
  });
});

it('runs OpenSSL and the pure-JS path, and libsodium wherever it loads', () => {
  // Guards the list above: the comparison means little if it only ever ran one library.
  expect(BACKENDS.map((b) => b.name)).toEqual(expect.arrayContaining(['noble', 'tweetnacl', 'node-openssl']));
});

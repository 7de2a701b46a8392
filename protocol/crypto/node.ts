// The Node backend: ed25519, X25519 and ChaCha20 from libsodium
// (sodium-native) where it loads and from OpenSSL otherwise, hashes and HMAC
// from node:crypto.
// Node-only: nothing that runs in the browser may import this file; the
// browser uses noble.ts, which gives the same bytes.

import crypto, { type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { KeyError } from '../errors.ts';
import { toHex } from '../bytes.ts';
import type { CryptoBackend } from './backend.ts';

// OpenSSL only takes keys as KeyObjects, so raw 32-byte keys are wrapped in
// the fixed DER headers of RFC 8410 (PKCS#8 for secrets, SPKI for public keys).
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

function privateKeyObject(prefix: Buffer, secret: Uint8Array): KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([prefix, secret]), format: 'der', type: 'pkcs8' });
}

function publicKeyObject(prefix: Buffer, key: Uint8Array): KeyObject {
  return crypto.createPublicKey({ key: Buffer.concat([prefix, key]), format: 'der', type: 'spki' });
}

// Parsing a key costs more than the verify itself, and peers verify the same
// few keys over and over, so verify keys live in a small LRU. X25519 peer keys
// are not cached: they are often ephemeral and would only churn it.
const CACHE_LIMIT = 1024;
const verifyKeys = new Map<string, KeyObject>();

function verifyKey(publicKey: Uint8Array): KeyObject {
  const id = toHex(publicKey);
  let object = verifyKeys.get(id);
  if (object === undefined) {
    object = publicKeyObject(ED25519_SPKI, publicKey);
    // A Map iterates in insertion order, so its first key is the least recently used.
    if (verifyKeys.size >= CACHE_LIMIT) verifyKeys.delete(verifyKeys.keys().next().value!);
  } else {
    verifyKeys.delete(id);
  }
  verifyKeys.set(id, object);
  return object;
}

// A peer signs with its own one or two keys all the time (every claim, result
// and receipt), and deriving the key pair from the seed costs more than a
// signature. The few signing keys are kept, found by a hash of the seed so
// that no copy of the seed itself is kept: OpenSSL's as KeyObjects (the secret
// stays inside OpenSSL), libsodium's in guarded, locked memory. Each keeps its
// public key: signMessage checks the signer field against it on every
// signature.
const SIGNING_LIMIT = 16;

interface Signer {
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** The ed25519 half of a backend: the one part two native libraries can both do. */
interface Ed25519 {
  signer(seed: Uint8Array): Signer;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

function cachedSigners(make: (seed: Uint8Array) => Signer): (seed: Uint8Array) => Signer {
  const signers = new Map<string, Signer>();
  return (seed) => {
    const id = crypto.createHash('sha256').update(seed).digest('hex');
    let signer = signers.get(id);
    if (signer === undefined) {
      signer = make(seed);
      if (signers.size >= SIGNING_LIMIT) signers.delete(signers.keys().next().value!);
      signers.set(id, signer);
    }
    return signer;
  };
}

const openssl: Ed25519 = {
  signer: cachedSigners((seed) => {
    const object = privateKeyObject(ED25519_PKCS8, seed);
    return {
      publicKey: rawPublicKey(crypto.createPublicKey(object)),
      sign: (message) => plain(crypto.sign(null, message, object)),
    };
  }),
  verify(publicKey, message, signature) {
    try {
      return crypto.verify(null, message, verifyKey(publicKey), signature);
    } catch {
      // A verifier answers yes or no; a key OpenSSL cannot parse is a no.
      return false;
    }
  },
};

// libsodium verifies two to two and a half times as fast as OpenSSL 3 on the
// same core (docs/decisions.md), and a tasker verifies every message a worker
// sends. sodium-native ships its binary inside the npm package; where it does
// not load, OpenSSL does the work and gives the same bytes.
interface SodiumNative {
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_stream_chacha20_ietf_xor(c: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array): void;
  sodium_malloc(size: number): Uint8Array;
}

function loadSodium(): SodiumNative | undefined {
  try {
    return createRequire(import.meta.url)('sodium-native') as SodiumNative;
  } catch {
    return undefined;
  }
}

function libsodium(sodium: SodiumNative): Ed25519 {
  return {
    signer: cachedSigners((seed) => {
      const publicKey = new Uint8Array(32);
      const secretKey = sodium.sodium_malloc(64);
      sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
      return {
        publicKey,
        sign(message) {
          const signature = new Uint8Array(64);
          sodium.crypto_sign_detached(signature, message, secretKey);
          return signature;
        },
      };
    }),
    verify: (publicKey, message, signature) => sodium.crypto_sign_verify_detached(signature, message, publicKey),
  };
}

/** X25519 as a backend needs it: raw 32-byte keys in and out; throws on a malformed key or an all-zero secret. */
interface X25519 {
  publicKey(secret: Uint8Array): Uint8Array;
  shared(secret: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
}

// OpenSSL takes X25519 keys only as KeyObjects, and building two of them
// costs about half a millisecond a call: more than the scalar multiplication.
const opensslX25519: X25519 = {
  publicKey: (secret) => rawPublicKey(crypto.createPublicKey(privateKeyObject(X25519_PKCS8, secret))),
  shared: (secret, peerPublicKey) =>
    plain(
      crypto.diffieHellman({
        privateKey: privateKeyObject(X25519_PKCS8, secret),
        publicKey: publicKeyObject(X25519_SPKI, peerPublicKey),
      }),
    ),
};

// libsodium's takes raw bytes, about fifteen times as fast here: a relay
// does two X25519s per onion packet and a Noise handshake four. It clamps
// the scalar and masks the peer key's top bit as OpenSSL does, and refuses
// an all-zero result.
function sodiumX25519(sodium: SodiumNative): X25519 {
  return {
    publicKey(secret) {
      const q = new Uint8Array(32);
      sodium.crypto_scalarmult_base(q, secret);
      return q;
    },
    shared(secret, peerPublicKey) {
      const q = new Uint8Array(32);
      sodium.crypto_scalarmult(q, secret, peerPublicKey);
      return q;
    },
  };
}

/** RFC 8439 ChaCha20 with a zero nonce and counter 0, the key's length already checked. */
type ChaCha20 = (key: Uint8Array, data: Uint8Array) => Uint8Array;

// OpenSSL's 16-byte IV is the 32-bit little-endian block counter, then the
// 12-byte nonce: all zeros is RFC 8439's counter 0 with a zero nonce.
const ZERO_COUNTER_AND_NONCE = Buffer.alloc(16);

// Building the cipher costs OpenSSL about 2 µs a call, so below a few hundred
// bytes it is slower than @noble's pure JS; over an onion payload (4 KB) it
// is about four times as fast. For a stream cipher update() is the whole output.
const opensslChaCha20: ChaCha20 = (key, data) => plain(crypto.createCipheriv('chacha20', key, ZERO_COUNTER_AND_NONCE).update(data));

// libsodium's takes raw bytes and has no cipher object to build: two to six
// times @noble's speed at every length an onion layer uses, and faster than
// OpenSSL's at all of them too.
function sodiumChaCha20(sodium: SodiumNative): ChaCha20 {
  const zeroNonce = new Uint8Array(12);
  return (key, data) => {
    const out = new Uint8Array(data.length);
    sodium.crypto_stream_chacha20_ietf_xor(out, data, zeroNonce, key);
    return out;
  };
}

/** Copies out of Buffer so callers get a plain Uint8Array that owns its memory. */
function plain(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer);
}

function rawPublicKey(key: KeyObject): Uint8Array {
  // SPKI of a 32-byte key is the fixed 12-byte header followed by the key.
  return plain(key.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI.length));
}

function backend(name: string, ed: Ed25519, dh: X25519, chacha20: ChaCha20): CryptoBackend {
  return {
    name,

    ed25519PublicKey(seed) {
      // A copy: the cached key must not change under a caller that writes into it.
      return ed.signer(seed).publicKey.slice();
    },

    ed25519Sign: (seed, message) => ed.signer(seed).sign(message),

    ed25519Verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false;
      return ed.verify(publicKey, message, signature);
    },

    x25519PublicKey(secret) {
      if (secret.length !== 32) throw new KeyError('X25519 failed, expected a 32-byte secret', { field: 'secret' });
      return dh.publicKey(secret);
    },

    x25519(secret, peerPublicKey) {
      if (secret.length !== 32 || peerPublicKey.length !== 32) {
        throw new KeyError('X25519 failed, expected 32-byte keys', { field: 'peerPublicKey' });
      }
      let shared: Uint8Array;
      try {
        shared = dh.shared(secret, peerPublicKey);
      } catch (cause) {
        // Both libraries refuse to derive an all-zero secret, which is what a
        // small-order peer key gives.
        throw new KeyError('X25519 failed, expected a valid key that does not have small order', {
          field: 'peerPublicKey',
          cause,
        });
      }
      if (shared.every((b) => b === 0)) {
        throw new KeyError('X25519 gave an all-zero secret: the peer key has small order', { field: 'peerPublicKey' });
      }
      return shared;
    },

    sha256: (data) => plain(crypto.createHash('sha256').update(data).digest()),
    sha512: (data) => plain(crypto.createHash('sha512').update(data).digest()),
    // One native call where HMAC over sha256() takes two and copies the data
    // once more: a relay computes nine per onion packet, two over the whole payload.
    hmacSha256: (key, data) => plain(crypto.createHmac('sha256', key).update(data).digest()),
    randomBytes: (length) => plain(crypto.randomBytes(length)),

    chacha20(key, data) {
      if (key.length !== 32) throw new KeyError(`ChaCha20: expected a 32-byte key, got ${key.length} bytes`, { field: 'key' });
      return chacha20(key, data);
    },
  };
}

const sodium = loadSodium();

/** Which library does this process's ed25519: libsodium when sodium-native loads, else OpenSSL. */
export const ed25519Library: 'libsodium' | 'openssl' = sodium ? 'libsodium' : 'openssl';

/** The Node backend: libsodium's ed25519, X25519 and ChaCha20 where it loads, OpenSSL for the rest. */
export const nodeCrypto: CryptoBackend = sodium
  ? backend('node-libsodium', libsodium(sodium), sodiumX25519(sodium), sodiumChaCha20(sodium))
  : backend('node-openssl', openssl, opensslX25519, opensslChaCha20);

/** node:crypto alone: the fallback, kept testable on machines where libsodium loads. */
export const opensslCrypto: CryptoBackend = sodium ? backend('node-openssl', openssl, opensslX25519, opensslChaCha20) : nodeCrypto;


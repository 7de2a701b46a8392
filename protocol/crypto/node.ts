// node:crypto (OpenSSL) backend. Node-only: nothing that runs in the browser
// may import this file; the browser uses nacl.ts, which gives the same bytes.

import crypto, { type KeyObject } from 'node:crypto';
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
// and receipt), and parsing the PKCS#8 key costs ten signatures. The few
// signing keys are kept as KeyObjects (their secret stays inside OpenSSL),
// found by a hash of the seed so that no copy of the seed itself is kept.
// Its public key is kept with it: signMessage checks the signer field against
// it on every signature, and deriving it parsed the key all over again.
const SIGNING_LIMIT = 16;
const signingKeys = new Map<string, { object: KeyObject; publicKey: Uint8Array }>();

function signingKey(seed: Uint8Array): { object: KeyObject; publicKey: Uint8Array } {
  const id = crypto.createHash('sha256').update(seed).digest('hex');
  let entry = signingKeys.get(id);
  if (entry === undefined) {
    const object = privateKeyObject(ED25519_PKCS8, seed);
    entry = { object, publicKey: rawPublicKey(crypto.createPublicKey(object)) };
    if (signingKeys.size >= SIGNING_LIMIT) signingKeys.delete(signingKeys.keys().next().value!);
    signingKeys.set(id, entry);
  }
  return entry;
}

/** Copies out of Buffer so callers get a plain Uint8Array that owns its memory. */
function plain(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer);
}

function rawPublicKey(key: KeyObject): Uint8Array {
  // SPKI of a 32-byte key is the fixed 12-byte header followed by the key.
  return plain(key.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI.length));
}

export const nodeCrypto: CryptoBackend = {
  name: 'node',

  ed25519PublicKey(seed) {
    // A copy: the cached key must not change under a caller that writes into it.
    return signingKey(seed).publicKey.slice();
  },

  ed25519Sign(seed, message) {
    return plain(crypto.sign(null, message, signingKey(seed).object));
  },

  ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return crypto.verify(null, message, verifyKey(publicKey), signature);
    } catch {
      // A verifier answers yes or no; a key OpenSSL cannot parse is a no.
      return false;
    }
  },

  x25519PublicKey(secret) {
    return rawPublicKey(crypto.createPublicKey(privateKeyObject(X25519_PKCS8, secret)));
  },

  x25519(secret, peerPublicKey) {
    let shared: Uint8Array;
    try {
      shared = plain(
        crypto.diffieHellman({
          privateKey: privateKeyObject(X25519_PKCS8, secret),
          publicKey: publicKeyObject(X25519_SPKI, peerPublicKey),
        }),
      );
    } catch (cause) {
      // OpenSSL refuses to derive an all-zero secret, which is what a
      // small-order peer key gives; it also lands here for a malformed key.
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
  randomBytes: (length) => plain(crypto.randomBytes(length)),
};

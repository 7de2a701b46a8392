// tweetnacl backend: pure JS, so it runs in the browser (and in Node, where
// the tests hold it to the same bytes as node.ts).

import nacl from 'tweetnacl';
import { sha256 } from '@noble/hashes/sha2.js';
import { KeyError } from '../errors.ts';
import type { CryptoBackend } from './backend.ts';
import { portableChaCha20 } from './chacha20.ts';
import { hmacSha256Over } from './hmac.ts';

export const naclCrypto: CryptoBackend = {
  name: 'tweetnacl',

  ed25519PublicKey: (seed) => nacl.sign.keyPair.fromSeed(seed).publicKey,

  // tweetnacl signs with the 64-byte seed ‖ public key form; rebuilding it per
  // call keeps the interface seed-only, the same as node.ts.
  ed25519Sign: (seed, message) => nacl.sign.detached(message, nacl.sign.keyPair.fromSeed(seed).secretKey),

  // tweetnacl throws on wrong lengths; a verifier should only ever say no.
  ed25519Verify: (publicKey, message, signature) =>
    publicKey.length === 32 && signature.length === 64 && nacl.sign.detached.verify(message, signature, publicKey),

  x25519PublicKey: (secret) => nacl.scalarMult.base(secret),

  x25519(secret, peerPublicKey) {
    let shared: Uint8Array;
    try {
      shared = nacl.scalarMult(secret, peerPublicKey);
    } catch (cause) {
      throw new KeyError('X25519 failed, expected 32-byte keys', { field: 'peerPublicKey', cause });
    }
    // tweetnacl returns the all-zero result of a small-order peer key as is;
    // OpenSSL refuses it, and so must we.
    if (shared.every((b) => b === 0)) {
      throw new KeyError('X25519 gave an all-zero secret: the peer key has small order', { field: 'peerPublicKey' });
    }
    return shared;
  },

  sha256: (data) => sha256(data),
  sha512: (data) => nacl.hash(data),
  hmacSha256: (key, data) => hmacSha256Over(sha256, key, data),
  randomBytes: (length) => nacl.randomBytes(length),
  // tweetnacl has XSalsa20 but no ChaCha20.
  chacha20: portableChaCha20,
};

// @noble/curves backend: pure JS like tweetnacl, and several times faster
// (ed25519 signing about 7×, verifying about 4.5× on this machine's Node), so
// it is what the browser uses. A browser worker signs and checks a handful of
// messages per unit on the page that also runs WebTorrent, and with tweetnacl
// that took as much CPU as the unit thread it was feeding.

import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { KeyError } from '../errors.ts';
import type { CryptoBackend } from './backend.ts';
import { portableChaCha20 } from './chacha20.ts';
import { hmacSha256Over } from './hmac.ts';

export const nobleCrypto: CryptoBackend = {
  name: 'noble',

  ed25519PublicKey: (seed) => ed25519.getPublicKey(seed),

  ed25519Sign: (seed, message) => ed25519.sign(message, seed),

  // RFC 8032 verification (not ZIP 215), as libsodium does; noble throws on
  // malformed input, and a verifier should only ever say no.
  ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return ed25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },

  x25519PublicKey: (secret) => x25519.getPublicKey(secret),

  x25519(secret, peerPublicKey) {
    if (secret.length !== 32 || peerPublicKey.length !== 32) {
      throw new KeyError('X25519 failed, expected 32-byte keys', { field: 'peerPublicKey' });
    }
    try {
      return x25519.getSharedSecret(secret, peerPublicKey);
    } catch (cause) {
      // noble refuses a small-order peer key, whose shared secret is all zeros.
      throw new KeyError('X25519 gave an all-zero secret: the peer key has small order', { field: 'peerPublicKey', cause });
    }
  },

  sha256: (data) => sha256(data),
  sha512: (data) => sha512(data),
  hmacSha256: (key, data) => hmacSha256Over(sha256, key, data),
  randomBytes: (length) => randomBytes(length),
  chacha20: portableChaCha20,
};

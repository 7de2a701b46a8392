// The one interface every signature, key agreement and onion layer goes
// through. Every backend must give identical bytes: a native one on Node
// (libsodium's ed25519, else OpenSSL's; node.ts), @noble/curves in the
// browser (noble.ts), and tweetnacl (nacl.ts). test/vectors pins them all.
//
// Backends do raw primitive work only. The strict rules every SpareCycles
// verifier applies (lengths, canonical S, canonical and non-small-order
// points, domain separation) live in sign.ts, once, so the backends cannot
// disagree about an edge case.

export interface CryptoBackend {
  readonly name: string;
  /** 32-byte seed → 32-byte ed25519 public key. */
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  /** Pure ed25519 (RFC 8032) signature of `message`, 64 bytes. */
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /** Pure ed25519 verification. Callers go through sign.ts, which checks encodings first. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** 32-byte secret → 32-byte X25519 public key (RFC 7748). */
  x25519PublicKey(secret: Uint8Array): Uint8Array;
  /** X25519 shared secret. Throws KeyError when the result is all zeros (a small-order peer key). */
  x25519(secret: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  /** HMAC-SHA256 (RFC 2104) of `data` under a key of any length, 32 bytes. */
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  randomBytes(length: number): Uint8Array;
  /**
   * RFC 8439 ChaCha20 of `data` under a 32-byte key, with an all-zero nonce
   * and the block counter at 0: only safe with a key used for one message,
   * which is how the onion layers use it (protocol/onion/lioness.ts). Throws
   * KeyError on any other key length.
   */
  chacha20(key: Uint8Array, data: Uint8Array): Uint8Array;
}

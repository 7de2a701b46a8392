// A peer's long-term identity: one ed25519 seed, which also yields the X25519
// key it uses for key agreement. One secret to store and back up, and a peer's
// X25519 key follows from its ed25519 public key (ed25519ToX25519Public).

import { concatBytes, utf8 } from '../bytes.ts';
import { NOISE_STATIC_LABEL, type Domain } from '../constants.ts';
import { KeyError } from '../errors.ts';
import type { StaticKey } from '../noise.ts';
import type { CryptoBackend } from './backend.ts';
import { assertEd25519PublicKey, ed25519PublicKeyOf, signDomain, x25519PublicKeyOf, x25519SharedSecret } from './sign.ts';

/**
 * The X25519 secret libsodium's crypto_sign_ed25519_sk_to_curve25519 gives:
 * the clamped first half of sha512(seed), i.e. the very scalar ed25519 signs
 * with, so the X25519 public key is the Montgomery form of the ed25519 one.
 */
function x25519SecretOf(backend: CryptoBackend, seed: Uint8Array): Uint8Array {
  const secret = backend.sha512(seed).slice(0, 32);
  secret[0]! &= 248;
  secret[31]! &= 127;
  secret[31]! |= 64;
  return secret;
}

/**
 * The X25519 secret of a peer's Noise static key on task wires
 * (protocol/handshake.ts): derived from the seed under its own label, so the
 * seed stays the one secret to keep, while the Noise key shares nothing with
 * the scalar the ed25519 key signs with. X25519 clamps it when used.
 */
export function noiseStaticSecret(backend: CryptoBackend, seed: Uint8Array): Uint8Array {
  return backend.sha512(concatBytes(utf8(NOISE_STATIC_LABEL), seed)).slice(0, 32);
}

/** The Noise static public key of the identity with this seed: what a tasker's manifest names (`noise`). */
export function noiseStaticPublicKey(backend: CryptoBackend, seed: Uint8Array): Uint8Array {
  return backend.x25519PublicKey(noiseStaticSecret(backend, seed));
}

export class Identity {
  /** ed25519 public key, 32 bytes: the peer's name on the wire. */
  readonly publicKey: Uint8Array;
  readonly x25519PublicKey: Uint8Array;
  /** The static key this identity speaks Noise with on task wires; its secret stays in here. */
  readonly noise: StaticKey;
  readonly #backend: CryptoBackend;
  readonly #seed: Uint8Array;
  readonly #x25519Secret: Uint8Array;

  private constructor(backend: CryptoBackend, seed: Uint8Array) {
    this.#backend = backend;
    this.#seed = seed;
    this.publicKey = ed25519PublicKeyOf(backend, seed);
    this.#x25519Secret = x25519SecretOf(backend, seed);
    this.x25519PublicKey = x25519PublicKeyOf(backend, this.#x25519Secret);
    const noiseSecret = noiseStaticSecret(backend, seed);
    this.noise = { publicKey: backend.x25519PublicKey(noiseSecret), dh: (peer) => backend.x25519(noiseSecret, peer) };
  }

  static generate(backend: CryptoBackend): Identity {
    return new Identity(backend, backend.randomBytes(32));
  }

  static fromSeed(backend: CryptoBackend, seed: Uint8Array): Identity {
    // A copy, so the caller can wipe or reuse its buffer without changing us.
    return new Identity(backend, Uint8Array.from(seed));
  }

  sign(domain: Domain, bytes: Uint8Array): Uint8Array {
    return signDomain(this.#backend, this.#seed, domain, bytes);
  }

  /** X25519 shared secret with a peer; KeyError for a malformed or small-order key. */
  agree(peerX25519Public: Uint8Array): Uint8Array {
    return x25519SharedSecret(this.#backend, this.#x25519Secret, peerX25519Public);
  }

  exportSeed(): Uint8Array {
    return Uint8Array.from(this.#seed);
  }
}

// Field arithmetic for the one conversion below; BigInt is plenty for a
// handful of calls and needs no dependency.
const p = 2n ** 255n - 19n;

function modPow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  for (base = ((base % p) + p) % p; exponent > 0n; exponent >>= 1n, base = (base * base) % p) {
    if (exponent & 1n) result = (result * base) % p;
  }
  return result;
}

// Edwards curve constant d = -121665 / 121666.
const D = (p - 121665n) * modPow(121666n, p - 2n) % p;

/**
 * A peer's X25519 public key from its ed25519 one (the birational map
 * u = (1 + y) / (1 - y), as crypto_sign_ed25519_pk_to_curve25519), so we can
 * agree a key with a peer knowing only its name.
 */
export function ed25519ToX25519Public(publicKey: Uint8Array): Uint8Array {
  // Also rules out y = ±1, where the map divides by zero or gives u = 0.
  assertEd25519PublicKey(publicKey);
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? publicKey[i]! & 0x7f : publicKey[i]!);
  // Signature checks catch an off-curve key, but here nothing else would: it
  // maps to a point on the twist and a shared secret nobody else can compute.
  const x2 = (y * y - 1n) * modPow(D * y * y + 1n, p - 2n);
  if (modPow(x2, (p - 1n) / 2n) > 1n) throw new KeyError('ed25519 public key is not a point on the curve', { field: 'publicKey' });
  let u = ((1n + y) * modPow(1n - y + p, p - 2n)) % p;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, u >>= 8n) out[i] = Number(u & 0xffn);
  return out;
}

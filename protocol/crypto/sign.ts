// The strict, domain-separated signature layer every caller goes through.
//
// Backends disagree at the edges: tweetnacl accepts a signature whose S has L
// added to it, OpenSSL does not, and both accept a small-order public key that
// makes one signature valid for every message. So the rules live here, in
// plain TypeScript, and both backends only ever see inputs that pass them.
// Everything checked here is public, so none of it needs to be constant-time.

import { DOMAINS, type Domain } from '../constants.ts';
import { KeyError, SignatureError, UsageError } from '../errors.ts';
import { concatBytes, fromHex, utf8 } from '../bytes.ts';
import type { CryptoBackend } from './backend.ts';

// Little-endian: p = 2^255 - 19, the field; L = 2^252 + 277423...493, the group order.
const P = fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
const L = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

// The y-coordinates of the 8 points of order dividing 8 (libsodium's
// ge25519_has_small_order list). Matching ignores the sign bit, so this covers
// both signs of each, including "negative zero" x for y = ±1. The other
// encodings libsodium lists, y = p and p + 1, are not canonical and are
// refused before this list is consulted.
const SMALL_ORDER_Y = [
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0100000000000000000000000000000000000000000000000000000000000000', // identity
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
].map(fromHex);

const PREFIXES = new Map(Object.entries(DOMAINS).map(([name, text]) => [name, utf8(text)]));

/** `a < b` as 256-bit little-endian integers, after dropping the sign bit of `a` when asked. */
function lessThan(a: Uint8Array, b: Uint8Array, dropSignBit = false): boolean {
  for (let i = 31; i >= 0; i--) {
    const x = i === 31 && dropSignBit ? a[i]! & 0x7f : a[i]!;
    if (x !== b[i]!) return x < b[i]!;
  }
  return false;
}

function isSmallOrder(point: Uint8Array): boolean {
  return SMALL_ORDER_Y.some((y) => y.every((b, i) => b === (i === 31 ? point[i]! & 0x7f : point[i]!)));
}

/** Why a 32-byte point encoding is unacceptable, or undefined when it is fine. */
function pointProblem(point: Uint8Array): string | undefined {
  if (!lessThan(point, P, true)) return 'is not canonical (y >= p)';
  if (isSmallOrder(point)) return 'has small order';
  return undefined;
}

function signedBytes(domain: Domain, bytes: Uint8Array): Uint8Array {
  const prefix = PREFIXES.get(domain);
  if (prefix === undefined) throw new UsageError(`expected a signing domain, got ${JSON.stringify(domain)}`);
  return concatBytes(prefix, bytes);
}

function requireLength(bytes: Uint8Array, length: number, field: string): void {
  if (bytes.length !== length) throw new KeyError(`expected a ${length}-byte ${field}, got ${bytes.length} bytes`, { field });
}

/** Throws KeyError unless `publicKey` is a 32-byte, canonical, not-small-order ed25519 point. */
export function assertEd25519PublicKey(publicKey: Uint8Array): void {
  requireLength(publicKey, 32, 'publicKey');
  const problem = pointProblem(publicKey);
  if (problem !== undefined) throw new KeyError(`ed25519 public key ${problem}`, { field: 'publicKey' });
}

export function ed25519PublicKeyOf(backend: CryptoBackend, seed: Uint8Array): Uint8Array {
  requireLength(seed, 32, 'seed');
  return backend.ed25519PublicKey(seed);
}

/** Signs `DOMAINS[domain] ‖ bytes`, so the signature means nothing under any other domain. */
export function signDomain(backend: CryptoBackend, seed: Uint8Array, domain: Domain, bytes: Uint8Array): Uint8Array {
  requireLength(seed, 32, 'seed');
  return backend.ed25519Sign(seed, signedBytes(domain, bytes));
}

/** Throws KeyError for an unacceptable key, SignatureError for anything else that is not a valid signature. */
export function verifyDomain(
  backend: CryptoBackend,
  publicKey: Uint8Array,
  domain: Domain,
  bytes: Uint8Array,
  signature: Uint8Array,
): void {
  assertEd25519PublicKey(publicKey);
  const fail = (why: string) => new SignatureError(`signature ${why}`, { field: 'signature' });
  if (signature.length !== 64) throw fail(`must be 64 bytes, got ${signature.length}`);
  // S >= L would let anyone make a second valid signature for the same message.
  if (!lessThan(signature.subarray(32), L)) throw fail('is not canonical (S >= L)');
  const problem = pointProblem(signature.subarray(0, 32));
  if (problem !== undefined) throw fail(`R ${problem}`);
  if (!backend.ed25519Verify(publicKey, signedBytes(domain, bytes), signature)) throw fail('does not verify');
}

/** verifyDomain as a yes or no. Errors other than a bad key or signature still throw. */
export function isValidDomainSignature(
  backend: CryptoBackend,
  publicKey: Uint8Array,
  domain: Domain,
  bytes: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    verifyDomain(backend, publicKey, domain, bytes, signature);
    return true;
  } catch (error) {
    if (error instanceof KeyError || error instanceof SignatureError) return false;
    throw error;
  }
}

export function x25519PublicKeyOf(backend: CryptoBackend, secret: Uint8Array): Uint8Array {
  requireLength(secret, 32, 'secret');
  return backend.x25519PublicKey(secret);
}

/** X25519 with length checks; throws KeyError for a small-order peer key (all-zero result). */
export function x25519SharedSecret(backend: CryptoBackend, secret: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  requireLength(secret, 32, 'secret');
  requireLength(peerPublic, 32, 'peerPublicKey');
  const shared = backend.x25519(secret, peerPublic);
  // Backends promise this already; checking again keeps the rule ours.
  if (shared.every((b) => b === 0)) throw new KeyError('X25519 peer key has small order', { field: 'peerPublicKey' });
  return shared;
}

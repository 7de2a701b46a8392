// Blind Diffie–Hellman key exchange for hash-pair credits: Cashu's NUT-00
// scheme on ristretto255, with NUT-12's DLEQ proof that a blind signature was
// made with the keyset's published key.
//
//   worker   x random, Y = H(x), r random, B = Y + r·G      → sends B
//   mint     C' = k·B, proof that log_G(K) = log_B(C')       → sends C', (e, s)
//   worker   checks the proof, C = C' − r·K = k·Y            → keeps (x, C)
//   mint     on redeem: C = k·H(x)?  and Y = H(x) not yet spent
//
// B is Y plus a uniformly random point, so it says nothing about Y; the mint
// never sees r. The DLEQ proof stops a mint from signing each worker with a
// key of its own, which would let it recognise the credit later. Its nonce is
// derived from k and B, so the same request gets the same bytes back: the
// mint can answer a retry without having stored the signature.

import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes, utf8 } from '../bytes.ts';
import { CREDIT_DOMAINS } from '../constants.ts';
import { SpareCyclesError, UsageError } from '../errors.ts';
import { scalarFromWide, scalarOps, type CreditCurve } from './curve.ts';

// DST_prime = DST ‖ I2OSP(len(DST), 1); a DST this short needs no hashing first.
const DST = utf8(CREDIT_DOMAINS.hashToCurve);
if (DST.length > 255) throw new SpareCyclesError('INTERNAL', 'the hash_to_curve DST must be at most 255 bytes');
const DST_PRIME = concatBytes(DST, Uint8Array.of(DST.length));
// Z_pad (one SHA-512 block of zeros) and I2OSP(64, 2).
const Z_PAD = new Uint8Array(128);
const LENGTH_64 = Uint8Array.of(0, 64);

/**
 * RFC 9380 expand_message_xmd with SHA-512 for 64 bytes: one output block, so
 * b_1 is the answer. Written out rather than taken from @noble/curves so the
 * mint can pass node:crypto's SHA-512.
 */
function expandTo64(message: Uint8Array, hash: (data: Uint8Array) => Uint8Array): Uint8Array {
  const b0 = hash(concatBytes(Z_PAD, message, LENGTH_64, Uint8Array.of(0), DST_PRIME));
  return hash(concatBytes(b0, Uint8Array.of(1), DST_PRIME));
}

/** Y = hash_to_ristretto255(x) (RFC 9380, expand_message_xmd with SHA-512) under the credit DST. */
export function hashToCurve(curve: CreditCurve, secret: Uint8Array): Uint8Array {
  return curve.fromUniform(expandTo64(secret, curve.sha512 ?? sha512));
}

/** A scalar from 64 random bytes; never zero in practice (probability 2^-252), refused if it is. */
export function scalarFromRandom(random64: Uint8Array): Uint8Array {
  const s = scalarFromWide(random64);
  if (scalarOps.isZero(s)) throw new UsageError('random scalar was zero');
  return s;
}

export interface Blinded {
  /** Y = H(x): the credit's public hash, by which anyone asks the mint whether it is spent. */
  Y: Uint8Array;
  /** B = Y + r·G: what the worker hands out. */
  B: Uint8Array;
}

export function blind(curve: CreditCurve, secret: Uint8Array, r: Uint8Array): Blinded {
  const Y = hashToCurve(curve, secret);
  return { Y, B: curve.add(Y, curve.mulBase(r)) };
}

/** The mint's blind signature C' = k·B. */
export function signBlinded(curve: CreditCurve, k: Uint8Array, B: Uint8Array): Uint8Array {
  return curve.mul(k, B);
}

/** C = C' − r·K = k·Y. */
export function unblind(curve: CreditCurve, signature: Uint8Array, r: Uint8Array, K: Uint8Array): Uint8Array {
  return curve.sub(signature, curve.mul(r, K));
}

/**
 * The mint's check at redeem: C = k·H(x). Returns Y = H(x) when the credit
 * is genuine (the mint marks Y spent), undefined otherwise, including for a
 * C that is not a point.
 */
export function checkCredit(curve: CreditCurve, k: Uint8Array, secret: Uint8Array, C: Uint8Array): Uint8Array | undefined {
  // k·Y is always a canonical encoding of a valid point, so a C that is not
  // one can never equal it: no separate point check is needed.
  const Y = hashToCurve(curve, secret);
  return equalBytes(curve.mul(k, Y), C) ? Y : undefined;
}

export function verifyCredit(curve: CreditCurve, k: Uint8Array, secret: Uint8Array, C: Uint8Array): boolean {
  return checkCredit(curve, k, secret, C) !== undefined;
}

export interface Dleq {
  e: Uint8Array;
  s: Uint8Array;
}

function challenge(R1: Uint8Array, R2: Uint8Array, K: Uint8Array, signature: Uint8Array): Uint8Array {
  return scalarFromWide(sha512(concatBytes(utf8(CREDIT_DOMAINS.dleq), R1, R2, K, signature)));
}

/** Proves log_G(K) = log_B(C') without revealing k. Deterministic in (k, B). K = k·G, when the caller has it. */
export function proveDleq(curve: CreditCurve, k: Uint8Array, B: Uint8Array, signature: Uint8Array, K = curve.mulBase(k)): Dleq {
  const p = scalarFromRandom(sha512(concatBytes(utf8(CREDIT_DOMAINS.dleqNonce), k, B)));
  const e = challenge(curve.mulBase(p), curve.mul(p, B), K, signature);
  return { e, s: scalarOps.add(p, scalarOps.mul(e, k)) };
}

/** R1 = s·G − e·K, R2 = s·B − e·C', and e must equal H(R1, R2, K, C'). */
export function verifyDleq(curve: CreditCurve, K: Uint8Array, B: Uint8Array, signature: Uint8Array, proof: Dleq): boolean {
  try {
    const R1 = curve.sub(curve.mulBase(proof.s), curve.mul(proof.e, K));
    const R2 = curve.sub(curve.mul(proof.s, B), curve.mul(proof.e, signature));
    return equalBytes(challenge(R1, R2, K, signature), proof.e);
  } catch {
    // A zero or unreduced scalar, or an identity along the way: not a valid proof.
    return false;
  }
}

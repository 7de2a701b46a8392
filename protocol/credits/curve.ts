// The group arithmetic credits need, on ristretto255, behind one small
// interface. Two implementations must give identical bytes: @noble/curves
// here (pure TypeScript, for the browser and for wallets, which do a few
// operations a unit) and libsodium in the mint, which verifies every credit
// it redeems and is several times faster (see docs/decisions.md). The vectors
// in test/vectors/credits.json pin both.
//
// Points and scalars cross the interface as canonical 32-byte encodings:
// points as ristretto255 encodings, scalars little-endian and reduced mod ℓ.

import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { KeyError } from '../errors.ts';

export interface CreditCurve {
  readonly name: string;
  /** RFC 9496 element derivation: 64 uniform bytes → a point (RFC 9380 hash_to_ristretto255 after expand_message_xmd). */
  fromUniform(bytes64: Uint8Array): Uint8Array;
  /** scalar · point. Throws KeyError for an encoding that is not a valid, non-identity point. */
  mul(scalar: Uint8Array, point: Uint8Array): Uint8Array;
  /** scalar · G. */
  mulBase(scalar: Uint8Array): Uint8Array;
  add(a: Uint8Array, b: Uint8Array): Uint8Array;
  sub(a: Uint8Array, b: Uint8Array): Uint8Array;
  /** A canonical encoding of a point other than the identity. */
  isPoint(bytes: Uint8Array): boolean;
  /** The SHA-512 hash_to_curve uses, where the backend has a faster one than @noble/hashes. */
  readonly sha512?: (data: Uint8Array) => Uint8Array;
}

const Point = ristretto255.Point;
type RPoint = InstanceType<typeof Point>;
const Fn = Point.Fn;

/** The group order ℓ = 2^252 + 27742317777372353535851937790883648493. */
export const GROUP_ORDER = Fn.ORDER;

function decode(bytes: Uint8Array, field: string): RPoint {
  let p: RPoint;
  try {
    p = Point.fromBytes(bytes);
  } catch (cause) {
    throw new KeyError(`${field}: expected a ristretto255 point, got an invalid encoding`, { field, cause });
  }
  if (p.equals(Point.ZERO)) throw new KeyError(`${field}: expected a point other than the identity`, { field });
  return p;
}

/** A sum or difference that lands on the identity is refused, as libsodium's backend refuses it. */
function nonIdentity(p: RPoint): Uint8Array {
  if (p.equals(Point.ZERO)) throw new KeyError('expected a result other than the identity');
  return p.toBytes();
}

export function scalarToBigint(scalar: Uint8Array): bigint {
  if (scalar.length !== 32) throw new KeyError(`expected a 32-byte scalar, got ${scalar.length} bytes`);
  const n = bytesToNumberLE(scalar);
  if (n >= GROUP_ORDER) throw new KeyError('expected a scalar reduced mod the group order');
  return n;
}

export function scalarFromBigint(n: bigint): Uint8Array {
  return numberToBytesLE(Fn.create(n), 32);
}

/** 64 uniform bytes → a scalar mod ℓ (wide reduction, negligible bias). */
export function scalarFromWide(bytes64: Uint8Array): Uint8Array {
  return scalarFromBigint(bytesToNumberLE(bytes64));
}

export const scalarOps = {
  add: (a: Uint8Array, b: Uint8Array) => scalarFromBigint(scalarToBigint(a) + scalarToBigint(b)),
  sub: (a: Uint8Array, b: Uint8Array) => scalarFromBigint(scalarToBigint(a) - scalarToBigint(b)),
  mul: (a: Uint8Array, b: Uint8Array) => scalarFromBigint(scalarToBigint(a) * scalarToBigint(b)),
  isZero: (a: Uint8Array) => scalarToBigint(a) === 0n,
};

export const nobleCurve: CreditCurve = {
  name: 'noble',
  fromUniform(bytes64) {
    if (bytes64.length !== 64) throw new KeyError(`expected 64 uniform bytes, got ${bytes64.length}`);
    return ristretto255_hasher.deriveToCurve!(bytes64).toBytes();
  },
  mul(scalar, point) {
    const k = scalarToBigint(scalar);
    if (k === 0n) throw new KeyError('expected a non-zero scalar');
    return decode(point, 'point').multiply(k).toBytes();
  },
  mulBase(scalar) {
    const k = scalarToBigint(scalar);
    if (k === 0n) throw new KeyError('expected a non-zero scalar');
    return Point.BASE.multiply(k).toBytes();
  },
  add: (a, b) => nonIdentity(decode(a, 'a').add(decode(b, 'b'))),
  sub: (a, b) => nonIdentity(decode(a, 'a').subtract(decode(b, 'b'))),
  isPoint(bytes) {
    if (bytes.length !== 32) return false;
    try {
      return !Point.fromBytes(bytes).equals(Point.ZERO);
    } catch {
      return false;
    }
  },
};

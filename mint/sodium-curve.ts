// The mint's ristretto255 arithmetic: libsodium, with node:crypto's SHA-512
// for hash_to_curve. The system's libsodium through a small addon
// (packages/ristretto-sodium) where it was built at install, else libsodium
// compiled to WebAssembly: about two and five times faster than
// @noble/curves at the constant-time scalar multiplication every redeem needs
// (docs/decisions.md). Each must give the same bytes as
// protocol/credits/curve.ts; test/vectors/credits.json is checked against all.

import { hash } from 'node:crypto';
import { createRequire } from 'node:module';
import sodiumModule from 'libsodium-wrappers-sumo';
import type { CreditCurve } from '../protocol/credits/curve.ts';
import { scalarToBigint } from '../protocol/credits/curve.ts';
import { KeyError } from '../protocol/errors.ts';

/** The libsodium functions used, named and behaving as libsodium-wrappers has them: a refusal throws. */
type Sodium = Pick<
  typeof sodiumModule,
  | 'crypto_core_ristretto255_from_hash'
  | 'crypto_scalarmult_ristretto255'
  | 'crypto_scalarmult_ristretto255_base'
  | 'crypto_core_ristretto255_add'
  | 'crypto_core_ristretto255_sub'
  | 'crypto_core_ristretto255_is_valid_point'
>;

function checkScalar(scalar: Uint8Array): void {
  // Reduced and non-zero, as the noble backend requires.
  if (scalarToBigint(scalar) === 0n) throw new KeyError('expected a non-zero scalar');
}

function wrap(s: Sodium, name: string): CreditCurve {
  // libsodium's is_valid_point accepts the identity, whose only canonical encoding is all zeros.
  const valid = (bytes: Uint8Array) =>
    bytes.length === 32 && !bytes.every((b) => b === 0) && s.crypto_core_ristretto255_is_valid_point(bytes);
  const point = (bytes: Uint8Array, field: string): Uint8Array => {
    if (!valid(bytes)) throw new KeyError(`${field}: expected a ristretto255 point other than the identity`, { field });
    return bytes;
  };
  const nonIdentity = (out: Uint8Array): Uint8Array => {
    if (out.every((b) => b === 0)) throw new KeyError('expected a result other than the identity');
    return out;
  };
  return {
    name,
    fromUniform(bytes64) {
      if (bytes64.length !== 64) throw new KeyError(`expected 64 uniform bytes, got ${bytes64.length}`);
      return s.crypto_core_ristretto255_from_hash(bytes64);
    },
    mul(scalar, p) {
      checkScalar(scalar);
      // libsodium decodes the point itself and refuses an invalid one, and an
      // identity result, which is all the identity point can give; checking
      // first would decode every point twice on the mint's hottest path.
      try {
        return s.crypto_scalarmult_ristretto255(scalar, p);
      } catch (cause) {
        throw new KeyError('point: expected a ristretto255 point other than the identity', { field: 'point', cause });
      }
    },
    mulBase(scalar) {
      checkScalar(scalar);
      return s.crypto_scalarmult_ristretto255_base(scalar);
    },
    add: (a, b) => nonIdentity(s.crypto_core_ristretto255_add(point(a, 'a'), point(b, 'b'))),
    sub: (a, b) => nonIdentity(s.crypto_core_ristretto255_sub(point(a, 'a'), point(b, 'b'))),
    isPoint: valid,
    // One-shot: no Hash object per call on the mint's hottest path.
    sha512: (data) => new Uint8Array(hash('sha512', data, 'buffer')),
  };
}

let wasm: Promise<CreditCurve> | undefined;
let system: CreditCurve | null | undefined;

/** libsodium compiled to WebAssembly; it must be instantiated once before use. */
export function loadWasmSodiumCurve(): Promise<CreditCurve> {
  wasm ??= sodiumModule.ready.then(() => wrap(sodiumModule, 'sodium-wasm'));
  return wasm;
}

/** The system's libsodium, or undefined where the addon was not built (no compiler or headers at install). */
export function loadSystemSodiumCurve(): CreditCurve | undefined {
  if (system === undefined) {
    try {
      system = wrap(createRequire(import.meta.url)('ristretto-sodium') as Sodium, 'sodium-system');
    } catch {
      system = null;
    }
  }
  return system ?? undefined;
}

/** The fastest libsodium this machine has. */
export async function loadSodiumCurve(): Promise<CreditCurve> {
  return loadSystemSodiumCurve() ?? loadWasmSodiumCurve();
}

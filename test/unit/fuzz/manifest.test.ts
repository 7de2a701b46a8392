// Fuzz of the manifest decoder, which every worker runs on bytes from a
// torrent: whatever the input, openManifest returns a manifest that verifies
// or throws one of our typed errors, and anything it accepts is canonical.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, equalBytes } from '../../../protocol/bytes.ts';
import { nodeCrypto } from '../../../protocol/crypto/node.ts';
import { DecodeError, KeyError, SchemaError, SignatureError, SpareCyclesError } from '../../../protocol/errors.ts';
import { encodeManifest, openManifest } from '../../../protocol/manifest.ts';
import vectors from '../../vectors/manifest.json' with { type: 'json' };

const RUNS = Number(process.env.FUZZ_RUNS ?? 10000);
const TIMEOUT = Math.max(60_000, RUNS * 5);
const ALLOWED = [DecodeError, SchemaError, SignatureError, KeyError];
const valid = fromHex(vectors.bytes);

function check(bytes: Uint8Array): 'accepted' | 'rejected' {
  try {
    const manifest = openManifest(nodeCrypto, bytes);
    expect(equalBytes(encodeManifest(manifest), bytes)).toBe(true);
    return 'accepted';
  } catch (error) {
    if (!(error instanceof SpareCyclesError) || !ALLOWED.some((c) => error.constructor === c)) throw error;
    return 'rejected';
  }
}

const mutated = fc
  .tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 }), fc.constantFrom('flip', 'cut', 'insert'))
  .map(([at, byte, how]) => {
    if (how === 'cut') return valid.slice(0, at);
    if (how === 'insert') return Uint8Array.from([...valid.subarray(0, at), byte, ...valid.subarray(at)]);
    const out = Uint8Array.from(valid);
    out[at]! ^= byte;
    return out;
  });

describe('fuzz: openManifest', () => {
  it(
    'arbitrary bytes → a typed error',
    () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 1200 }), (bytes) => void check(bytes)), { numRuns: RUNS });
    },
    TIMEOUT,
  );

  it(
    'mutations of a signed manifest → a typed error, never a different manifest that verifies',
    () => {
      let rejected = 0;
      fc.assert(
        fc.property(mutated, (bytes) => {
          const verdict = check(bytes);
          if (verdict === 'rejected') rejected++;
          // The only input that may open is the original itself.
          else expect(equalBytes(bytes, valid)).toBe(true);
        }),
        { numRuns: RUNS },
      );
      expect(rejected).toBeGreaterThan(RUNS * 0.9);
    },
    TIMEOUT,
  );
});

// Fuzz of the decoders a relay runs on what arrives at its onion socket
// besides packets (protocol/onion/link.ts) and on what an exit is handed
// (protocol/onion/envelope.ts): random bytes, bencode-shaped bytes, and the
// vectors mutated. Whatever the input, a decoder returns a value or throws
// one of our typed errors; what it accepts re-encodes to the same bytes; and
// it leaves its input as it was. FUZZ_RUNS sets the runs (`npm run fuzz` runs more).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import vectors from '../../vectors/onion-relay.json' with { type: 'json' };
import { fromHex, utf8 } from '../../../protocol/bytes.ts';
import { DecodeError, KeyError, SchemaError, SpareCyclesError, VersionError } from '../../../protocol/errors.ts';
import { decodeEnvelope, encodeEnvelope } from '../../../protocol/onion/envelope.ts';
import { decodeLinkFrame, encodeLinkFrame } from '../../../protocol/onion/link.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10000);
const TIMEOUT = Math.max(60_000, RUNS * 5);
const ALLOWED = [DecodeError, SchemaError, VersionError, KeyError];

function check(decode: (b: Uint8Array) => unknown, encode: (v: never) => Uint8Array, input: Uint8Array): void {
  const copy = input.slice();
  let value: unknown;
  try {
    value = decode(input);
  } catch (error) {
    if (!(error instanceof SpareCyclesError) || !ALLOWED.some((c) => error instanceof c)) throw error;
    expect(input).toEqual(copy);
    return;
  }
  expect(input).toEqual(copy);
  expect(encode(value as never)).toEqual(input);
}

const seeds = [...vectors.frames.map((f) => fromHex(f.encoded)), fromHex(vectors.envelope.encoded)];
const TOKENS = ['d', 'e', 'i', 'l', ':', '0', '1', '4', '32:', '1:t', '1:v', 'i1e', 'i2e', '1:x', '1:m', '1:d', '1:s', '1:b', '4:open', '4:mail', '7:refused'];
const inputs = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc.array(fc.constantFrom(...TOKENS), { maxLength: 30 }).map((parts) => utf8(parts.join(''))),
  fc
    .tuple(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean())
    .map(([seed, at, byte, cut]) => {
      const out = seed.slice();
      const i = at % out.length;
      if (cut) return out.slice(0, i);
      out[i] = byte;
      return out;
    }),
);

describe('fuzz: onion link frames and exit envelopes', () => {
  it('link frames: a typed error or a frame that re-encodes to the same bytes', () => {
    fc.assert(fc.property(inputs, (input) => check(decodeLinkFrame, encodeLinkFrame, input)), { numRuns: RUNS });
  }, TIMEOUT);

  it('exit envelopes: a typed error or an envelope that re-encodes to the same bytes', () => {
    fc.assert(fc.property(inputs, (input) => check(decodeEnvelope, encodeEnvelope, input)), { numRuns: RUNS });
  }, TIMEOUT);
});

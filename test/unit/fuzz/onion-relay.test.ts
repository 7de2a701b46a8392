// Fuzz of the decoders a relay runs on what arrives at its onion socket
// besides packets (protocol/onion/link.ts), on what an exit is handed
// (protocol/onion/envelope.ts), and on what a rendezvous is handed (a
// stealth stream's segments, protocol/onion/stream.ts): random bytes,
// bencode-shaped bytes, and the vectors mutated. Whatever the input, a decoder returns a value or throws
// one of our typed errors; what it accepts re-encodes to the same bytes; and
// it leaves its input as it was. FUZZ_RUNS sets the runs (`npm run fuzz` runs more).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import vectors from '../../vectors/onion-relay.json' with { type: 'json' };
import streamVectors from '../../vectors/onion-stream.json' with { type: 'json' };
import { fromHex, utf8 } from '../../../protocol/bytes.ts';
import { DecodeError, KeyError, SchemaError, SpareCyclesError, VersionError } from '../../../protocol/errors.ts';
import { decodeEnvelope, encodeEnvelope } from '../../../protocol/onion/envelope.ts';
import { decodeLinkFrame, encodeLinkFrame } from '../../../protocol/onion/link.ts';
import { decodeSegment, encodeSegment, MAX_HELD, MAX_SEQ } from '../../../protocol/onion/stream.ts';

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

/** Segments: their own field names, and the vectors (valid and refused, reply blocks and all) to mutate. */
const segmentSeeds = [...streamVectors.valid, ...streamVectors.invalid].map((v) => fromHex(v.encoded));
const SEGMENT_TOKENS = ['d', 'e', 'l', 'i', ':', '0', '1', '16:', '1:a', '1:c', '1:d', '1:n', '1:q', '1:s', '1:v', '1:x', 'i0e', 'i1e', 'i2e', '0:', '3:abc'];
const mutate = ([seed, at, byte, cut]: [Uint8Array, number, number, boolean]): Uint8Array => {
  const out = seed.slice();
  const i = at % out.length;
  if (cut) return out.slice(0, i);
  out[i] = byte;
  return out;
};
const segmentInputs = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc.array(fc.constantFrom(...SEGMENT_TOKENS), { maxLength: 30 }).map((parts) => utf8(parts.join(''))),
  fc.tuple(fc.constantFrom(...segmentSeeds), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()).map(mutate),
  // Several bytes changed, so a mutation can get past a length and into the fields after it.
  fc
    .tuple(fc.constantFrom(...segmentSeeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 2, maxLength: 6 }))
    .map(([seed, changes]) => {
      const out = seed.slice();
      for (const [at, byte] of changes) out[at % out.length] = byte;
      return out;
    }),
);
const segmentFields = fc.record({
  stream: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  seq: fc.integer({ min: 0, max: MAX_SEQ }),
  ack: fc.integer({ min: 0, max: MAX_SEQ }),
  data: fc.uint8Array({ maxLength: 700 }),
  held: fc.option(fc.integer({ min: 0, max: MAX_HELD }), { nil: undefined }),
  close: fc.boolean(),
});

describe('fuzz: onion link frames, exit envelopes and stream segments', () => {
  it('link frames: a typed error or a frame that re-encodes to the same bytes', () => {
    fc.assert(fc.property(inputs, (input) => check(decodeLinkFrame, encodeLinkFrame, input)), { numRuns: RUNS });
  }, TIMEOUT);

  it('exit envelopes: a typed error or an envelope that re-encodes to the same bytes', () => {
    fc.assert(fc.property(inputs, (input) => check(decodeEnvelope, encodeEnvelope, input)), { numRuns: RUNS });
  }, TIMEOUT);

  it('stream segments: a typed error or a segment that re-encodes to the same bytes', () => {
    fc.assert(fc.property(segmentInputs, (input) => check(decodeSegment, encodeSegment, input)), { numRuns: RUNS });
  }, TIMEOUT);

  it('stream segments: any fields within bounds encode, and decode to the same fields', () => {
    fc.assert(
      fc.property(segmentFields, ({ held, close, ...fields }) => {
        const segment = { ...fields, ...(held === undefined ? {} : { held }), ...(close ? { close } : {}) };
        expect(decodeSegment(encodeSegment(segment))).toEqual(segment);
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);
});

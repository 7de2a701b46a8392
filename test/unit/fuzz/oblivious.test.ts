// Fuzz of what the mint decodes from a sealed request (protocol/oblivious.ts):
// the encapsulated request, the inner request inside it, the key
// configurations a client reads, and the sealed answer a client opens.
// Whatever arrives, decoding returns a value or throws one of our typed
// errors; nothing that was changed on the way opens; and an inner message
// that is accepted encodes again to one that reads the same. Opening costs
// an X25519, so the crypto-bound properties run a tenth of FUZZ_RUNS
// (`npm run fuzz` runs more).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import vectors from '../../vectors/oblivious.json' with { type: 'json' };
import { encode } from '../../../protocol/bencode.ts';
import { concatBytes, equalBytes, fromHex, utf8 } from '../../../protocol/bytes.ts';
import { nodeCrypto } from '../../../protocol/crypto/node.ts';
import { DecodeError, DecryptError, KeyError, SchemaError, VersionError } from '../../../protocol/errors.ts';
import {
  decapsulateRequest,
  decapsulateResponse,
  decodeInnerRequest,
  decodeInnerResponse,
  decodeKeyConfigs,
  encapsulateRequest,
  encapsulateResponse,
  encodeInnerRequest,
  encodeInnerResponse,
  obliviousKeyFromSeed,
} from '../../../protocol/oblivious.ts';
import { typed, type ErrorClass } from '../../support/fuzz.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10000);
const CRYPTO_RUNS = Math.max(100, Math.floor(RUNS / 10));
const TIMEOUT = Math.max(60_000, RUNS * 5);

const OPEN_ERRORS: readonly ErrorClass[] = [DecodeError, KeyError, DecryptError];
const INNER_ERRORS: readonly ErrorClass[] = [DecodeError, VersionError, SchemaError];


const key = obliviousKeyFromSeed(nodeCrypto, vectors.key.keyId, fromHex(vectors.key.seed));
const sealedRequests = vectors.valid.map((v) => fromHex(v.encapsulatedRequest));
const innerRequests = vectors.valid.map((v) => fromHex(v.innerRequest));

type Mutation = { kind: 'flip'; at: number; bit: number } | { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; byte: number } | { kind: 'delete'; at: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
);

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = m.at % (bytes.length + (m.kind === 'insert' ? 1 : 0));
  switch (m.kind) {
    case 'flip': {
      const out = bytes.slice();
      out[at]! ^= 1 << m.bit;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, at);
    case 'insert':
      return concatBytes(bytes.subarray(0, at), Uint8Array.of(m.byte), bytes.subarray(at));
    case 'delete':
      return concatBytes(bytes.subarray(0, at), bytes.subarray(at + 1));
  }
}

/** Bencode-ish inner messages: real field names, values of every kind. */
const innerArb = fc.dictionary(
  fc.constantFrom('v', 'm', 'p', 'b', 's', 'pad', 'x', ''),
  fc.oneof(fc.constantFrom(0, 1, 2, 200, 409, 600, -1), fc.constantFrom('GET', 'POST', 'PUT', '/v1/redeem', '/', 'v1', ''), fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array(3))),
  { maxKeys: 6 },
).map((d) => encode(d));

describe('fuzz: sealed requests', () => {
  it(
    'a sealed request changed anywhere never opens: a typed refusal every time',
    () => {
      fc.assert(
        fc.property(fc.constantFrom(...sealedRequests), mutationArb, (bytes, m) => {
          const changed = mutate(bytes, m);
          fc.pre(!equalBytes(changed, bytes));
          const out = typed(() => decapsulateRequest(nodeCrypto, key, changed), OPEN_ERRORS);
          expect(out.ok).toBe(false);
        }),
        { numRuns: CRYPTO_RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    'arbitrary bytes, and bytes behind our own header, → a typed refusal',
    () => {
      const header = sealedRequests[0]!.subarray(0, 7);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (tail, withHeader) => {
          const bytes = withHeader ? concatBytes(header, tail) : tail;
          expect(typed(() => decapsulateRequest(nodeCrypto, key, bytes), OPEN_ERRORS).ok).toBe(false);
        }),
        { numRuns: CRYPTO_RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    'a sealed answer changed anywhere never opens',
    () => {
      const { encapsulated, context } = encapsulateRequest(nodeCrypto, key, innerRequests[0]!);
      const opened = decapsulateRequest(nodeCrypto, key, encapsulated);
      const answer = encapsulateResponse(nodeCrypto, opened.context, encodeInnerResponse({ status: 200, body: utf8('{}') }));
      fc.assert(
        fc.property(mutationArb, (m) => {
          const changed = mutate(answer, m);
          fc.pre(!equalBytes(changed, answer));
          expect(typed(() => decapsulateResponse(context, changed), [DecodeError, DecryptError]).ok).toBe(false);
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );
});

describe('fuzz: inner messages and key configurations', () => {
  it(
    'inner requests and answers: arbitrary, mutated and bencode-shaped bytes → a value or a typed error; what is accepted re-encodes to itself',
    () => {
      const anyInner = fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        innerArb,
        fc.tuple(fc.constantFrom(...innerRequests), mutationArb).map(([b, m]) => mutate(b, m)),
      );
      fc.assert(
        fc.property(anyInner, (bytes) => {
          const request = typed(() => decodeInnerRequest(bytes), INNER_ERRORS);
          if (request.ok) {
            const again = encodeInnerRequest(request.value);
            expect(decodeInnerRequest(again)).toEqual(request.value);
          }
          const response = typed(() => decodeInnerResponse(bytes), INNER_ERRORS);
          if (response.ok) expect(decodeInnerResponse(encodeInnerResponse(response.value))).toEqual(response.value);
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    'key configuration lists: arbitrary and mutated bytes → configurations for our suite, or a typed error',
    () => {
      const list = fromHex(vectors.key.ohttpKeys);
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), mutationArb.map((m) => mutate(list, m))), (bytes) => {
          const out = typed(() => decodeKeyConfigs(bytes), [DecodeError, KeyError]);
          if (out.ok) for (const c of out.value) expect(c.publicKey.length).toBe(32);
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );
});

// Fuzz of every decoder that takes bytes from the network: the canonical
// bencode decoder and decodeMessage. Whatever the input, a decoder returns a
// value or throws one of our typed errors; anything it accepts is canonical;
// and a message that is accepted and verifies is byte for byte the one that
// was signed. FUZZ_RUNS sets the runs per decoder (`npm run fuzz` runs more).

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import vectors from '../../vectors/messages.json' with { type: 'json' };
import { decode, encode, type BInput, type BValue } from '../../../protocol/bencode.ts';
import { compareBytes, concatBytes, fromBase64, fromHex, toBase64, utf8 } from '../../../protocol/bytes.ts';
import { LIMITS, MESSAGE_TYPES, type MessageType } from '../../../protocol/constants.ts';
import { nodeCrypto } from '../../../protocol/crypto/node.ts';
import {
  DecodeError,
  KeyError,
  SchemaError,
  SignatureError,
  VersionError,
} from '../../../protocol/errors.ts';
import { decodeMessage, encodeMessage, isSignedMessage, verifyMessage } from '../../../protocol/messages/index.ts';
import { typed } from '../../support/fuzz.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10000);
// Generous, and scaled so `npm run fuzz` has room; the default run takes seconds.
const TIMEOUT = Math.max(60_000, RUNS * 5);
const params = { numRuns: RUNS };



const DECODE_ERRORS = [DecodeError] as const;
const MESSAGE_ERRORS = [DecodeError, SchemaError, VersionError] as const;
const VERIFY_ERRORS = [SignatureError, KeyError] as const;

// ---- Inputs ------------------------------------------------------------------------

const TYPES = Object.keys(MESSAGE_TYPES) as MessageType[];
const validBytes = vectors.valid.map((v) => fromHex(v.encoded));

/** Bytes that look like bencode often enough to get past the first byte. */
const TOKENS = ['i', 'e', 'l', 'd', ':', '-', '0', '1', '2', '9', '16', '1:t', '1:v', 'i1e', 'i2e', 'i-1e', ...TYPES.map((t) => `${t.length}:${t}`)];
const tokenBytes = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((parts) => utf8(parts.join('')));
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 300 }), tokenBytes);

/** Bencode-shaped values, nested, with keys drawn from the real field names. */
const FIELD_NAMES = [
  ...new Set(vectors.valid.flatMap((v) => Object.keys(v.message))),
  'unit', 'lease', 'amount', 'B', 'C', 'x', 'extra', '',
];
const leafArb: fc.Arbitrary<BInput> = fc.oneof(
  fc.constantFrom(0, 1, -1, 2, 1024, 1025, 999_999, 1_000_000, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
  fc.maxSafeInteger(),
  fc.constantFrom(8, 15, 16, 20, 31, 32, 64).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom('worker', 'tasker', 'batch', 'immediate', 'accepted', 'pending', 'https://mint.example', 'wasm', ''),
  fc.string({ maxLength: 20 }),
);
const { value: valueArb } = fc.letrec<{ value: BInput; list: BInput; dict: BInput }>((tie) => ({
  value: fc.oneof({ maxDepth: 5, depthIdentifier: 'bencode' }, leafArb, tie('list'), tie('dict')),
  list: fc.array(tie('value'), { maxLength: 5, depthIdentifier: 'bencode' }),
  dict: fc.dictionary(fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string({ maxLength: 4 })), tie('value'), {
    maxKeys: 6,
    depthIdentifier: 'bencode',
  }),
}));

/** The bencode form of every valid vector, as a plain object to edit. */
const validForms = validBytes.map((b) => decode(b) as Record<string, BValue>);

/** Writes dictionary entries in the order given, as raw bencode (so keys may repeat). */
const rawDict = (entries: [string, BInput][]): Uint8Array =>
  concatBytes(utf8('d'), ...entries.flatMap(([k, v]) => [encode(k), encode(v)]), utf8('e'));

type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'delete'; at: number }
  | { kind: 'duplicate-key'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate-key' as const), at: fc.nat() }),
);

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = m.at % (bytes.length + (m.kind === 'insert' ? 1 : 0));
  switch (m.kind) {
    case 'flip': {
      const out = bytes.slice();
      out[at] = out[at] === m.byte ? out[at]! ^ 0x01 : m.byte;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, at);
    case 'insert':
      return concatBytes(bytes.subarray(0, at), Uint8Array.of(m.byte), bytes.subarray(at));
    case 'delete':
      return concatBytes(bytes.subarray(0, at), bytes.subarray(at + 1));
    case 'duplicate-key': {
      const entries = Object.entries(decode(bytes) as Record<string, BInput>).sort(([a], [b]) => (a < b ? -1 : 1));
      const i = m.at % entries.length;
      entries.splice(i, 0, entries[i]!);
      return rawDict(entries);
    }
  }
}

// ---- Properties --------------------------------------------------------------------

describe('fuzz: bencode decode', () => {
  it(
    'arbitrary bytes → a value or DecodeError; whatever it accepts re-encodes to the same bytes',
    () => {
      fc.assert(
        fc.property(anyBytes, (bytes) => {
          const out = typed(() => decode(bytes), DECODE_ERRORS);
          if (out.ok) expect(encode(out.value)).toEqual(bytes);
        }),
        params,
      );
    },
    TIMEOUT,
  );

  it(
    'encoded values, mutated → a value or DecodeError; accepted input is canonical',
    () => {
      let accepted = 0;
      let rejected = 0;
      fc.assert(
        fc.property(valueArb, fc.option(mutationArb.filter((m) => m.kind !== 'duplicate-key')), (value, mutation) => {
          const bytes = encode(value);
          const input = mutation === null ? bytes : mutate(bytes, mutation);
          const out = typed(() => decode(input), DECODE_ERRORS);
          if (out.ok) {
            accepted++;
            expect(encode(out.value)).toEqual(input);
          } else {
            rejected++;
          }
        }),
        params,
      );
      expect(accepted).toBeGreaterThan(0);
      expect(rejected).toBeGreaterThan(0);
    },
    TIMEOUT,
  );

  it('refuses input over maxBytes and nesting over the depth limit', () => {
    expect(typed(() => decode(new Uint8Array(11).fill(0x30), { maxBytes: 10 }), DECODE_ERRORS).ok).toBe(false);
    // A value may sit inside at most LIMITS.depth lists or dictionaries.
    const nested = (n: number) => utf8(`${'l'.repeat(n)}i0e${'e'.repeat(n)}`);
    expect(typed(() => decode(nested(LIMITS.depth + 1)), DECODE_ERRORS).ok).toBe(false);
    expect(typed(() => decode(nested(LIMITS.depth)), DECODE_ERRORS).ok).toBe(true);
    // Deep enough to overflow a recursive decoder's stack: still a DecodeError.
    expect(typed(() => decode(nested(100_000)), DECODE_ERRORS).ok).toBe(false);
  });

describe('fuzz: bencode encode', () => {
  // The encoder writes ASCII in place and sorts ASCII keys as strings; anything
  // else goes through UTF-8 bytes. Both must give what the plain definition gives.
  const reference = (value: BInput): Uint8Array => {
    if (typeof value === 'number') return utf8(`i${value}e`);
    if (typeof value === 'string') return reference(utf8(value));
    if (value instanceof Uint8Array) return concatBytes(utf8(`${value.length}:`), value);
    if (Array.isArray(value)) return concatBytes(utf8('l'), ...(value as BInput[]).map(reference), utf8('e'));
    const entries = Object.entries(value as Record<string, BInput | undefined>)
      .filter((e): e is [string, BInput] => e[1] !== undefined)
      .map(([k, v]) => [utf8(k), v] as const)
      .sort(([a], [b]) => compareBytes(a, b));
    return concatBytes(utf8('d'), ...entries.flatMap(([k, v]) => [reference(k), reference(v)]), utf8('e'));
  };
  // Keys and text from all of Unicode, surrogate pairs included: UTF-16 order
  // and UTF-8 byte order disagree between U+E000–U+FFFF and the astral planes.
  const text = fc.string({ unit: fc.constantFrom('a', 'Z', '~', 'é', '\u00ff', '\ue000', '\uffff', '😀', '𝄞'), maxLength: 4 });
  const value: fc.Arbitrary<BInput> = fc.letrec<{ v: BInput }>((tie) => ({
    v: fc.oneof(
      { maxDepth: 3 },
      fc.maxSafeInteger(),
      text,
      fc.uint8Array({ maxLength: 8 }),
      fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(fc.oneof(text, fc.string({ maxLength: 4 })), tie('v'), { maxKeys: 5 }),
    ),
  })).v;

  it('gives the bytes of the plain definition, and they decode', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        expect(bytes).toEqual(reference(v));
        expect(typed(() => decode(bytes), DECODE_ERRORS).ok).toBe(true);
      }),
      params,
    );
  });
});
});

describe('fuzz: decodeMessage', () => {
  it(
    'arbitrary bytes → a message or DecodeError/SchemaError/VersionError',
    () => {
      fc.assert(
        fc.property(anyBytes, (bytes) => {
          const out = typed(() => decodeMessage(bytes), MESSAGE_ERRORS);
          if (out.ok) expect(encodeMessage(out.value)).toEqual(bytes);
        }),
        params,
      );
    },
    TIMEOUT,
  );

  it(
    'mutated vectors → a typed error, or a message that fails verification, or exactly the input again',
    () => {
      const outcomes = { rejected: 0, badSignature: 0, accepted: 0 };
      fc.assert(
        fc.property(fc.nat(validBytes.length - 1), mutationArb, (which, mutation) => {
          const original = validBytes[which]!;
          const input = mutate(original, mutation);
          const out = typed(() => decodeMessage(input), MESSAGE_ERRORS);
          if (!out.ok) {
            outcomes.rejected++;
            return;
          }
          // Nothing is dropped or normalised on the way in.
          expect(encodeMessage(out.value)).toEqual(input);
          if (isSignedMessage(out.value)) {
            const verified = typed(() => verifyMessage(nodeCrypto, out.value as never), VERIFY_ERRORS);
            if (!verified.ok) {
              outcomes.badSignature++;
              return;
            }
            // A signed message that verifies is the very one that was signed.
            expect(input).toEqual(original);
          }
          outcomes.accepted++;
        }),
        params,
      );
      expect(outcomes.rejected).toBeGreaterThan(0);
      expect(outcomes.badSignature).toBeGreaterThan(0);
      expect(outcomes.accepted).toBeGreaterThan(0);
    },
    TIMEOUT,
  );

  it(
    'bencode-shaped values with a real t and v: 1 → a typed error or a valid message',
    () => {
      const outcomes = { rejected: 0, accepted: 0 };
      // Half from scratch, half a valid vector with fields replaced, removed or added.
      const fromScratch = fc
        .tuple(fc.constantFrom(...TYPES), fc.dictionary(fc.constantFrom(...FIELD_NAMES), valueArb, { maxKeys: 12 }))
        .map(([t, fields]): Record<string, BInput> => ({ ...fields, t, v: 1 }));
      const edited = fc
        .tuple(
          fc.constantFrom(...validForms),
          fc.array(fc.tuple(fc.constantFrom(...FIELD_NAMES), fc.option(valueArb, { freq: 3 })), { maxLength: 3 }),
        )
        .map(([form, edits]) => {
          const out: Record<string, BInput> = { ...(form as Record<string, BInput>) };
          for (const [key, value] of edits) {
            if (key === 't' || key === 'v') continue;
            if (value === null) delete out[key];
            else out[key] = value;
          }
          return out;
        });
      fc.assert(
        fc.property(fc.oneof(fromScratch, edited), (value) => {
          const bytes = encode(value);
          const out = typed(() => decodeMessage(bytes), MESSAGE_ERRORS);
          if (!out.ok) {
            outcomes.rejected++;
            return;
          }
          outcomes.accepted++;
          expect(TYPES).toContain(out.value.t);
          expect(encodeMessage(out.value)).toEqual(bytes);
          if (isSignedMessage(out.value)) {
            // A changed field under the old signature, or a random one: either way it must not verify,
            // unless nothing signed was changed at all.
            const verified = typed(() => verifyMessage(nodeCrypto, out.value as never), VERIFY_ERRORS);
            if (verified.ok) expect(validBytes.some((b) => b.length === bytes.length && b.every((x, i) => x === bytes[i]))).toBe(true);
          }
        }),
        params,
      );
      expect(outcomes.rejected).toBeGreaterThan(0);
      expect(outcomes.accepted).toBeGreaterThan(0);
    },
    TIMEOUT,
  );
});

describe('base64', () => {
  it('round-trips any bytes and agrees with Node in both directions', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = toBase64(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64'));
        expect(fromBase64(text)).toEqual(bytes);
      }),
      params,
    );
  });

  it('refuses unpadded text and characters outside the alphabet', () => {
    for (const bad of ['QQ', 'QQ=', 'Q===', 'QQ-_', 'QQ==QQ==', ' QQ=']) expect(() => fromBase64(bad), bad).toThrow(DecodeError);
  });
});

// Credit tokens: the vectors in test/vectors/tokens.json (exact bencoding and
// string, and every malformed token with the error it must raise), round
// trips over random credits, and the bounds: 1000 credits, not 1001, and no
// decoding of an over-long string.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import vectors from '../vectors/tokens.json' with { type: 'json' };
import { encode } from '../../protocol/bencode.ts';
import { fromHex, toBase64, toHex } from '../../protocol/bytes.ts';
import { MESSAGE_LIMITS } from '../../protocol/constants.ts';
import { DENOMINATIONS } from '../../protocol/credits/keyset.ts';
import {
  TOKEN_MAX_CHARS,
  TOKEN_MAX_CREDITS,
  TOKEN_PREFIX,
  decodeToken,
  encodeToken,
  isTokenText,
  type TokenCredit,
} from '../../protocol/credits/token.ts';
import { DecodeError, SchemaError, SpareCyclesError } from '../../protocol/errors.ts';

const creditOf = (c: { keyset: string; amount: number; x: string; C: string }): TokenCredit => ({
  keyset: fromHex(c.keyset),
  amount: c.amount,
  x: fromHex(c.x),
  C: fromHex(c.C),
});
const hexOf = (c: TokenCredit) => ({ keyset: toHex(c.keyset), amount: c.amount, x: toHex(c.x), C: toHex(c.C) });

function caught(f: () => unknown): SpareCyclesError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(SpareCyclesError);
    return error as SpareCyclesError;
  }
  throw new Error('expected an error');
}

/** `n` distinct credits of amount 1. */
function manyCredits(n: number): TokenCredit[] {
  return Array.from({ length: n }, (_, i) => {
    const x = new Uint8Array(32);
    new DataView(x.buffer).setUint32(0, i);
    return { keyset: new Uint8Array(8), amount: 1, x, C: new Uint8Array(32).fill(7) };
  });
}

describe('token vectors', () => {
  it('cover valid tokens and each kind of refusal', () => {
    expect(vectors.prefix).toBe(TOKEN_PREFIX);
    expect(vectors.valid.length).toBeGreaterThanOrEqual(4);
    expect(new Set(vectors.invalid.map((v) => v.error))).toEqual(new Set(['DecodeError', 'SchemaError', 'VersionError']));
  });

  for (const v of vectors.valid) {
    it(`encodes and decodes: ${v.name}`, () => {
      const credits = v.credits.map(creditOf);
      expect(encodeToken(v.mint, credits)).toBe(v.token);
      const token = decodeToken(v.token);
      expect(token.mint).toBe(v.mint);
      expect(token.credits.map(hexOf)).toEqual(v.credits);
      expect(isTokenText(v.token)).toBe(true);
      // Whitespace around a pasted token is ignored.
      expect(decodeToken(`\n  ${v.token}\n`).credits.map(hexOf)).toEqual(v.credits);
    });
  }

  for (const v of vectors.invalid) {
    it(`refuses: ${v.name}`, () => {
      const error = caught(() => decodeToken(v.token));
      expect(error.name).toBe(v.error);
      expect(error.field ?? null).toBe(v.field);
    });
  }
});

describe('tokens', () => {
  it('round-trip any credits of one mint', () => {
    const credit = fc.record({
      keyset: fc.uint8Array({ minLength: 8, maxLength: 8 }),
      amount: fc.constantFrom(...DENOMINATIONS),
      x: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      C: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    });
    const mint = fc
      .tuple(fc.constantFrom('http://', 'https://'), fc.stringMatching(/^[\x21-\x7e]{1,64}$/))
      .map(([scheme, rest]) => scheme + rest);
    fc.assert(
      fc.property(mint, fc.uniqueArray(credit, { minLength: 1, maxLength: 20, selector: (c) => toHex(c.x) }), (m, credits) => {
        const text = encodeToken(m, credits);
        expect(text).toMatch(/^sccredits1[A-Za-z0-9_-]+$/);
        const back = decodeToken(text);
        expect(back.mint).toBe(m);
        expect(back.credits.map(hexOf)).toEqual(credits.map(hexOf));
        // One set of credits, one string.
        expect(encodeToken(back.mint, back.credits)).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it(`hold up to ${TOKEN_MAX_CREDITS} credits`, () => {
    const text = encodeToken('https://mint.example.org', manyCredits(TOKEN_MAX_CREDITS));
    expect(text.length).toBeLessThanOrEqual(TOKEN_MAX_CHARS);
    expect(decodeToken(text).credits).toHaveLength(TOKEN_MAX_CREDITS);
  });

  it('refuse one credit more, on the way out and on the way in', () => {
    const credits = manyCredits(TOKEN_MAX_CREDITS + 1);
    const out = caught(() => encodeToken('https://mint.example.org', credits));
    expect(out).toBeInstanceOf(SchemaError);
    expect(out.field).toBe('token.p');
    // Built by hand, since encodeToken refuses it.
    const bytes = encode({ v: 1, m: 'https://mint.example.org', p: credits.map((c) => ({ k: c.keyset, a: c.amount, x: c.x, C: c.C })) });
    const text = TOKEN_PREFIX + toBase64(bytes).replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_');
    expect(text.length).toBeLessThanOrEqual(TOKEN_MAX_CHARS);
    const into = caught(() => decodeToken(text));
    expect(into).toBeInstanceOf(SchemaError);
    expect(into.field).toBe('token.p');
  });

  it('refuse over-long text before decoding it', () => {
    const error = caught(() => decodeToken(TOKEN_PREFIX + 'A'.repeat(TOKEN_MAX_CHARS)));
    expect(error).toBeInstanceOf(DecodeError);
    expect(error.message).toMatch(/at most/);
  });

  it('refuse what is not text', () => {
    expect(caught(() => decodeToken(42 as unknown as string))).toBeInstanceOf(DecodeError);
    expect(caught(() => decodeToken(undefined as unknown as string))).toBeInstanceOf(DecodeError);
  });

  it('refuse to encode what they would refuse to decode', () => {
    const [one] = manyCredits(1) as [TokenCredit];
    expect(caught(() => encodeToken('ftp://x', [one])).field).toBe('token.m');
    expect(caught(() => encodeToken(`https://${'m'.repeat(MESSAGE_LIMITS.mintUrlBytes)}`, [one])).field).toBe('token.m');
    expect(caught(() => encodeToken('https://m', [])).field).toBe('token.p');
    expect(caught(() => encodeToken('https://m', [{ ...one, amount: 6 }])).field).toBe('token.p[0].a');
    expect(caught(() => encodeToken('https://m', [one, one])).field).toBe('token.p[1].x');
    expect(caught(() => encodeToken('https://m', [{ ...one, x: new Uint8Array(31) }])).field).toBe('token.p[0].x');
  });
});

// Credits: every vector in test/vectors/credits.json against each ristretto255
// backend (@noble/curves, which wallets and the browser use, and libsodium as
// WebAssembly and from the system, which the mint uses), step by step; the
// inputs each step must refuse; and properties over random secrets, blinding
// factors and denominations that every backend gives the same bytes.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import vectors from '../vectors/credits.json' with { type: 'json' };
import { loadSodiumCurve, loadSystemSodiumCurve, loadWasmSodiumCurve } from '../../mint/sodium-curve.ts';
import {
  blind,
  hashToCurve,
  proveDleq,
  scalarFromRandom,
  signBlinded,
  unblind,
  verifyCredit,
  verifyDleq,
} from '../../protocol/credits/bdhke.ts';
import {
  GROUP_ORDER,
  nobleCurve,
  scalarFromBigint,
  scalarFromWide,
  scalarOps,
  scalarToBigint,
  type CreditCurve,
} from '../../protocol/credits/curve.ts';
import {
  DENOMINATIONS,
  deriveKeyset,
  isDenomination,
  keysetFromJson,
  keysetIdOf,
  keysetToJson,
  splitAmount,
} from '../../protocol/credits/keyset.ts';
import { concatBytes, fromHex, toHex, utf8 } from '../../protocol/bytes.ts';
import { CREDIT_DOMAINS, CREDIT_LIMITS } from '../../protocol/constants.ts';
import { KeyError, SpareCyclesError, UsageError } from '../../protocol/errors.ts';
import { caught } from '../support/caught.ts';

const wasmCurve = await loadWasmSodiumCurve();
// Built at install from the system's libsodium where it has one; .ci/run installs it.
const systemCurve = loadSystemSodiumCurve();
const CURVES: CreditCurve[] = [nobleCurve, wasmCurve, ...(systemCurve ? [systemCurve] : [])];
const BY_NAME = CURVES.map((c) => [c.name, c] as const);

const h = fromHex;
const ONE = scalarFromBigint(1n);
const G = h(vectors.rfc9496.smallMultiples[0]!.point);
const secretOf = (amount: number) => h((vectors.keyset.secrets as Record<string, string>)[String(amount)]!);
const keyOf = (amount: number) => h((vectors.keyset.keys as Record<string, string>)[String(amount)]!);


function expectKeyError(f: () => unknown, field?: string): KeyError {
  const error = caught(f);
  expect(error, 'expected a KeyError').toBeInstanceOf(KeyError);
  expect((error as Error).constructor).toBe(KeyError);
  if (field !== undefined) expect((error as SpareCyclesError).field).toBe(field);
  return error as KeyError;
}

// ---- The file itself ------------------------------------------------------------------------

describe('credit vectors', () => {
  it('match the constants and cover each step and each kind of refusal', () => {
    expect(vectors.domains).toEqual(CREDIT_DOMAINS);
    expect(BigInt(vectors.groupOrder)).toBe(GROUP_ORDER);
    expect(vectors.denominations).toEqual(DENOMINATIONS);
    expect(DENOMINATIONS.length).toBe(CREDIT_LIMITS.denominations);
    expect(Object.keys(vectors.keyset.keys).map(Number)).toEqual(DENOMINATIONS);
    expect(Object.keys(vectors.keyset.secrets).map(Number)).toEqual(DENOMINATIONS);

    const amounts = new Set(vectors.credits.map((c) => c.amount));
    expect(amounts.has(DENOMINATIONS[0]!) && amounts.has(DENOMINATIONS.at(-1)!)).toBe(true);
    expect(amounts.size).toBeGreaterThanOrEqual(5);
    expect(vectors.hashToCurve.map((v) => v.secret.length / 2)).toEqual(expect.arrayContaining([0, 32, 64]));
    expect(vectors.hashToCurve.some((v) => /^(00){32}$/.test(v.secret))).toBe(true);
    expect(vectors.hashToCurve.some((v) => /^(ff){32}$/.test(v.secret))).toBe(true);

    expect(vectors.rfc9496.smallMultiples).toHaveLength(15);
    expect(vectors.rfc9496.badEncodings).toHaveLength(29);
    expect(vectors.rfc9496.elementDerivation).toHaveLength(7);
    const n = vectors.negative;
    for (const list of [n.credits, n.proofs, n.notPoints, n.notScalars, n.identitySums, n.keysets]) {
      expect(list.length).toBeGreaterThanOrEqual(3);
    }
    // Every RFC bad encoding, the identity and some random bytes are among the refused points.
    const refused = new Set(n.notPoints.map((v) => v.hex));
    for (const v of vectors.rfc9496.badEncodings) expect(refused.has(v.hex)).toBe(true);
    expect(refused.has('00'.repeat(32))).toBe(true);
    expect(n.keysets.map((v) => v.field)).toEqual(expect.arrayContaining(['id', 'keyset', 'keys.1']));
  });

  it('the backends are the ones they claim to be, and the mint takes the fastest', async () => {
    if (process.env.CI) expect(systemCurve, 'the ristretto-sodium addon was not built').toBeDefined();
    expect(CURVES.map((c) => c.name)).toEqual(['noble', 'sodium-wasm', ...(systemCurve ? ['sodium-system'] : [])]);
    expect(new Set(CURVES).size).toBe(CURVES.length);
    expect(await loadSodiumCurve()).toBe(systemCurve ?? wasmCurve);
  });
});

// ---- Every vector, on each backend ---------------------------------------------------------------

describe.each(BY_NAME)('%s backend', (_name, curve) => {
  describe('RFC 9496 Appendix A', () => {
    it('A.1: small multiples of the generator', () => {
      vectors.rfc9496.smallMultiples.forEach((v, i) => {
        expect(scalarToBigint(h(v.scalar))).toBe(BigInt(i + 1));
        expect(toHex(curve.mulBase(h(v.scalar)))).toBe(v.point);
        expect(curve.isPoint(h(v.point))).toBe(true);
        // n·G = (n−1)·G + G, by addition rather than multiplication.
        if (i > 0) expect(toHex(curve.add(h(vectors.rfc9496.smallMultiples[i - 1]!.point), G))).toBe(v.point);
      });
    });

    it('A.2: invalid encodings are not points', () => {
      for (const v of vectors.rfc9496.badEncodings) expect(curve.isPoint(h(v.hex)), v.hex).toBe(false);
    });

    it('A.3: element derivation from 64 uniform bytes', () => {
      for (const v of vectors.rfc9496.elementDerivation) {
        expect(toHex(sha512(utf8(v.label)))).toBe(v.uniform);
        expect(toHex(curve.fromUniform(h(v.uniform)))).toBe(v.point);
      }
    });
  });

  it.each(vectors.hashToCurve.map((v) => [v.name, v] as const))('hash_to_curve: %s', (_n, v) => {
    const secret = h(v.secret);
    expect(toHex(expand_message_xmd(secret, utf8(CREDIT_DOMAINS.hashToCurve), 64, sha512))).toBe(v.uniform);
    expect(toHex(curve.fromUniform(h(v.uniform)))).toBe(v.Y);
    expect(toHex(hashToCurve(curve, secret))).toBe(v.Y);
    expect(curve.isPoint(h(v.Y))).toBe(true);
  });

  it('the keyset derives from its seed, key by key, and its id from its keys', () => {
    const seed = h(vectors.keyset.seed);
    const keyset = deriveKeyset(curve, seed);
    expect(toHex(keyset.id)).toBe(vectors.keyset.id);
    expect([...keyset.keys.keys()]).toEqual(DENOMINATIONS);
    DENOMINATIONS.forEach((d, i) => {
      const k = secretOf(d);
      // The construction, checked without deriveKeyset: k_i = wide(SHA-512(domain ‖ seed ‖ i)), K = k·G.
      expect(toHex(scalarFromWide(sha512(concatBytes(utf8(CREDIT_DOMAINS.keyset), seed, Uint8Array.of(i)))))).toBe(toHex(k));
      expect(toHex(keyset.secrets.get(d)!)).toBe(toHex(k));
      expect(toHex(keyset.keys.get(d)!)).toBe(toHex(keyOf(d)));
      expect(toHex(curve.mulBase(k))).toBe(toHex(keyOf(d)));
    });
    const ordered = concatBytes(...DENOMINATIONS.map(keyOf));
    expect(toHex(concatBytes(Uint8Array.of(0), sha256(ordered).subarray(0, 7)))).toBe(vectors.keyset.id);
    expect(toHex(keysetIdOf(keyset.keys))).toBe(vectors.keyset.id);
    expect(keysetToJson(keyset)).toEqual({ id: vectors.keyset.id, keys: vectors.keyset.keys });
    // The published form (no secrets) reads back as itself, through JSON text.
    const read = keysetFromJson(curve, JSON.parse(JSON.stringify(keysetToJson(keyset))));
    expect(toHex(read.id)).toBe(vectors.keyset.id);
    expect([...read.keys].map(([d, K]) => [d, toHex(K)])).toEqual(Object.entries(vectors.keyset.keys).map(([d, K]) => [Number(d), K]));
    expect(read).not.toHaveProperty('secrets');
  });

  it.each(vectors.credits.map((v) => [v.name, v] as const))('credit, step by step: %s', (_n, v) => {
    const [x, r, k, K] = [h(v.x), h(v.r), secretOf(v.amount), keyOf(v.amount)];
    expect(isDenomination(v.amount)).toBe(true);

    // Worker: Y = H(x), B = Y + r·G.
    const blinded = blind(curve, x, r);
    expect(toHex(blinded.Y)).toBe(v.Y);
    expect(toHex(blinded.B)).toBe(v.B);
    expect(toHex(hashToCurve(curve, x))).toBe(v.Y);
    expect(toHex(curve.mulBase(r))).toBe(v.rG);
    expect(toHex(curve.add(h(v.Y), h(v.rG)))).toBe(v.B);

    // Mint: C′ = k·B and the proof (e, s), deterministic in (k, B).
    expect(toHex(signBlinded(curve, k, h(v.B)))).toBe(v.C_);
    const proof = proveDleq(curve, k, h(v.B), h(v.C_));
    expect(toHex(proof.e)).toBe(v.e);
    expect(toHex(proof.s)).toBe(v.s);
    // Its insides, from the definition: p = wide(SHA-512(nonce domain ‖ k ‖ B)), R1 = p·G, R2 = p·B,
    // e = wide(SHA-512(dleq domain ‖ R1 ‖ R2 ‖ K ‖ C′)), s = p + e·k.
    const p = scalarFromWide(sha512(concatBytes(utf8(CREDIT_DOMAINS.dleqNonce), k, h(v.B))));
    expect(toHex(p)).toBe(v.p);
    expect(toHex(curve.mulBase(p))).toBe(v.R1);
    expect(toHex(curve.mul(p, h(v.B)))).toBe(v.R2);
    expect(toHex(scalarFromWide(sha512(concatBytes(utf8(CREDIT_DOMAINS.dleq), h(v.R1), h(v.R2), K, h(v.C_)))))).toBe(v.e);
    expect(toHex(scalarOps.add(p, scalarOps.mul(h(v.e), k)))).toBe(v.s);

    // Worker: the verifier's R1 = s·G − e·K and R2 = s·B − e·C′ are the prover's.
    expect(toHex(curve.sub(curve.mulBase(h(v.s)), curve.mul(h(v.e), K)))).toBe(v.R1);
    expect(toHex(curve.sub(curve.mul(h(v.s), h(v.B)), curve.mul(h(v.e), h(v.C_))))).toBe(v.R2);
    expect(verifyDleq(curve, K, h(v.B), h(v.C_), { e: h(v.e), s: h(v.s) })).toBe(true);

    // Worker: C = C′ − r·K = k·Y.
    expect(toHex(curve.mul(r, K))).toBe(v.rK);
    expect(toHex(curve.sub(h(v.C_), h(v.rK)))).toBe(v.C);
    expect(toHex(unblind(curve, h(v.C_), r, K))).toBe(v.C);
    expect(toHex(curve.mul(k, h(v.Y)))).toBe(v.C);

    // Mint, at redeem.
    expect(verifyCredit(curve, k, x, h(v.C))).toBe(true);
  });

  it.each(vectors.negative.credits.map((v) => [v.name, v] as const))('refuses a credit: %s', (_n, v) => {
    expect(verifyCredit(curve, secretOf(v.amount), h(v.x), h(v.C))).toBe(false);
  });

  it.each(vectors.negative.proofs.map((v) => [v.name, v] as const))('refuses a DLEQ proof: %s', (_n, v) => {
    expect(verifyDleq(curve, h(v.K), h(v.B), h(v.C_), { e: h(v.e), s: h(v.s) })).toBe(false);
  });

  it.each(vectors.negative.notPoints.map((v) => [v.name, v] as const))('refuses a point: %s', (_n, v) => {
    const bytes = h(v.hex);
    expect(curve.isPoint(bytes)).toBe(false);
    expectKeyError(() => curve.mul(ONE, bytes), 'point');
    expectKeyError(() => curve.add(bytes, G), 'a');
    expectKeyError(() => curve.add(G, bytes), 'b');
    expectKeyError(() => curve.sub(bytes, G), 'a');
    expectKeyError(() => curve.sub(G, bytes), 'b');
    // And where the scheme meets it: a credit's C, a blinded output, a key.
    const [c] = vectors.credits;
    expect(verifyCredit(curve, secretOf(c!.amount), h(c!.x), bytes)).toBe(false);
    expectKeyError(() => signBlinded(curve, secretOf(c!.amount), bytes), 'point');
    expect(verifyDleq(curve, keyOf(c!.amount), bytes, h(c!.C_), { e: h(c!.e), s: h(c!.s) })).toBe(false);
    expect(verifyDleq(curve, bytes, h(c!.B), h(c!.C_), { e: h(c!.e), s: h(c!.s) })).toBe(false);
  });

  it.each(vectors.negative.notScalars.map((v) => [v.name, v] as const))('refuses a scalar: %s', (_n, v) => {
    expectKeyError(() => curve.mulBase(h(v.hex)));
    expectKeyError(() => curve.mul(h(v.hex), G));
  });

  it.each(vectors.negative.identitySums.map((v) => [v.name, v] as const))('refuses a sum that is the identity: %s', (_n, v) => {
    const [a, b] = [h(v.a), h(v.b)];
    expect(curve.isPoint(a) && curve.isPoint(b)).toBe(true);
    expectKeyError(() => (v.op === 'add' ? curve.add(a, b) : curve.sub(a, b)));
  });

  it.each(vectors.negative.keysets.map((v) => [v.name, v] as const))('refuses a keyset: %s', (_n, v) => {
    expectKeyError(() => keysetFromJson(curve, v.json), v.field);
  });
});

// ---- Amounts ---------------------------------------------------------------------------------------

describe('splitAmount', () => {
  const popcount = (n: number) => n.toString(2).replaceAll('0', '').length;
  const checkSplit = (amount: number, parts: number[]) => {
    expect(parts.reduce((a, b) => a + b, 0)).toBe(amount);
    expect(parts).toHaveLength(popcount(amount));
    expect(parts.every(isDenomination)).toBe(true);
    expect([...parts].sort((a, b) => b - a)).toEqual(parts);
    expect(new Set(parts).size).toBe(parts.length);
  };

  it.each(vectors.splitAmount.valid.map((v) => [v.amount, v] as const))('%d', (_a, v) => {
    checkSplit(v.amount, v.parts);
    expect(splitAmount(v.amount)).toEqual(v.parts);
  });

  it.each(vectors.splitAmount.invalid.map((v) => [v.amount, v] as const))('refuses %d', (_a, v) => {
    const error = caught(() => splitAmount(v.amount));
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).name).toBe(v.error);
  });

  it('any amount up to the largest sum splits into its bits, largest first', () => {
    const largest = 2 * DENOMINATIONS.at(-1)! - 1;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: largest }), (amount) => checkSplit(amount, splitAmount(amount))),
      { numRuns: 2000 },
    );
    expect(() => splitAmount(largest + 1)).toThrow(UsageError);
  });
});

// ---- Properties: random credits, both backends, the same bytes -----------------------------------------

/** Everything a credit's life produces on one backend, as hex. */
function lifeOf(curve: CreditCurve, x: Uint8Array, r: Uint8Array, k: Uint8Array, K: Uint8Array) {
  const { Y, B } = blind(curve, x, r);
  const C_ = signBlinded(curve, k, B);
  const { e, s } = proveDleq(curve, k, B, C_);
  const C = unblind(curve, C_, r, K);
  return {
    hex: [Y, B, C_, e, s, C].map(toHex),
    dleq: verifyDleq(curve, K, B, C_, { e, s }),
    credit: verifyCredit(curve, k, x, C),
  };
}

describe('properties', () => {
  const denominationArb = fc.constantFrom(...DENOMINATIONS);
  const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

  it('blind → sign → prove → unblind: the proof and the credit verify, and every backend agrees on every byte', () => {
    fc.assert(
      fc.property(bytes(32), bytes(64), denominationArb, (x, random, d) => {
        const r = scalarFromRandom(random);
        const [noble, ...others] = CURVES.map((c) => lifeOf(c, x, r, secretOf(d), keyOf(d)));
        expect(noble!.dleq).toBe(true);
        expect(noble!.credit).toBe(true);
        for (const other of others) expect(other).toEqual(noble);
        // And not under the key of the next denomination.
        const next = DENOMINATIONS[(DENOMINATIONS.indexOf(d) + 1) % DENOMINATIONS.length]!;
        for (const curve of CURVES) expect(verifyCredit(curve, secretOf(next), x, h(noble!.hex[5]!))).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it('a tampered proof or credit fails on every backend', () => {
    const [c] = vectors.credits;
    const [B, C_, K, k] = [h(c!.B), h(c!.C_), keyOf(c!.amount), secretOf(c!.amount)];
    fc.assert(
      fc.property(fc.constantFrom('e', 's', 'C'), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 7 }), (what, at, bit) => {
        const proof = { e: h(c!.e), s: h(c!.s) };
        let C = h(c!.C);
        const target = what === 'C' ? C : proof[what];
        const flipped = target.slice();
        flipped[at % 32]! ^= 1 << bit;
        if (what === 'C') C = flipped;
        else proof[what] = flipped;
        for (const curve of CURVES) {
          expect(verifyDleq(curve, K, B, C_, proof)).toBe(what === 'C');
          expect(verifyCredit(curve, k, h(c!.x), C)).toBe(what !== 'C');
        }
      }),
      { numRuns: 30 },
    );
  });

  it('any 32 bytes: every backend agrees whether they are a point, and refuses the same ones', () => {
    const special = fc.constantFrom(
      ...vectors.negative.notPoints.map((v) => h(v.hex)),
      ...vectors.rfc9496.smallMultiples.map((v) => h(v.point)),
    );
    fc.assert(
      fc.property(fc.oneof(bytes(32), special), (p) => {
        const [a, ...others] = CURVES.map((c) => c.isPoint(p));
        for (const b of others) expect(b).toBe(a);
        const outcomes = CURVES.map((c) => {
          const error = caught(() => c.add(p, G));
          return error === undefined ? toHex(c.add(p, G)) : (error as Error).constructor;
        });
        for (const outcome of outcomes.slice(1)) expect(outcome).toEqual(outcomes[0]);
        expect(outcomes[0] === KeyError).toBe(!a);
      }),
      { numRuns: 2000 },
    );
  });

  it('any 64 bytes: every backend derives the same point', () => {
    fc.assert(
      fc.property(bytes(64), (u) => {
        const [a, ...others] = CURVES.map((c) => toHex(c.fromUniform(u)));
        for (const b of others) expect(b).toBe(a);
      }),
      { numRuns: 300 },
    );
  });
});

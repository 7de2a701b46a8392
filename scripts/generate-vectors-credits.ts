// Regenerates test/vectors/credits.json: hash-pair credits (Cashu NUT-00
// BDHKE on ristretto255, with NUT-12 DLEQ proofs) step by step, with every
// intermediate value, and the inputs each step must refuse.
//
//   npx tsx scripts/generate-vectors-credits.ts
//
// Deterministic: every secret, blinding factor and seed is a labelled SHA-512
// of a fixed string, and the DLEQ nonce is derived from k and B, so a rerun
// changes nothing unless the scheme did. Every value is computed with both
// backends (@noble/curves and libsodium) and nothing is written unless they
// agree byte for byte. The RFC 9496 section is hand-copied from the RFC's
// Appendix A and checked against both backends before it is written.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { loadSodiumCurve } from '../mint/sodium-curve.ts';
import { blind, hashToCurve, proveDleq, scalarFromRandom, signBlinded, unblind, verifyCredit, verifyDleq } from '../protocol/credits/bdhke.ts';
import {
  GROUP_ORDER,
  nobleCurve,
  scalarFromBigint,
  scalarFromWide,
  scalarOps,
  scalarToBigint,
  type CreditCurve,
} from '../protocol/credits/curve.ts';
import {
  DENOMINATIONS,
  deriveKeyset,
  keysetFromJson,
  keysetToJson,
  splitAmount,
  type Keyset,
  type KeysetJson,
} from '../protocol/credits/keyset.ts';
import { concatBytes, equalBytes, fromHex, toHex, utf8 } from '../protocol/bytes.ts';
import { CREDIT_DOMAINS } from '../protocol/constants.ts';
import { SpareCyclesError } from '../protocol/errors.ts';

const CURVES: CreditCurve[] = [nobleCurve, await loadSodiumCurve()];

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new SpareCyclesError('INTERNAL', `generate-vectors-credits: ${what}`);
}

/** Runs `f` on every backend and returns the result only if all give the same bytes. */
function agreed(what: string, f: (curve: CreditCurve) => Uint8Array): Uint8Array {
  const [first, ...rest] = CURVES.map(f);
  for (const other of rest) check(equalBytes(first!, other), `backends disagree on ${what}`);
  return first!;
}

/** The name of the error `f` throws on every backend (the same on all), or undefined if none throws. */
function thrown(what: string, f: (curve: CreditCurve) => unknown): string | undefined {
  const names = CURVES.map((curve) => {
    try {
      f(curve);
      return undefined;
    } catch (error) {
      return (error as Error).name;
    }
  });
  check(names.every((n) => n === names[0]), `backends disagree on whether ${what} throws: ${names.join(', ')}`);
  return names[0];
}

function boolAgreed(what: string, f: (curve: CreditCurve) => boolean): boolean {
  const [first, ...rest] = CURVES.map(f);
  check(rest.every((r) => r === first), `backends disagree on ${what}`);
  return first!;
}

/** 64 fixed bytes from a label. */
const wide = (label: string) => sha512(utf8(`sparecycles/test-vector/credits/${label}`));
const bytes32 = (label: string) => wide(label).subarray(0, 32);
const scalarOf = (label: string) => scalarFromRandom(wide(label));
const ONE = scalarFromBigint(1n);
/** A copy with the given bits of one byte flipped. */
const flip = (bytes: Uint8Array, at: number, bits = 1) => {
  const out = bytes.slice();
  out[at]! ^= bits;
  return out;
};
const G = agreed('G', (c) => c.mulBase(ONE));

// ---- RFC 9496, Appendix A (hand-copied) --------------------------------------------

const RFC_SMALL_MULTIPLES = [
  // 0·G, the identity, is left out: mulBase refuses the zero scalar.
  'e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76',
  '6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919',
  '94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259',
  'da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57',
  'e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e',
  'f64746d3c92b13050ed8d80236a7f0007c3b3f962f5ba793d19a601ebb1df403',
  '44f53520926ec81fbd5a387845beb7df85a96a24ece18738bdcfa6a7822a176d',
  '903293d8f2287ebe10e2374dc1a53e0bc887e592699f02d077d5263cdd55601c',
  '02622ace8f7303a31cafc63f8fc48fdc16e1c8c8d234b2f0d6685282a9076031',
  '20706fd788b2720a1ed2a5dad4952b01f413bcf0e7564de8cdc816689e2db95f',
  'bce83f8ba5dd2fa572864c24ba1810f9522bc6004afe95877ac73241cafdab42',
  'e4549ee16b9aa03099ca208c67adafcafa4c3f3e4e5303de6026e3ca8ff84460',
  'aa52e000df2e16f55fb1032fc33bc42742dad6bd5a8fc0be0167436c5948501f',
  '46376b80f409b29dc2b5f6f0c52591990896e5716f41477cd30085ab7f10301e',
  'e0c418f7c8d9c4cdd7395b93ea124f3ad99021bb681dfc3302a9d99a2e53e64e',
];

const RFC_BAD_ENCODINGS: [reason: string, hex: string[]][] = [
  [
    'non-canonical field encoding',
    [
      '00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
      'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ],
  ],
  [
    'negative field element',
    [
      '0100000000000000000000000000000000000000000000000000000000000000',
      '01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20',
      'c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562',
      'c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78',
      '47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24',
      'f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72',
      '87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309',
    ],
  ],
  [
    'non-square x²',
    [
      '26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371',
      '4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f',
      'de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b',
      'bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042',
      '2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08',
      'f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22',
      '8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731',
      '2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b',
    ],
  ],
  [
    'negative xy',
    [
      '3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e',
      'a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220',
      'd483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e',
      '8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32',
      '32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b',
      '227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165',
      '5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e',
      '445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b',
    ],
  ],
  ['s = −1, which gives y = 0', ['ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f']],
];

const RFC_ELEMENT_DERIVATION: [label: string, point: string][] = [
  ['Ristretto is traditionally a short shot of espresso coffee', '3066f82a1a747d45120d1740f14358531a8f04bbffe6a819f86dfe50f44a0a46'],
  ['made with the normal amount of ground coffee but extracted with', 'f26e5b6f7d362d2d2a94c5d0e7602cb4773c95a2e5c31a64f133189fa76ed61b'],
  ['about half the amount of water in the same amount of time', '006ccd2a9e6867e6a2c5cea83d3302cc9de128dd2a9a57dd8ee7b9d7ffe02826'],
  ['by using a finer grind.', 'f8f0c87cf237953c5890aec3998169005dae3eca1fbb04548c635953c817f92a'],
  ['This produces a concentrated shot of coffee per volume.', 'ae81e7dedf20a497e10c304a765c1767a42d6e06029758d2d7e8ef7cc4c41179'],
  ['Just pulling a normal shot short will produce a weaker shot', 'e2705652ff9f5e44d3e841bf1c251cf7dddb77d140870d1ab2ed64f1a9ce8628'],
  ['and is not a Ristretto as some believe.', '80bd07262511cdde4863f8a7434cef696750681cb9510eea557088f76d9e5065'],
];

const smallMultiples = RFC_SMALL_MULTIPLES.map((point, i) => {
  const scalar = scalarFromBigint(BigInt(i + 1));
  check(toHex(agreed(`${i + 1}·G`, (c) => c.mulBase(scalar))) === point, `RFC 9496 A.1: ${i + 1}·G`);
  return { scalar: toHex(scalar), point };
});
const badEncodings = RFC_BAD_ENCODINGS.flatMap(([reason, list]) =>
  list.map((hex) => {
    check(!boolAgreed(`isPoint(${hex})`, (c) => c.isPoint(fromHex(hex))), `RFC 9496 A.2: ${hex} is a point`);
    return { reason, hex };
  }),
);
const elementDerivation = RFC_ELEMENT_DERIVATION.map(([label, point]) => {
  const uniform = sha512(utf8(label));
  check(toHex(agreed(label, (c) => c.fromUniform(uniform))) === point, `RFC 9496 A.3: ${label}`);
  return { label, uniform: toHex(uniform), point };
});

// ---- hash_to_curve ------------------------------------------------------------------

const DST = utf8(CREDIT_DOMAINS.hashToCurve);
const hashCases: [string, Uint8Array][] = [
  ['empty', new Uint8Array(0)],
  ['one zero byte', new Uint8Array(1)],
  ['32 zero bytes', new Uint8Array(32)],
  ['32 bytes of 0xff', new Uint8Array(32).fill(0xff)],
  ['ASCII text', utf8('sparecycles')],
  ['32 labelled bytes', bytes32('hash/x')],
  ['the same with one bit flipped', flip(bytes32('hash/x'), 31)],
  ['64 labelled bytes', wide('hash/long')],
];
const hashToCurveVectors = hashCases.map(([name, secret]) => {
  const uniform = expand_message_xmd(secret, DST, 64, sha512);
  const Y = agreed(`H(${name})`, (c) => hashToCurve(c, secret));
  check(equalBytes(Y, agreed(`fromUniform(${name})`, (c) => c.fromUniform(uniform))), `H(${name}) is not fromUniform(expand)`);
  return { name, secret: toHex(secret), uniform: toHex(uniform), Y: toHex(Y) };
});
check(new Set(hashToCurveVectors.map((v) => v.Y)).size === hashToCurveVectors.length, 'two secrets hash to one point');

// ---- The keyset ------------------------------------------------------------------------

const seed = bytes32('keyset/seed');
const keysets = CURVES.map((c) => deriveKeyset(c, seed));
const keyset: Keyset = keysets[0]!;
for (const other of keysets.slice(1)) {
  check(equalBytes(other.id, keyset.id), 'backends disagree on the keyset id');
  for (const d of DENOMINATIONS) {
    check(equalBytes(other.keys.get(d)!, keyset.keys.get(d)!), `backends disagree on K for ${d}`);
    check(equalBytes(other.secrets.get(d)!, keyset.secrets.get(d)!), `backends disagree on k for ${d}`);
  }
}
const keysetJson = keysetToJson(keyset);
const secretsJson = Object.fromEntries(DENOMINATIONS.map((d) => [String(d), toHex(keyset.secrets.get(d)!)]));
const K = (d: number) => keyset.keys.get(d)!;
const k = (d: number) => keyset.secrets.get(d)!;
check(keyset.id[0] === 0, 'keyset version byte');

// ---- Credits, step by step -------------------------------------------------------------

interface Credit {
  name: string;
  amount: number;
  x: Uint8Array;
  r: Uint8Array;
  Y: Uint8Array;
  rG: Uint8Array;
  B: Uint8Array;
  C_: Uint8Array;
  p: Uint8Array;
  R1: Uint8Array;
  R2: Uint8Array;
  e: Uint8Array;
  s: Uint8Array;
  rK: Uint8Array;
  C: Uint8Array;
}

function credit(name: string, amount: number, x: Uint8Array, rLabel: string): Credit {
  const r = scalarOf(rLabel);
  const key = k(amount);
  const { Y, B } = (() => {
    const [first, ...rest] = CURVES.map((c) => blind(c, x, r));
    for (const other of rest) check(equalBytes(first!.Y, other.Y) && equalBytes(first!.B, other.B), `backends disagree on blind(${name})`);
    return first!;
  })();
  const rG = agreed(`${name}: r·G`, (c) => c.mulBase(r));
  check(equalBytes(B, agreed(`${name}: Y + r·G`, (c) => c.add(Y, rG))), `${name}: B is not Y + r·G`);
  const C_ = agreed(`${name}: C'`, (c) => signBlinded(c, key, B));
  const e = agreed(`${name}: e`, (c) => proveDleq(c, key, B, C_).e);
  const s = agreed(`${name}: s`, (c) => proveDleq(c, key, B, C_).s);
  // The proof's insides, computed from its definition rather than through proveDleq.
  const p = scalarFromRandom(sha512(concatBytes(utf8(CREDIT_DOMAINS.dleqNonce), key, B)));
  const R1 = agreed(`${name}: p·G`, (c) => c.mulBase(p));
  const R2 = agreed(`${name}: p·B`, (c) => c.mul(p, B));
  check(equalBytes(e, scalarFromWide(sha512(concatBytes(utf8(CREDIT_DOMAINS.dleq), R1, R2, K(amount), C_)))), `${name}: e`);
  check(equalBytes(s, scalarOps.add(p, scalarOps.mul(e, key))), `${name}: s`);
  check(boolAgreed(`${name}: DLEQ`, (c) => verifyDleq(c, K(amount), B, C_, { e, s })), `${name}: DLEQ does not verify`);
  const rK = agreed(`${name}: r·K`, (c) => c.mul(r, K(amount)));
  const C = agreed(`${name}: C`, (c) => unblind(c, C_, r, K(amount)));
  check(equalBytes(C, agreed(`${name}: k·Y`, (c) => c.mul(key, Y))), `${name}: C is not k·Y`);
  check(boolAgreed(`${name}: verify`, (c) => verifyCredit(c, key, x, C)), `${name}: the credit does not verify`);
  return { name, amount, x, r, Y, rG, B, C_, p, R1, R2, e, s, rK, C };
}

const credits: Credit[] = [
  credit('1, labelled secret', 1, bytes32('credit/1'), 'credit/1/r'),
  credit('2, labelled secret', 2, bytes32('credit/2'), 'credit/2/r'),
  credit('4, all-zero secret', 4, new Uint8Array(32), 'credit/4/r'),
  credit('64, all-0xff secret', 64, new Uint8Array(32).fill(0xff), 'credit/64/r'),
  credit('1024, labelled secret', 1024, bytes32('credit/1024'), 'credit/1024/r'),
  credit('the largest denomination', DENOMINATIONS.at(-1)!, bytes32('credit/largest'), 'credit/largest/r'),
  // The same secret and amount blinded twice: B and C' differ, C does not.
  credit('1, the first secret blinded again', 1, bytes32('credit/1'), 'credit/1/r-again'),
];
check(equalBytes(credits[0]!.C, credits[6]!.C) && !equalBytes(credits[0]!.B, credits[6]!.B), 'reblinding changed C or kept B');

const creditJson = (c: Credit) => ({
  name: c.name,
  amount: c.amount,
  x: toHex(c.x),
  r: toHex(c.r),
  Y: toHex(c.Y),
  rG: toHex(c.rG),
  B: toHex(c.B),
  C_: toHex(c.C_),
  p: toHex(c.p),
  R1: toHex(c.R1),
  R2: toHex(c.R2),
  e: toHex(c.e),
  s: toHex(c.s),
  rK: toHex(c.rK),
  C: toHex(c.C),
});

// ---- splitAmount ------------------------------------------------------------------------

const largestSum = 2 * DENOMINATIONS.at(-1)! - 1;
const splitValid = [0, 1, 2, 3, 5, 7, 100, 255, 1000, 65_537, DENOMINATIONS.at(-1)!, largestSum].map((amount) => ({
  amount,
  parts: splitAmount(amount),
}));
const splitInvalid = [-1, 0.5, largestSum + 1, 2 ** 53].map((amount) => {
  let name: string | undefined;
  try {
    splitAmount(amount);
  } catch (error) {
    name = (error as Error).name;
  }
  check(name === 'UsageError', `splitAmount(${amount}) did not throw UsageError`);
  return { amount, error: name };
});

// ---- Negative cases ---------------------------------------------------------------------

const [c1, c2, c4, , c1024] = credits as [Credit, Credit, Credit, Credit, Credit];
const plusOne = (scalar: Uint8Array) => scalarOps.add(scalar, ONE);
/** 32 bytes little-endian, reduced or not. */
const le32 = (n: bigint) => {
  check(n >= 0n && n < 2n ** 256n, `${n} does not fit in 32 bytes`);
  return fromHex(n.toString(16).padStart(64, '0')).reverse();
};
/** The same scalar plus ℓ: equal mod ℓ, but not the canonical encoding. */
const unreduced = (scalar: Uint8Array) => le32(scalarToBigint(scalar) + GROUP_ORDER);

// verifyCredit(k(amount), x, C) must be false.
const badCredits = [
  { name: 'checked under the next denomination’s key', amount: 2, x: c1.x, C: c1.C },
  { name: 'checked under the previous denomination’s key', amount: 1, x: c2.x, C: c2.C },
  { name: 'C of another credit', amount: 1, x: c1.x, C: c2.C },
  { name: 'C + G', amount: 1, x: c1.x, C: agreed('C + G', (c) => c.add(c1.C, G)) },
  { name: 'C with its lowest bit flipped', amount: 1, x: c1.x, C: flip(c1.C, 0) },
  { name: 'C with a bit in its middle flipped', amount: 4, x: c4.x, C: flip(c4.C, 16, 0x10) },
  { name: 'x with its last bit flipped', amount: 1, x: flip(c1.x, 31), C: c1.C },
  { name: 'x of another credit', amount: 1024, x: c1.x, C: c1024.C },
  { name: 'x of all zeros for a credit on another secret', amount: 1024, x: new Uint8Array(32), C: c1024.C },
  { name: 'the blind signature C′, never unblinded', amount: 2, x: c2.x, C: c2.C_ },
  { name: 'the blinded output B', amount: 2, x: c2.x, C: c2.B },
  { name: 'Y itself', amount: 2, x: c2.x, C: c2.Y },
  { name: 'C is the identity', amount: 1, x: c1.x, C: new Uint8Array(32) },
].map((v) => {
  check(!boolAgreed(v.name, (c) => verifyCredit(c, k(v.amount), v.x, v.C)), `bad credit verifies: ${v.name}`);
  return { name: v.name, amount: v.amount, x: toHex(v.x), C: toHex(v.C) };
});

// A mint that signs one worker with a key of its own (to recognise the credit later) and proves that key.
const taggingKey = scalarOf('dleq/tagging-key');
const taggedC_ = agreed('tagged C′', (c) => signBlinded(c, taggingKey, c1.B));
const taggedProof = proveDleq(nobleCurve, taggingKey, c1.B, taggedC_);
check(verifyDleq(nobleCurve, nobleCurve.mulBase(taggingKey), c1.B, taggedC_, taggedProof), 'the tagging key’s own proof');

// verifyDleq(K, B, C', {e, s}) must be false.
const badProofs = [
  { name: 'e + 1', K: K(1), B: c1.B, C_: c1.C_, e: plusOne(c1.e), s: c1.s },
  { name: 's + 1', K: K(1), B: c1.B, C_: c1.C_, e: c1.e, s: plusOne(c1.s) },
  { name: 'e with its lowest bit flipped', K: K(1), B: c1.B, C_: c1.C_, e: flip(c1.e, 0), s: c1.s },
  { name: 's with its lowest bit flipped', K: K(1), B: c1.B, C_: c1.C_, e: c1.e, s: flip(c1.s, 0) },
  { name: 'e and s swapped', K: K(1), B: c1.B, C_: c1.C_, e: c1.s, s: c1.e },
  { name: 'e of zero', K: K(1), B: c1.B, C_: c1.C_, e: new Uint8Array(32), s: c1.s },
  { name: 's of zero', K: K(1), B: c1.B, C_: c1.C_, e: c1.e, s: new Uint8Array(32) },
  { name: 's + ℓ, the same s unreduced', K: K(1), B: c1.B, C_: c1.C_, e: c1.e, s: unreduced(c1.s) },
  { name: 'e + ℓ, the same e unreduced', K: K(1), B: c1.B, C_: c1.C_, e: unreduced(c1.e), s: c1.s },
  { name: 'checked against another denomination’s K', K: K(2), B: c1.B, C_: c1.C_, e: c1.e, s: c1.s },
  { name: 'the proof of another output', K: K(2), B: c2.B, C_: c2.C_, e: c1.e, s: c1.s },
  { name: 'a proof moved to another B', K: K(1), B: credits[6]!.B, C_: c1.C_, e: c1.e, s: c1.s },
  { name: 'a proof moved to another C′', K: K(1), B: c1.B, C_: credits[6]!.C_, e: c1.e, s: c1.s },
  {
    name: 'signed and proved with a key not in the keyset',
    K: K(1), B: c1.B, C_: taggedC_, e: taggedProof.e, s: taggedProof.s,
  },
  { name: 'K that is not a point', K: fromHex(RFC_BAD_ENCODINGS[1]![1][0]!), B: c1.B, C_: c1.C_, e: c1.e, s: c1.s },
  { name: 'C′ that is the identity', K: K(1), B: c1.B, C_: new Uint8Array(32), e: c1.e, s: c1.s },
].map((v) => {
  check(!boolAgreed(v.name, (c) => verifyDleq(c, v.K, v.B, v.C_, { e: v.e, s: v.s })), `bad proof verifies: ${v.name}`);
  return { name: v.name, K: toHex(v.K), B: toHex(v.B), C_: toHex(v.C_), e: toHex(v.e), s: toHex(v.s) };
});

// Bytes that are not a point other than the identity: isPoint is false, and mul, add and sub throw KeyError.
const randomNonPoints: Uint8Array[] = [];
for (let i = 0; randomNonPoints.length < 4; i++) {
  const candidate = bytes32(`not-a-point/${i}`);
  candidate[31]! &= 0x7f; // keep it from being refused for the top bit alone
  candidate[0]! &= 0xfe; // nor for being negative alone
  if (!boolAgreed(`isPoint(candidate ${i})`, (c) => c.isPoint(candidate))) randomNonPoints.push(candidate);
}
const notPoints = [
  { name: 'the identity (all zeros)', hex: toHex(new Uint8Array(32)) },
  { name: 'G with the top bit set', hex: toHex(flip(G, 31, 0x80)) },
  { name: '31 bytes', hex: toHex(G.subarray(0, 31)) },
  { name: '33 bytes', hex: toHex(concatBytes(G, Uint8Array.of(0))) },
  { name: 'empty', hex: '' },
  ...badEncodings.map((v, i) => ({ name: `RFC 9496 bad encoding ${i} (${v.reason})`, hex: v.hex })),
  ...randomNonPoints.map((p, i) => ({ name: `labelled bytes that are not a point (${i})`, hex: toHex(p) })),
].map((v) => {
  const bytes = fromHex(v.hex);
  check(!boolAgreed(`isPoint(${v.name})`, (c) => c.isPoint(bytes)), `${v.name} is a point`);
  for (const [op, f] of [
    ['mul', (c: CreditCurve) => c.mul(ONE, bytes)],
    ['add', (c: CreditCurve) => c.add(bytes, G)],
    ['add (second)', (c: CreditCurve) => c.add(G, bytes)],
    ['sub', (c: CreditCurve) => c.sub(bytes, G)],
  ] as const) {
    check(thrown(`${op}(${v.name})`, f) === 'KeyError', `${op} accepts ${v.name}`);
  }
  return v;
});

// Scalars mul and mulBase refuse with KeyError.
const notScalars = [
  { name: 'zero', hex: toHex(new Uint8Array(32)) },
  { name: 'ℓ', hex: toHex(le32(GROUP_ORDER)) },
  { name: 'ℓ + 1', hex: toHex(le32(GROUP_ORDER + 1n)) },
  { name: '2^256 − 1', hex: 'ff'.repeat(32) },
  { name: '31 bytes', hex: '01'.padEnd(62, '0') },
  { name: '33 bytes', hex: '01'.padEnd(66, '0') },
].map((v) => {
  const bytes = fromHex(v.hex);
  check(thrown(`mulBase(${v.name})`, (c) => c.mulBase(bytes)) === 'KeyError', `mulBase accepts ${v.name}`);
  check(thrown(`mul(${v.name})`, (c) => c.mul(bytes, G)) === 'KeyError', `mul accepts ${v.name}`);
  return v;
});

// Sums and differences that land on the identity are refused.
const identitySums = [
  { name: 'G − G', op: 'sub', a: toHex(G), b: toHex(G) },
  { name: 'C − C', op: 'sub', a: toHex(c1.C), b: toHex(c1.C) },
  { name: '(ℓ−1)·G + G', op: 'add', a: toHex(agreed('(ℓ−1)·G', (c) => c.mulBase(scalarFromBigint(GROUP_ORDER - 1n)))), b: toHex(G) },
].map((v) => {
  const [a, b] = [fromHex(v.a), fromHex(v.b)];
  check(thrown(v.name, (c) => (v.op === 'add' ? c.add(a, b) : c.sub(a, b))) === 'KeyError', `${v.name} is accepted`);
  return v;
});

// keysetFromJson must throw KeyError on `field`.
const editedKeyset = (edit: (j: KeysetJson) => void): KeysetJson => {
  const j = structuredClone(keysetJson);
  edit(j);
  return j;
};
const badKeysets = [
  { name: 'a key replaced by another denomination’s', field: 'id', json: editedKeyset((j) => (j.keys['4'] = j.keys['8']!)) },
  { name: 'two keys swapped', field: 'id', json: editedKeyset((j) => ([j.keys['1'], j.keys['2']] = [j.keys['2']!, j.keys['1']!])) },
  { name: 'a key replaced by another point', field: 'id', json: editedKeyset((j) => (j.keys['16'] = toHex(c1.C))) },
  { name: 'the id of another keyset', field: 'id', json: editedKeyset((j) => (j.id = toHex(flip(keyset.id, 7)))) },
  { name: 'a key that is not a point', field: 'keys.4', json: editedKeyset((j) => (j.keys['4'] = badEncodings[5]!.hex)) },
  { name: 'the identity as a key', field: 'keys.1', json: editedKeyset((j) => (j.keys['1'] = '00'.repeat(32))) },
  { name: 'a key in upper-case hex', field: 'keys.2', json: editedKeyset((j) => (j.keys['2'] = j.keys['2']!.toUpperCase())) },
  { name: 'a key of 31 bytes', field: 'keys.2', json: editedKeyset((j) => (j.keys['2'] = j.keys['2']!.slice(0, 62))) },
  {
    name: 'the largest denomination missing',
    field: `keys.${DENOMINATIONS.at(-1)}`,
    json: editedKeyset((j) => delete j.keys[String(DENOMINATIONS.at(-1))]),
  },
  { name: 'the id in upper case', field: 'keyset', json: editedKeyset((j) => (j.id = j.id.toUpperCase())) },
  { name: 'an id of 7 bytes', field: 'keyset', json: editedKeyset((j) => (j.id = j.id.slice(0, 14))) },
  { name: 'no keys', field: 'keyset', json: editedKeyset((j) => delete (j as Partial<KeysetJson>).keys) },
].map((v) => {
  for (const c of CURVES) {
    let error: { name?: string; field?: string } | undefined;
    try {
      keysetFromJson(c, v.json);
    } catch (e) {
      error = e as { name: string; field?: string };
    }
    check(error?.name === 'KeyError' && error.field === v.field, `${c.name}: keysetFromJson(${v.name}) gave ${error?.name} on ${error?.field}`);
  }
  return v;
});
// And the published keyset itself reads back.
for (const c of CURVES) check(equalBytes(keysetFromJson(c, keysetJson).id, keyset.id), `${c.name}: keysetFromJson round trip`);

// ---- The file ---------------------------------------------------------------------------------

const file = {
  description:
    'SpareCycles hash-pair credits: Cashu NUT-00 blind Diffie–Hellman on ristretto255 with NUT-12 DLEQ proofs. ' +
    'Points are ristretto255 encodings, scalars 32 bytes little-endian mod ℓ, all as hex. ' +
    'Y = hash_to_ristretto255(x) = fromUniform(expand_message_xmd-SHA-512(x, domains.hashToCurve, 64)); ' +
    'B = Y + r·G; C_ (C′) = k·B; p = wide(SHA-512(domains.dleqNonce ‖ k ‖ B)); R1 = p·G; R2 = p·B; ' +
    'e = wide(SHA-512(domains.dleq ‖ R1 ‖ R2 ‖ K ‖ C′)); s = p + e·k; C = C′ − r·K = k·Y. ' +
    'wide() reduces 64 bytes little-endian mod ℓ. Keys: k_i = wide(SHA-512(domains.keyset ‖ seed ‖ i)) for denomination 2^i; ' +
    'id = 0x00 ‖ SHA-256(K_1 ‖ K_2 ‖ … ‖ K_2^23)[0..7]. ' +
    'negative: verifyCredit and verifyDleq give false; notPoints are refused by isPoint, and by mul/add/sub with KeyError; ' +
    'notScalars by mul/mulBase with KeyError; identitySums by add/sub with KeyError; keysetFromJson throws KeyError on `field`.',
  generatedBy: 'npx tsx scripts/generate-vectors-credits.ts',
  domains: CREDIT_DOMAINS,
  groupOrder: GROUP_ORDER.toString(),
  denominations: DENOMINATIONS,
  rfc9496: {
    source: 'RFC 9496, Appendix A: A.1 multiples of the generator, A.2 invalid encodings, A.3 element derivation (fromUniform)',
    smallMultiples,
    badEncodings,
    elementDerivation,
  },
  hashToCurve: hashToCurveVectors,
  keyset: { seed: toHex(seed), id: keysetJson.id, keys: keysetJson.keys, secrets: secretsJson },
  credits: credits.map(creditJson),
  splitAmount: { valid: splitValid, invalid: splitInvalid },
  negative: { credits: badCredits, proofs: badProofs, notPoints, notScalars, identitySums, keysets: badKeysets },
};

const path = fileURLToPath(new URL('../test/vectors/credits.json', import.meta.url));
writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
console.log(
  `wrote ${credits.length} credits, ${hashToCurveVectors.length} hashes, ` +
    `${badCredits.length + badProofs.length + notPoints.length + notScalars.length + identitySums.length + badKeysets.length} negative cases to ${path}`,
);

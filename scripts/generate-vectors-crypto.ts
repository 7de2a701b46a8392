// Regenerates the generated sections of test/vectors/ed25519.json and
// test/vectors/x25519.json: `npx tsx scripts/generate-vectors-crypto.ts`.
//
// Deterministic (fixed seeds; ed25519 and X25519 use no randomness), so a
// rerun changes nothing unless the protocol did. Bytes come from the node
// backend and are recomputed with tweetnacl; the hand-copied sections (RFC
// vectors, small-order lists) are checked against both backends and against
// @noble/curves. Nothing is written unless everything agrees.

import { readFileSync, writeFileSync } from 'node:fs';
import { ED25519_TORSION_SUBGROUP, ed25519, x25519 } from '@noble/curves/ed25519.js';
import { concatBytes, equalBytes, fromHex, toHex, utf8 } from '../protocol/bytes.ts';
import { DOMAINS, type Domain } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { naclCrypto } from '../protocol/crypto/nacl.ts';
import { ed25519Library, nodeCrypto, opensslCrypto } from '../protocol/crypto/node.ts';
import { signDomain } from '../protocol/crypto/sign.ts';
import { SpareCyclesError } from '../protocol/errors.ts';

// Both Node libraries, so the vectors pin what each would accept raw.
const BACKENDS: CryptoBackend[] = [nodeCrypto, naclCrypto, opensslCrypto];
if (ed25519Library !== 'libsodium') throw new SpareCyclesError('INTERNAL', 'generate-vectors-crypto: needs sodium-native, to pin both Node libraries');
const ED25519_FILE = new URL('../test/vectors/ed25519.json', import.meta.url);
const X25519_FILE = new URL('../test/vectors/x25519.json', import.meta.url);

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new SpareCyclesError('INTERNAL', `generate-vectors-crypto: ${what}`);
}

/** Runs `f` on every backend and returns the result only if all give the same bytes. */
function agreed(what: string, f: (backend: CryptoBackend) => Uint8Array): Uint8Array {
  const [first, ...rest] = BACKENDS.map(f);
  for (const other of rest) check(equalBytes(first!, other), `backends disagree on ${what}`);
  return first!;
}

function throws(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch {
    return true;
  }
}

const seedOf = (label: string) => nodeCrypto.sha256(utf8(`sparecycles/test-vector-seed/${label}`));

// --- ed25519: hand-copied sections -----------------------------------------

const ed = JSON.parse(readFileSync(ED25519_FILE, 'utf8'));

for (const v of ed.rfc8032) {
  const seed = fromHex(v.seed);
  const message = fromHex(v.message);
  check(toHex(agreed(v.name, (b) => b.ed25519PublicKey(seed))) === v.publicKey, `${v.name}: public key`);
  check(toHex(agreed(v.name, (b) => b.ed25519Sign(seed, message))) === v.signature, `${v.name}: signature`);
}

// Every encoding that decodes (leniently, as ZIP-215 does) to a point of order
// dividing 8: the 8 canonical ones, plus sign-bit and y >= p variants.
const lenient = (bytes: Uint8Array) => {
  try {
    return ed25519.Point.fromBytes(bytes, true);
  } catch {
    return undefined;
  }
};
const smallOrder = new Set<string>(ED25519_TORSION_SUBGROUP);
// y = p + i: every y >= p that fits in 255 bits.
const ABOVE_P = Array.from({ length: 19 }, (_, i) => fromHex(`${(0xed + i).toString(16)}${'ff'.repeat(30)}7f`));
for (const bytes of [...ED25519_TORSION_SUBGROUP.map(fromHex), ...ABOVE_P]) {
  for (const sign of [0, 0x80]) {
    const variant = Uint8Array.from(bytes);
    variant[31] = (variant[31]! & 0x7f) | sign;
    if (lenient(variant)?.isSmallOrder()) smallOrder.add(toHex(variant));
  }
}
const listed = new Set<string>(ed.smallOrderEncodings.map((e: { encoding: string }) => e.encoding));
check(listed.size === smallOrder.size && [...smallOrder].every((e) => listed.has(e)), 'smallOrderEncodings is not the full set');

// --- ed25519: generated sections -------------------------------------------

const domainNames = Object.keys(DOMAINS) as Domain[];
const domainCases: { seed: Uint8Array; domain: Domain; message: Uint8Array }[] = [
  // Each domain keeps the seed of the place it had before `hello` (third) was
  // retired, so that retiring a name leaves every other vector as it was.
  ...domainNames.map((domain, i) => ({ seed: seedOf(`${(i < 2 ? i : i + 1) % 4}`), domain, message: utf8(`sparecycles ${domain}`) })),
  { seed: seedOf('0'), domain: 'vector', message: new Uint8Array(0) },
  { seed: seedOf('1'), domain: 'vector', message: Uint8Array.from({ length: 256 }, (_, i) => i) },
  // A message that looks like another domain's prefix still signs as `vector`.
  { seed: seedOf('2'), domain: 'vector', message: utf8(DOMAINS.offer) },
];
ed.domainSeparated = domainCases.map(({ seed, domain, message }) => ({
  seed: toHex(seed),
  domain,
  message: toHex(message),
  publicKey: toHex(agreed('public key', (b) => b.ed25519PublicKey(seed))),
  signature: toHex(agreed(`${domain} signature`, (b) => signDomain(b, seed, domain, message))),
}));

/** 256-bit little-endian a + b; the carry out of the top byte is dropped. */
function add256(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const sum = a[i]! + b[i]! + carry;
    out[i] = sum & 0xff;
    carry = sum >> 8;
  }
  return out;
}

const L = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');
const IDENTITY = fromHex('01'.padEnd(64, '0'));
const ORDER_8 = fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
// The first y >= p whose encoding decodes (leniently) to a real point, so the
// only thing wrong with it is that it is not canonical.
const NON_CANONICAL = ABOVE_P.find((bytes) => lenient(bytes) && !lenient(bytes)!.isSmallOrder())!;
check(NON_CANONICAL !== undefined, 'no non-canonical point encoding found');

const seed = seedOf('edge');
const publicKey = nodeCrypto.ed25519PublicKey(seed);
const message = utf8('sparecycles edge case');
const signature = signDomain(nodeCrypto, seed, 'offer', message);
const [R, S] = [signature.subarray(0, 32), signature.subarray(32)];
const flip = (bytes: Uint8Array, index: number) => bytes.map((b, i) => (i === index ? b ^ 1 : b));

type Expect = 'KeyError' | 'SignatureError';
const edge = (reason: string, expect: Expect, over: Partial<{ publicKey: Uint8Array; domain: Domain; message: Uint8Array; signature: Uint8Array }>) => {
  const c = { publicKey, domain: 'offer' as Domain, message, signature, ...over };
  // Which raw backends would accept it: the strict layer exists for the rest.
  const signed = concatBytes(utf8(DOMAINS[c.domain]), c.message);
  const rawAccepts = BACKENDS.filter((b) => b.ed25519Verify(c.publicKey, signed, c.signature)).map((b) => b.name);
  return { reason, expect, publicKey: toHex(c.publicKey), domain: c.domain, message: toHex(c.message), signature: toHex(c.signature), rawAccepts };
};

ed.edgeCases = [
  edge('public key is 31 bytes', 'KeyError', { publicKey: publicKey.subarray(0, 31) }),
  edge('public key is 33 bytes', 'KeyError', { publicKey: concatBytes(publicKey, new Uint8Array(1)) }),
  edge('public key is the identity, with R = identity and S = 0: valid for every message to a verifier without a small-order check', 'KeyError', {
    publicKey: IDENTITY,
    signature: concatBytes(IDENTITY, new Uint8Array(32)),
  }),
  edge('public key has order 8', 'KeyError', { publicKey: ORDER_8 }),
  edge('public key encodes y >= p (non-canonical)', 'KeyError', { publicKey: NON_CANONICAL }),
  edge('signature is 63 bytes', 'SignatureError', { signature: signature.subarray(0, 63) }),
  edge('signature is 65 bytes', 'SignatureError', { signature: concatBytes(signature, new Uint8Array(1)) }),
  edge('S + L: the same signature made malleable (non-canonical S)', 'SignatureError', { signature: concatBytes(R, add256(S, L)) }),
  edge('S = L exactly, the smallest non-canonical S', 'SignatureError', { signature: concatBytes(R, L) }),
  edge('R encodes y >= p (non-canonical)', 'SignatureError', { signature: concatBytes(NON_CANONICAL, S) }),
  edge('R has order 8', 'SignatureError', { signature: concatBytes(ORDER_8, S) }),
  edge('all-zero signature (R = (i, 0), order 4)', 'SignatureError', { signature: new Uint8Array(64) }),
  edge('valid offer signature checked as a receipt', 'SignatureError', { domain: 'receipt' }),
  edge('one message bit flipped', 'SignatureError', { message: flip(message, 0) }),
  edge('message truncated by one byte', 'SignatureError', { message: message.subarray(0, message.length - 1) }),
  edge('one bit of S flipped (S still canonical)', 'SignatureError', { signature: flip(signature, 32) }),
  edge('signed by another key', 'SignatureError', { publicKey: nodeCrypto.ed25519PublicKey(seedOf('other')) }),
];

// --- X25519 -------------------------------------------------------------------

const x = JSON.parse(readFileSync(X25519_FILE, 'utf8'));

for (const v of x.rfc7748.scalarMult) {
  check(toHex(agreed(v.name, (b) => b.x25519(fromHex(v.scalar), fromHex(v.u)))) === v.output, v.name);
}
let k = fromHex(x.rfc7748.iterated.start);
let u = k;
for (let i = 1, next = 0; next < x.rfc7748.iterated.results.length; i++) {
  [k, u] = [agreed(`iteration ${i}`, (b) => b.x25519(k, u)), k];
  const want = x.rfc7748.iterated.results[next];
  if (want.iterations === i) {
    check(toHex(k) === want.k, `RFC 7748 after ${i} iterations`);
    next++;
  }
}
const dh = x.rfc7748.diffieHellman;
check(toHex(agreed('alice', (b) => b.x25519PublicKey(fromHex(dh.alicePrivate)))) === dh.alicePublic, 'RFC 7748 alice');
check(toHex(agreed('bob', (b) => b.x25519PublicKey(fromHex(dh.bobPrivate)))) === dh.bobPublic, 'RFC 7748 bob');
check(toHex(agreed('shared', (b) => b.x25519(fromHex(dh.alicePrivate), fromHex(dh.bobPublic)))) === dh.shared, 'RFC 7748 shared');
for (const { u: peer } of x.smallOrderPeerKeys) {
  for (const b of BACKENDS) {
    check(throws(() => b.x25519(seedOf('x'), fromHex(peer))), `${b.name} accepted small-order peer ${peer}`);
  }
}


const identities = ['alice', 'bob', 'carol'].map((label) => {
  const seed = seedOf(label);
  const [node, nacl] = BACKENDS.map((b) => Identity.fromSeed(b, seed));
  check(equalBytes(node!.x25519PublicKey, nacl!.x25519PublicKey), `identity ${label}`);
  // libsodium's conversion, as noble implements it, is the third opinion.
  const montgomery = ed25519.utils.toMontgomery(node!.publicKey);
  check(equalBytes(node!.x25519PublicKey, montgomery), `identity ${label}: not the Montgomery form of its ed25519 key`);
  check(equalBytes(node!.x25519PublicKey, x25519.getPublicKey(ed25519.utils.toMontgomerySecret(seed))), `identity ${label}: secret`);
  return { label, seed, identity: node!, nacl: nacl! };
});
x.identities = identities.map(({ label, seed, identity }) => ({
  label,
  seed: toHex(seed),
  ed25519PublicKey: toHex(identity.publicKey),
  x25519PublicKey: toHex(identity.x25519PublicKey),
}));
x.agreements = identities.flatMap((a, i) =>
  identities.slice(i + 1).map((b) => {
    const shared = a.identity.agree(b.identity.x25519PublicKey);
    check(equalBytes(shared, b.nacl.agree(a.nacl.x25519PublicKey)), `agreement ${a.label}/${b.label}`);
    return { a: a.label, b: b.label, shared: toHex(shared) };
  }),
);

writeFileSync(ED25519_FILE, `${JSON.stringify(ed, null, 2)}\n`);
writeFileSync(X25519_FILE, `${JSON.stringify(x, null, 2)}\n`);
console.log(`wrote ${ed.domainSeparated.length} domain vectors, ${ed.edgeCases.length} edge cases, ${x.agreements.length} agreements`);

// RFC 9180's vectors for DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
// ChaCha20-Poly1305 in base mode (test/vectors/hpke.json), every value on
// every crypto backend; round trips on inputs nobody wrote down; and every
// kind of tampering refused with a typed error.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import hpke from '../vectors/hpke.json' with { type: 'json' };
import { fromHex, toHex, utf8 } from '../../protocol/bytes.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { nodeCrypto, opensslCrypto } from '../../protocol/crypto/node.ts';
import { DecryptError, KeyError, UsageError } from '../../protocol/errors.ts';
import {
  decap,
  deriveKeyPair,
  encap,
  generateKeyPair,
  HPKE_SUITE,
  keySchedule,
  setupBaseR,
  setupBaseS,
} from '../../protocol/hpke.ts';

// Where sodium-native does not load, nodeCrypto is the OpenSSL backend: listed once either way.
const BACKENDS = [...new Set([nodeCrypto, opensslCrypto, nobleCrypto, naclCrypto])];
const v = hpke.base;
const info = fromHex(v.info);

it('the vectors are for the one suite, in base mode', () => {
  expect(hpke.source).toMatch(/RFC 9180, Appendix A\.2\.1/);
  expect({ mode: v.mode, kem: v.kem_id, kdf: v.kdf_id, aead: v.aead_id }).toEqual({ mode: 0, kem: HPKE_SUITE.kem, kdf: HPKE_SUITE.kdf, aead: HPKE_SUITE.aead });
});

describe.each(BACKENDS.map((b) => [b.name, b] as const))('RFC 9180 A.2.1 on the %s backend', (_, backend) => {
  it('DeriveKeyPair gives both key pairs', () => {
    const e = deriveKeyPair(backend, fromHex(v.ikmE));
    const r = deriveKeyPair(backend, fromHex(v.ikmR));
    expect(toHex(e.secretKey)).toBe(v.skEm);
    expect(toHex(e.publicKey)).toBe(v.pkEm);
    expect(toHex(r.secretKey)).toBe(v.skRm);
    expect(toHex(r.publicKey)).toBe(v.pkRm);
  });

  it('Encap and Decap give the shared secret, and the key schedule every derived value', () => {
    const { sharedSecret, enc } = encap(backend, fromHex(v.pkRm), fromHex(v.ikmE));
    expect(toHex(enc)).toBe(v.enc);
    expect(toHex(sharedSecret)).toBe(v.shared_secret);
    expect(toHex(decap(backend, fromHex(v.enc), fromHex(v.skRm)))).toBe(v.shared_secret);
    const s = keySchedule(sharedSecret, info);
    expect(toHex(s.keyScheduleContext)).toBe(v.key_schedule_context);
    expect(toHex(s.secret)).toBe(v.secret);
    expect(toHex(s.key)).toBe(v.key);
    expect(toHex(s.baseNonce)).toBe(v.base_nonce);
    expect(toHex(s.exporterSecret)).toBe(v.exporter_secret);
  });

  it('Seal gives every listed ciphertext at its sequence number, and Open reads it back', () => {
    const { enc, context: sender } = setupBaseS(backend, fromHex(v.pkRm), info, fromHex(v.ikmE));
    const receiver = setupBaseR(backend, enc, fromHex(v.skRm), info);
    const listed = new Map(v.encryptions.map((e) => [e.seq, e]));
    const last = Math.max(...listed.keys());
    for (let seq = 0; seq <= last; seq++) {
      const e = listed.get(seq);
      // Between listed numbers, the vectors' own pattern: "Count-<seq>" as aad.
      const aad = e ? fromHex(e.aad) : utf8(`Count-${seq}`);
      const pt = fromHex(v.encryptions[0]!.pt);
      expect(sender.seq).toBe(seq);
      const ct = sender.seal(aad, pt);
      if (e) expect(toHex(ct)).toBe(e.ct);
      expect(toHex(receiver.open(aad, ct))).toBe(toHex(pt));
    }
  });

  it('Export gives every listed value, on both ends', () => {
    const { enc, context: sender } = setupBaseS(backend, fromHex(v.pkRm), info, fromHex(v.ikmE));
    const receiver = setupBaseR(backend, enc, fromHex(v.skRm), info);
    for (const x of v.exports) {
      expect(toHex(sender.export(fromHex(x.exporter_context), x.L))).toBe(x.exported_value);
      expect(toHex(receiver.export(fromHex(x.exporter_context), x.L))).toBe(x.exported_value);
    }
  });
});

describe('round trips and refusals', () => {
  const bytes = (max: number) => fc.uint8Array({ maxLength: max });

  it('what one backend seals, every other opens', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BACKENDS), fc.constantFrom(...BACKENDS), bytes(64), bytes(300), bytes(32), (a, b, infoBytes, pt, aad) => {
        const r = generateKeyPair(b);
        const { enc, context } = setupBaseS(a, r.publicKey, infoBytes);
        const receiver = setupBaseR(b, enc, r.secretKey, infoBytes);
        expect(toHex(receiver.open(aad, context.seal(aad, pt)))).toBe(toHex(pt));
        expect(toHex(receiver.export(aad, 17))).toBe(toHex(context.export(aad, 17)));
      }),
      { numRuns: 60 },
    );
  });

  it('a flipped bit anywhere, another aad, another info, another key or another turn does not open (DecryptError)', () => {
    const r = generateKeyPair(nodeCrypto);
    const aad = utf8('aad');
    const pt = utf8('a redeem carries the secret x');
    const fresh = (what = info) => {
      const { enc, context } = setupBaseS(nodeCrypto, r.publicKey, info);
      return { ct: context.seal(aad, pt), receiver: setupBaseR(nodeCrypto, enc, r.secretKey, what), enc, context };
    };
    const { ct } = fresh();
    for (let i = 0; i < ct.length * 8; i += 7) {
      const bad = ct.slice();
      bad[i >> 3]! ^= 1 << (i & 7);
      const { receiver } = fresh();
      expect(() => receiver.open(aad, bad)).toThrow(DecryptError);
    }
    const one = fresh();
    expect(() => one.receiver.open(utf8('other'), one.ct)).toThrow(DecryptError);
    // A failed open leaves the sequence number where it was: the right input still opens.
    expect(one.receiver.seq).toBe(0);
    expect(toHex(one.receiver.open(aad, one.ct))).toBe(toHex(pt));
    // The second message cannot be opened as the first, nor the first again.
    expect(() => one.receiver.open(aad, one.ct)).toThrow(DecryptError);
    const two = fresh(utf8('other info'));
    expect(() => two.receiver.open(aad, two.ct)).toThrow(DecryptError);
    const other = generateKeyPair(nodeCrypto);
    const three = fresh();
    expect(() => setupBaseR(nodeCrypto, three.enc, other.secretKey, info).open(aad, three.ct)).toThrow(DecryptError);
    expect(() => fresh().receiver.open(aad, ct.subarray(0, 15))).toThrow(DecryptError);
  });

  it('an enc of small order or of the wrong length is a KeyError, on every backend', () => {
    const r = generateKeyPair(nodeCrypto);
    for (const backend of BACKENDS) {
      expect(() => setupBaseR(backend, new Uint8Array(32), r.secretKey, info)).toThrow(KeyError);
      // u = 1 is of small order too.
      expect(() => setupBaseR(backend, Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)), r.secretKey, info)).toThrow(KeyError);
      expect(() => setupBaseR(backend, new Uint8Array(31).fill(9), r.secretKey, info)).toThrow(KeyError);
      expect(() => setupBaseS(backend, new Uint8Array(33).fill(9), info)).toThrow(KeyError);
    }
  });

  it('misuse is a UsageError', () => {
    expect(() => deriveKeyPair(nodeCrypto, new Uint8Array(31))).toThrow(UsageError);
    const { context } = setupBaseS(nodeCrypto, generateKeyPair(nodeCrypto).publicKey, info);
    expect(() => context.export(info, 0)).toThrow(UsageError);
    expect(() => context.export(info, 255 * 32 + 1)).toThrow(UsageError);
  });
});

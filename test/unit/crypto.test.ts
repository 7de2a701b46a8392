// Every vector and edge case in test/vectors/{ed25519,x25519}.json, run
// against every backend (the Node one with libsodium's ed25519, the same with
// OpenSSL's, and tweetnacl), plus properties that hold them to the same bytes
// on inputs nobody wrote down.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import ed from '../vectors/ed25519.json' with { type: 'json' };
import x from '../vectors/x25519.json' with { type: 'json' };
import { concatBytes, fromHex, toHex, utf8 } from '../../protocol/bytes.ts';
import { DOMAINS, type Domain } from '../../protocol/constants.ts';
import { KeyError, SignatureError, type SpareCyclesError, UsageError } from '../../protocol/errors.ts';
import type { CryptoBackend } from '../../protocol/crypto/backend.ts';
import { Identity, ed25519ToX25519Public } from '../../protocol/crypto/identity.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { ed25519Library, nodeCrypto, opensslCrypto } from '../../protocol/crypto/node.ts';
import {
  ed25519PublicKeyOf,
  isValidDomainSignature,
  signDomain,
  verifyDomain,
  x25519PublicKeyOf,
  x25519SharedSecret,
} from '../../protocol/crypto/sign.ts';

const ERRORS = {
  KeyError: { type: KeyError, code: 'KEY' },
  SignatureError: { type: SignatureError, code: 'SIGNATURE' },
} as const;

function expectError(f: () => unknown, expected: keyof typeof ERRORS): void {
  let caught: unknown;
  try {
    f();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ERRORS[expected].type);
  expect((caught as SpareCyclesError).code).toBe(ERRORS[expected].code);
}

const DOMAIN_NAMES = Object.keys(DOMAINS) as Domain[];
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const signed = (domain: string, message: Uint8Array) => concatBytes(utf8(DOMAINS[domain as Domain]), message);

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const littleEndian = (bytes: Uint8Array) => BigInt(`0x${toHex(bytes.slice().reverse()) || '0'}`);

/** The 38 encodings with y in [p, 2^255): y = p + i for i < 19, with either sign bit. */
const NON_CANONICAL = Array.from({ length: 38 }, (_, n) => {
  const bytes = fromHex(`${(0xed + (n >> 1)).toString(16)}${'ff'.repeat(30)}7f`);
  bytes[31]! |= (n & 1) << 7;
  return bytes;
});

// Where sodium-native does not load, nodeCrypto is the OpenSSL backend and is listed once.
const BACKENDS = [...new Set([nodeCrypto, opensslCrypto, naclCrypto, nobleCrypto])];

it('the Node backend verifies with libsodium (its binary ships in the npm package)', () => {
  // Anywhere sodium-native has a prebuilt binary it must load, or the Node backend is quietly slower.
  expect(ed25519Library).toBe('libsodium');
  expect(nodeCrypto.name).toBe('node-libsodium');
});

describe.each(BACKENDS)('$name backend', (backend: CryptoBackend) => {
  describe('ed25519', () => {
    it.each(ed.rfc8032)('$name (raw, no domain)', (v) => {
      const seed = fromHex(v.seed);
      const message = fromHex(v.message);
      expect(toHex(backend.ed25519PublicKey(seed))).toBe(v.publicKey);
      const signature = backend.ed25519Sign(seed, message);
      expect(toHex(signature)).toBe(v.signature);
      expect(backend.ed25519Verify(fromHex(v.publicKey), message, signature)).toBe(true);
      expect(backend.ed25519Verify(fromHex(v.publicKey), concatBytes(message, new Uint8Array(1)), signature)).toBe(false);
    });

    it.each(ed.domainSeparated)('domain vector: $domain, message $message', (v) => {
      const [seed, message, publicKey] = [fromHex(v.seed), fromHex(v.message), fromHex(v.publicKey)];
      const domain = v.domain as Domain;
      expect(toHex(ed25519PublicKeyOf(backend, seed))).toBe(v.publicKey);
      const signature = signDomain(backend, seed, domain, message);
      expect(toHex(signature)).toBe(v.signature);
      expect(() => verifyDomain(backend, publicKey, domain, message, signature)).not.toThrow();
      expect(isValidDomainSignature(backend, publicKey, domain, message, signature)).toBe(true);
      // The domain really is part of what was signed: the bare message does not verify.
      expect(backend.ed25519Verify(publicKey, message, signature)).toBe(false);
      expect(backend.ed25519Verify(publicKey, signed(domain, message), signature)).toBe(true);
    });

    it.each(ed.edgeCases)('rejects with $expect: $reason', (c) => {
      const args = [fromHex(c.publicKey), c.domain as Domain, fromHex(c.message), fromHex(c.signature)] as const;
      expectError(() => verifyDomain(backend, ...args), c.expect as keyof typeof ERRORS);
      expect(isValidDomainSignature(backend, ...args)).toBe(false);
      // Pins what the bare backend would have said, to show which rules sign.ts adds.
      const raw = backend.ed25519Verify(args[0], signed(c.domain, args[2]), args[3]);
      expect(raw).toBe(c.rawAccepts.includes(backend.name));
    });

    it('the S + L edge case is a valid signature with L added to S', () => {
      const genuine = ed.edgeCases.find((c) => c.reason.startsWith('valid offer signature'))!;
      const malleable = ed.edgeCases.find((c) => c.reason.startsWith('S + L'))!;
      const [signature, tampered] = [fromHex(genuine.signature), fromHex(malleable.signature)];
      expect(isValidDomainSignature(backend, fromHex(genuine.publicKey), 'offer', fromHex(genuine.message), signature)).toBe(true);
      expect(tampered.subarray(0, 32)).toEqual(signature.subarray(0, 32));
      expect(littleEndian(tampered.subarray(32)) - littleEndian(signature.subarray(32))).toBe(L);
    });

    it.each(ed.smallOrderEncodings)('rejects small-order $note as a key and as R', ({ encoding }) => {
      const point = fromHex(encoding);
      const v = ed.domainSeparated[0]!;
      const signature = fromHex(v.signature);
      expectError(() => verifyDomain(backend, point, v.domain as Domain, fromHex(v.message), signature), 'KeyError');
      const withR = concatBytes(point, signature.subarray(32));
      expectError(() => verifyDomain(backend, fromHex(v.publicKey), v.domain as Domain, fromHex(v.message), withR), 'SignatureError');
    });

    it('rejects all 38 non-canonical encodings (y >= p) as a key and as R', () => {
      const v = ed.domainSeparated[0]!;
      const signature = fromHex(v.signature);
      for (const point of NON_CANONICAL) {
        expectError(() => verifyDomain(backend, point, v.domain as Domain, fromHex(v.message), signature), 'KeyError');
        const withR = concatBytes(point, signature.subarray(32));
        expectError(() => verifyDomain(backend, fromHex(v.publicKey), v.domain as Domain, fromHex(v.message), withR), 'SignatureError');
      }
    });

    it.each([0, 31, 33, 64])('rejects a %i-byte seed with KeyError', (length) => {
      const seed = new Uint8Array(length).fill(1);
      expectError(() => ed25519PublicKeyOf(backend, seed), 'KeyError');
      expectError(() => signDomain(backend, seed, 'vector', new Uint8Array(0)), 'KeyError');
      expectError(() => Identity.fromSeed(backend, seed), 'KeyError');
    });

    it('refuses a domain that is not in the table', () => {
      const seed = fromHex(ed.domainSeparated[0]!.seed);
      expect(() => signDomain(backend, seed, 'constructor' as Domain, new Uint8Array(0))).toThrow(UsageError);
    });

    it('returns plain Uint8Arrays', () => {
      const seed = fromHex(ed.rfc8032[0]!.seed);
      for (const out of [backend.ed25519PublicKey(seed), backend.ed25519Sign(seed, seed), backend.sha256(seed), backend.randomBytes(8)]) {
        expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype);
      }
      expect(backend.randomBytes(16).length).toBe(16);
      expect(backend.randomBytes(16)).not.toEqual(backend.randomBytes(16));
    });
  });

  describe('X25519', () => {
    it.each(x.rfc7748.scalarMult)('$name', (v) => {
      expect(toHex(x25519SharedSecret(backend, fromHex(v.scalar), fromHex(v.u)))).toBe(v.output);
    });

    it('RFC 7748 section 5.2, iterated', () => {
      let [k, u] = [fromHex(x.rfc7748.iterated.start), fromHex(x.rfc7748.iterated.start)];
      const want = new Map(x.rfc7748.iterated.results.map((r) => [r.iterations, r.k]));
      const last = Math.max(...want.keys());
      for (let i = 1; i <= last; i++) {
        [k, u] = [backend.x25519(k, u), k];
        if (want.has(i)) expect(toHex(k), `after ${i} iterations`).toBe(want.get(i));
      }
    });

    it('RFC 7748 section 6.1, both directions', () => {
      const v = x.rfc7748.diffieHellman;
      expect(toHex(x25519PublicKeyOf(backend, fromHex(v.alicePrivate)))).toBe(v.alicePublic);
      expect(toHex(x25519PublicKeyOf(backend, fromHex(v.bobPrivate)))).toBe(v.bobPublic);
      expect(toHex(x25519SharedSecret(backend, fromHex(v.alicePrivate), fromHex(v.bobPublic)))).toBe(v.shared);
      expect(toHex(x25519SharedSecret(backend, fromHex(v.bobPrivate), fromHex(v.alicePublic)))).toBe(v.shared);
    });

    it.each(x.smallOrderPeerKeys)('rejects small-order peer key: $note', ({ u }) => {
      const identity = Identity.fromSeed(backend, fromHex(x.identities[0]!.seed));
      expectError(() => identity.agree(fromHex(u)), 'KeyError');
      expectError(() => x25519SharedSecret(backend, fromHex(x.rfc7748.diffieHellman.alicePrivate), fromHex(u)), 'KeyError');
      expectError(() => backend.x25519(fromHex(x.rfc7748.diffieHellman.alicePrivate), fromHex(u)), 'KeyError');
    });

    it.each([0, 31, 33])('rejects %i-byte X25519 keys with KeyError', (length) => {
      const good = fromHex(x.rfc7748.diffieHellman.alicePrivate);
      const bad = new Uint8Array(length).fill(9);
      expectError(() => x25519SharedSecret(backend, good, bad), 'KeyError');
      expectError(() => x25519SharedSecret(backend, bad, fromHex(x.rfc7748.diffieHellman.bobPublic)), 'KeyError');
      expectError(() => x25519PublicKeyOf(backend, bad), 'KeyError');
    });
  });

  describe('Identity', () => {
    it.each(x.identities)('derives the pinned keys for $label', (v) => {
      const identity = Identity.fromSeed(backend, fromHex(v.seed));
      expect(toHex(identity.publicKey)).toBe(v.ed25519PublicKey);
      expect(toHex(identity.x25519PublicKey)).toBe(v.x25519PublicKey);
      // A peer's X25519 key follows from its ed25519 key alone.
      expect(toHex(ed25519ToX25519Public(identity.publicKey))).toBe(v.x25519PublicKey);
      expect(toHex(identity.exportSeed())).toBe(v.seed);
    });

    it.each(x.agreements)('$a and $b agree on the pinned secret', (v) => {
      const [a, b] = [v.a, v.b].map((label) => Identity.fromSeed(backend, fromHex(x.identities.find((i) => i.label === label)!.seed)));
      expect(toHex(a!.agree(b!.x25519PublicKey))).toBe(v.shared);
      expect(toHex(b!.agree(a!.x25519PublicKey))).toBe(v.shared);
    });

    it('agreement is symmetric and specific to the pair', () => {
      const [a, b, c] = [Identity.generate(backend), Identity.generate(backend), Identity.generate(backend)];
      const ab = a.agree(b.x25519PublicKey);
      expect(ab).toEqual(b.agree(a.x25519PublicKey));
      expect(ab).not.toEqual(a.agree(c.x25519PublicKey));
      expect(ab.length).toBe(32);
    });

    it('signs under a domain, verifiably only under that domain', () => {
      const identity = Identity.fromSeed(backend, fromHex(x.identities[1]!.seed));
      const message = utf8('identity signs');
      const signature = identity.sign('claim', message);
      expect(isValidDomainSignature(backend, identity.publicKey, 'claim', message, signature)).toBe(true);
      expectError(() => verifyDomain(backend, identity.publicKey, 'assign', message, signature), 'SignatureError');
    });

    it('keeps its own copy of the seed', () => {
      const seed = fromHex(x.identities[2]!.seed);
      const identity = Identity.fromSeed(backend, seed);
      seed.fill(0);
      identity.exportSeed().fill(0);
      expect(toHex(identity.exportSeed())).toBe(x.identities[2]!.seed);
    });

    it('rejects small-order and off-curve keys when converting to X25519', () => {
      expectError(() => ed25519ToX25519Public(fromHex(ed.smallOrderEncodings[0]!.encoding)), 'KeyError');
      // y = 2 is not on the curve: (y² - 1) / (d y² + 1) has no square root.
      expectError(() => ed25519ToX25519Public(fromHex('02'.padEnd(64, '0'))), 'KeyError');
    });
  });
});

describe('the backends agree', () => {
  it('on public keys and signatures for random seeds, domains and messages', () => {
    fc.assert(
      fc.property(bytes32, fc.constantFrom(...DOMAIN_NAMES), fc.uint8Array({ maxLength: 300 }), (seed, domain, message) => {
        const publicKey = ed25519PublicKeyOf(nodeCrypto, seed);
        expect(ed25519PublicKeyOf(naclCrypto, seed)).toEqual(publicKey);
        expect(ed25519PublicKeyOf(opensslCrypto, seed)).toEqual(publicKey);
        const signature = signDomain(nodeCrypto, seed, domain, message);
        expect(signDomain(naclCrypto, seed, domain, message)).toEqual(signature);
        expect(signDomain(opensslCrypto, seed, domain, message)).toEqual(signature);
        // Each backend accepts what the others signed.
        for (const backend of BACKENDS) verifyDomain(backend, publicKey, domain, message, signature);
      }),
      { numRuns: 200 },
    );
  });

  it('on rejecting a tampered signature or message', () => {
    const seed = fromHex(ed.domainSeparated[0]!.seed);
    const publicKey = ed25519PublicKeyOf(nodeCrypto, seed);
    const message = utf8('tamper with me');
    const signature = signDomain(nodeCrypto, seed, 'result', message);
    fc.assert(
      fc.property(fc.nat({ max: 64 + message.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, mask) => {
        const [s, m] = [signature.slice(), message.slice()];
        if (index < 64) s[index]! ^= mask;
        else m[index - 64]! ^= mask;
        for (const backend of BACKENDS) expect(isValidDomainSignature(backend, publicKey, 'result', m, s)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('on random keys and signatures nobody made', () => {
    fc.assert(
      fc.property(bytes32, fc.uint8Array({ minLength: 64, maxLength: 64 }), (publicKey, signature) => {
        const verdict = isValidDomainSignature(nodeCrypto, publicKey, 'vector', publicKey, signature);
        expect(isValidDomainSignature(naclCrypto, publicKey, 'vector', publicKey, signature)).toBe(verdict);
        expect(isValidDomainSignature(opensslCrypto, publicKey, 'vector', publicKey, signature)).toBe(verdict);
      }),
      { numRuns: 200 },
    );
  });

  it('on X25519 and the hashes for random inputs', () => {
    fc.assert(
      fc.property(bytes32, bytes32, fc.uint8Array({ maxLength: 300 }), (secret, peer, data) => {
        expect(x25519PublicKeyOf(naclCrypto, secret)).toEqual(x25519PublicKeyOf(nodeCrypto, secret));
        expect(x25519SharedSecret(naclCrypto, secret, peer)).toEqual(x25519SharedSecret(nodeCrypto, secret, peer));
        expect(naclCrypto.sha256(data)).toEqual(nodeCrypto.sha256(data));
        expect(naclCrypto.sha512(data)).toEqual(nodeCrypto.sha512(data));
      }),
      { numRuns: 200 },
    );
  });
});

describe('sign.ts keeps its rules whatever the backend does', () => {
  it('rejects an all-zero X25519 secret even from a backend that lets one through', () => {
    const careless: CryptoBackend = { ...naclCrypto, name: 'careless', x25519: () => new Uint8Array(32) };
    const v = x.rfc7748.diffieHellman;
    expectError(() => x25519SharedSecret(careless, fromHex(v.alicePrivate), fromHex(v.bobPublic)), 'KeyError');
  });

  it('refuses a bad key before asking the backend, which might say yes', () => {
    const calls: string[] = [];
    const spy: CryptoBackend = { ...nodeCrypto, name: 'spy', ed25519Verify: () => (calls.push('verify'), true) };
    const badKeys = ed.edgeCases.filter((e) => e.expect === 'KeyError');
    expect(badKeys.length).toBeGreaterThanOrEqual(5);
    for (const c of badKeys) {
      expectError(() => verifyDomain(spy, fromHex(c.publicKey), c.domain as Domain, fromHex(c.message), fromHex(c.signature)), 'KeyError');
    }
    expect(calls).toEqual([]);
  });
});

describe('node backend key cache', () => {
  it('still verifies a key after more distinct keys than the cache holds', () => {
    const v = ed.domainSeparated[0]!;
    const [publicKey, message, signature] = [fromHex(v.publicKey), signed(v.domain, fromHex(v.message)), fromHex(v.signature)];
    expect(nodeCrypto.ed25519Verify(publicKey, message, signature)).toBe(true);
    for (let i = 0; i < 1100; i++) {
      const other = nodeCrypto.ed25519PublicKey(nodeCrypto.sha256(utf8(`cache ${i}`)));
      expect(nodeCrypto.ed25519Verify(other, message, signature)).toBe(false);
    }
    expect(nodeCrypto.ed25519Verify(publicKey, message, signature)).toBe(true);
  });
});

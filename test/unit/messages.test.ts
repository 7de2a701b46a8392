// Messages: every vector in test/vectors/messages.json against both crypto
// backends, round trips, bounds, and a property per message type (random
// valid messages → sign → encode → decode → verify → equal).

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import vectors from '../vectors/messages.json' with { type: 'json' };
import { decode, encode } from '../../protocol/bencode.ts';
import { fromHex, toHex, utf8 } from '../../protocol/bytes.ts';
import { DOMAINS, LIMITS, MESSAGE_LIMITS, MESSAGE_TYPES, RETIRED, type MessageType } from '../../protocol/constants.ts';
import type { CryptoBackend } from '../../protocol/crypto/backend.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import {
  DecodeError,
  KeyError,
  SchemaError,
  SignatureError,
  SpareCyclesError,
  VersionError,
} from '../../protocol/errors.ts';
import {
  MESSAGES,
  MESSAGE_TYPE_NAMES,
  decodeMessage,
  encodeMessage,
  isSignedMessage,
  messageSigner,
  messageSigningBytes,
  signMessage,
  verifyMessage,
  type Message,
  type MessageOf,
  type SignedMessage,
  type UnsignedMessage,
} from '../../protocol/messages/index.ts';
import { caught } from '../support/caught.ts';
import { OUTPUT_PARTS } from '../../protocol/messages/output-part.ts';
import { TASK_FETCH } from '../../protocol/messages/task-fetch.ts';

const BACKENDS: CryptoBackend[] = [nodeCrypto, naclCrypto, nobleCrypto];
const ERRORS = { DecodeError, SchemaError, VersionError, SignatureError, KeyError } as const;
type ErrorName = keyof typeof ERRORS;

function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}


function expectError(f: () => unknown, name: ErrorName, field: string | null | undefined): SpareCyclesError {
  const error = caught(f);
  expect(error, `expected ${name}`).toBeInstanceOf(ERRORS[name]);
  expect((error as Error).constructor).toBe(ERRORS[name]);
  expect((error as SpareCyclesError).field ?? null).toBe(field ?? null);
  return error as SpareCyclesError;
}

const withoutSig = <M extends SignedMessage>(msg: M): UnsignedMessage => {
  const { sig: _sig, ...rest } = msg;
  return rest as unknown as UnsignedMessage;
};

// ---- Vectors -----------------------------------------------------------------

describe('message vectors', () => {
  it('cover every message type, and every kind of invalid input', () => {
    const types = new Set(vectors.valid.map((v) => v.type));
    expect([...types].sort()).toEqual([...MESSAGE_TYPE_NAMES].sort());
    const errors = new Set(vectors.invalid.map((v) => v.error));
    expect([...errors].sort()).toEqual(Object.keys(ERRORS).sort());
    expect(vectors.invalid.length).toBeGreaterThanOrEqual(40);
    expect(vectors.domains).toEqual(DOMAINS);
  });

  it('never give a retired type name or signing label out again', () => {
    for (const type of RETIRED.messageTypes) {
      expect(Object.keys(MESSAGE_TYPES)).not.toContain(type);
      expect(vectors.valid.map((v) => v.type)).not.toContain(type);
    }
    const labels = Object.values(DOMAINS) as string[];
    for (const [name, label] of Object.entries(RETIRED.domains)) {
      expect(Object.keys(DOMAINS)).not.toContain(name);
      expect(labels).not.toContain(label);
    }
    // A message of a retired type, exactly as it was once sent, is an unknown type now.
    const retired = vectors.invalid.find((v) => v.name === 'hello, a retired type')!;
    expectError(() => decodeMessage(fromHex(retired.hex)), 'SchemaError', 't');
  });

  describe.each(BACKENDS.map((b) => [b.name, b] as const))('valid, %s backend', (_, backend) => {
    it.each(vectors.valid.map((v) => [v.name, v] as const))('%s', (_name, v) => {
      const bytes = fromHex(v.encoded);
      const msg = decodeMessage(bytes);
      expect(msg.t).toBe(v.type);
      expect(toJson(msg)).toEqual(v.message);
      expect(toHex(encodeMessage(msg))).toBe(v.encoded);
      // Canonical all the way down: plain bencode agrees.
      expect(toHex(encode(decode(bytes)))).toBe(v.encoded);

      if (v.seed === null) {
        expect(isSignedMessage(msg)).toBe(false);
        expect(MESSAGE_TYPES[msg.t]).not.toHaveProperty('domain');
        return;
      }
      if (!isSignedMessage(msg)) throw new Error(`${v.type} should be signed`);
      const seed = fromHex(v.seed);
      expect(toHex(backend.ed25519PublicKey(seed))).toBe(v.publicKey);
      expect(toHex(messageSigner(msg))).toBe(v.publicKey);
      expect(toHex(messageSigningBytes(msg))).toBe(v.signingBytes);
      // The construction, checked without our signing layer: domain ‖ body.
      const domain = utf8(DOMAINS[(MESSAGE_TYPES[msg.t] as { domain: keyof typeof DOMAINS }).domain]);
      expect(v.signingBytes!.startsWith(toHex(domain))).toBe(true);
      expect(backend.ed25519Verify(fromHex(v.publicKey!), fromHex(v.signingBytes!), fromHex(v.signature!))).toBe(true);
      // Signing again gives the same bytes (ed25519 is deterministic).
      const again = signMessage(backend, seed, withoutSig(msg));
      expect(toHex(again.sig)).toBe(v.signature);
      expect(toHex(encodeMessage(again))).toBe(v.encoded);
      expect(() => verifyMessage(backend, msg)).not.toThrow();
    });
  });

  describe.each(BACKENDS.map((b) => [b.name, b] as const))('invalid, %s backend', (_, backend) => {
    it.each(vectors.invalid.map((v) => [v.name, v] as const))('%s', (_name, v) => {
      const bytes = fromHex(v.hex);
      const error = v.error as ErrorName;
      if (v.stage === 'decode') {
        const e = expectError(() => decodeMessage(bytes), error, v.field);
        if (error === 'VersionError') expect((e as VersionError).got).toBe((v as { got?: number }).got);
        return;
      }
      expect(v.stage).toBe('verify');
      const msg = decodeMessage(bytes);
      // Well-formed: it decodes and re-encodes to the same bytes; only the signature is wrong.
      expect(toHex(encodeMessage(msg))).toBe(v.hex);
      if (!isSignedMessage(msg)) throw new Error(`${v.name} should be a signed message`);
      expectError(() => verifyMessage(backend, msg), error, v.field);
    });
  });
});

// ---- API edges -----------------------------------------------------------------

const valid = (name: string): Message => decodeMessage(fromHex(vectors.valid.find((v) => v.name === name)!.encoded));
const seedOf = (name: string) => fromHex(vectors.valid.find((v) => v.name === name)!.seed!);

describe('message API', () => {
  it('decodeMessage honours maxBytes before parsing', () => {
    const bytes = fromHex(vectors.valid[0]!.encoded);
    expectError(() => decodeMessage(bytes, { maxBytes: bytes.length - 1 }), 'DecodeError', null);
    expect(decodeMessage(bytes, { maxBytes: bytes.length }).t).toBe(vectors.valid[0]!.type);
    expectError(() => decodeMessage(new Uint8Array(LIMITS.messageBytes + 1)), 'DecodeError', null);
  });

  it('decodeMessage returns a fresh object that does not alias the input', () => {
    const bytes = fromHex(vectors.valid.find((v) => v.type === 'claim')!.encoded);
    const msg = decodeMessage(bytes) as MessageOf<'claim'>;
    const before = toHex(msg.task);
    bytes.fill(0);
    expect(toHex(msg.task)).toBe(before);
  });

  it('encodeMessage refuses a message a peer would refuse', () => {
    const claim = valid('claim') as MessageOf<'claim'>;
    expectError(() => encodeMessage({ ...claim, want: 0 }), 'SchemaError', 'want');
    expectError(() => encodeMessage({ ...claim, worker: claim.worker.subarray(1) }), 'SchemaError', 'worker');
    const offer = valid('offer with a mint') as MessageOf<'offer'>;
    expectError(() => encodeMessage({ ...offer, name: 'lone \ud800 surrogate' }), 'SchemaError', 'name');
    const receipt = valid('receipt accepted') as MessageOf<'receipt'>;
    expectError(() => encodeMessage({ ...receipt, reason: 'lone \udc00' }), 'SchemaError', 'reason');
    // A well-formed pair is one code point, and fine.
    expect(decodeMessage(encodeMessage({ ...offer, name: 'pair \ud83d\ude00' }))).toMatchObject({ name: 'pair 😀' });
    expectError(() => encodeMessage({ ...offer, t: 'bogus' } as unknown as Message), 'SchemaError', 't');
    const { sig: _, ...unsigned } = offer;
    expectError(() => encodeMessage(unsigned as unknown as Message), 'SchemaError', 'sig');
  });

  it('signMessage refuses a seed that is not the signer field’s key', () => {
    const claim = valid('claim') as MessageOf<'claim'>;
    expectError(() => signMessage(nodeCrypto, seedOf('offer with a mint'), withoutSig(claim)), 'KeyError', 'worker');
    expectError(() => signMessage(nodeCrypto, new Uint8Array(31), withoutSig(claim)), 'KeyError', 'seed');
    expect(signMessage(nodeCrypto, seedOf('claim'), withoutSig(claim))).toEqual(claim);
  });

  it('signMessage validates before signing', () => {
    const claim = valid('claim') as MessageOf<'claim'>;
    expectError(() => signMessage(nodeCrypto, seedOf('claim'), { ...withoutSig(claim), want: 2000 } as UnsignedMessage), 'SchemaError', 'want');
  });

  it('unsigned types cannot be signed or verified', () => {
    const redeem = valid('redeem to an account');
    expect(isSignedMessage(redeem)).toBe(false);
    expectError(() => messageSigningBytes(redeem as unknown as SignedMessage), 'SchemaError', 't');
    expectError(() => verifyMessage(nodeCrypto, redeem as unknown as SignedMessage), 'SchemaError', 't');
  });

  it('a signature binds every field: changing any one breaks it', () => {
    const result = valid('result inline, with blinded outputs') as MessageOf<'result'>;
    verifyMessage(nodeCrypto, result);
    const changes: Partial<MessageOf<'result'>>[] = [
      { unit: 8 },
      { runMs: 1235 },
      { lease: new Uint8Array(16) },
      { output: utf8('other') },
      { blinded: result.blinded!.slice(0, 1) },
      { blinded: undefined },
    ];
    for (const change of changes) {
      expectError(() => verifyMessage(nodeCrypto, { ...result, ...change }), 'SignatureError', 'sig');
    }
  });

  it('a receipt’s signature covers its pay, down to each proof', () => {
    const receipt = valid('receipt accepted, with pay') as MessageOf<'receipt'>;
    verifyMessage(nodeCrypto, receipt);
    const paid = receipt.paid!;
    const [first, second] = paid.signatures;
    const changes: MessageOf<'receipt'>['paid'][] = [
      undefined,
      { ...paid, keyset: new Uint8Array(8) },
      { ...paid, signatures: [first!] },
      { ...paid, signatures: [second!, first!] },
      { ...paid, signatures: [{ ...first!, e: second!.e }, second!] },
      { ...paid, signatures: [first!, { ...second!, s: first!.s }] },
    ];
    for (const change of changes) {
      expectError(() => verifyMessage(nodeCrypto, { ...receipt, paid: change }), 'SignatureError', 'sig');
    }
  });

  it('the table, the constants and the schemas agree', () => {
    for (const type of MESSAGE_TYPE_NAMES) {
      const spec = MESSAGES[type];
      const row: { version: number; domain?: string } = MESSAGE_TYPES[type];
      expect(spec.type).toBe(type);
      expect(spec.version).toBe(row.version);
      expect(spec.domain).toBe(row.domain);
      expect(spec.signer === undefined).toBe(row.domain === undefined);
    }
  });
});

// ---- Bounds ----------------------------------------------------------------------

const MAX = Number.MAX_SAFE_INTEGER;
const filled = (length: number, byte = 0xab) => new Uint8Array(length).fill(byte);
const seedA = filled(32, 7);
const keyA = nodeCrypto.ed25519PublicKey(seedA);

describe('bounds', () => {
  it('the largest offer fits in a BEP 44 value (< 1000 bytes)', () => {
    const offer = signMessage(nodeCrypto, seedA, {
      t: 'offer', v: 1, task: filled(20), name: 'é'.repeat(MESSAGE_LIMITS.nameBytes / 2), price: MAX,
      left: LIMITS.unitsPerTask, units: LIMITS.unitsPerTask, deadline: MAX, mode: 'immediate',
      mint: `https://${'m'.repeat(MESSAGE_LIMITS.mintUrlBytes - 8)}`, rendezvous: { relay: filled(32), mailbox: filled(32) },
      seq: MAX, tasker: keyA,
    });
    const bytes = encodeMessage(offer);
    expect(bytes.length).toBeLessThan(1000);
    expect(bytes.length).toBeLessThanOrEqual(MESSAGE_LIMITS.offerBytes);
    // And one byte more on any bounded field is refused.
    expectError(() => encodeMessage({ ...offer, name: `${offer.name}x` }), 'SchemaError', 'name');
    expectError(() => encodeMessage({ ...offer, mint: `${offer.mint}x` }), 'SchemaError', 'mint');
    expectError(() => encodeMessage({ ...offer, rendezvous: { relay: filled(32), mailbox: filled(33) } }), 'SchemaError', 'rendezvous.mailbox');
  });

  it('the largest relay answers fit in a message, and the largest descriptor in a BEP 44 value', () => {
    const offers = Array.from({ length: MESSAGE_LIMITS.relayOffers }, () => filled(MESSAGE_LIMITS.offerBytes));
    const answer = encodeMessage({ t: 'relay-offers', v: 1, id: filled(8), offers });
    expect(answer.length).toBeLessThanOrEqual(LIMITS.messageBytes);
    expectError(() => encodeMessage({ t: 'relay-offers', v: 1, id: filled(8), offers: [...offers, filled(1)] }), 'SchemaError', 'offers');
    const descriptor = signMessage(nodeCrypto, seedA, {
      t: 'relay-descriptor', v: 2, key: keyA, ws: `wss://${'r'.repeat(MESSAGE_LIMITS.relayUrlBytes - 6)}`,
      onion: Array.from({ length: MESSAGE_LIMITS.relayOnionKeys }, (_, i) => ({ epoch: 2 ** 32 - 2 + i, key: filled(32) })),
      exit: {
        mints: Array.from({ length: MESSAGE_LIMITS.relayExitMints }, (_, i) => `https://${String(i).repeat(MESSAGE_LIMITS.relayMintOriginBytes - 8)}`),
        mailboxes: true,
      },
      family: 'f'.repeat(MESSAGE_LIMITS.relayFamilyBytes), agent: 'a'.repeat(MESSAGE_LIMITS.agentBytes), ts: MAX,
    });
    expect(encodeMessage(descriptor).length).toBeLessThan(1000);
    expectError(() => encodeMessage({ ...descriptor, ws: `${descriptor.ws}x` }), 'SchemaError', 'ws');
    // Every request a browser may send fits the relay's frame limit.
    const request = encodeMessage({ t: 'relay-get', v: 1, id: filled(8), key: keyA });
    expect(request.length).toBeLessThanOrEqual(MESSAGE_LIMITS.relayRequestBytes);
  });

  it('the largest result and assign fit in a message', () => {
    const result = signMessage(nodeCrypto, seedA, {
      t: 'result', v: 2, task: filled(20), unit: LIMITS.unitsPerTask - 1, lease: filled(16), hash: filled(32),
      runMs: LIMITS.unitTimeMs, output: filled(LIMITS.inlineOutputBytes),
      blinded: Array.from({ length: MESSAGE_LIMITS.outputs }, () => filled(32)), worker: keyA,
    });
    expect(encodeMessage(result).length).toBeLessThanOrEqual(LIMITS.messageBytes);
    expectError(() => encodeMessage({ ...result, output: filled(LIMITS.inlineOutputBytes + 1) }), 'SchemaError', 'output');
    expectError(() => encodeMessage({ ...result, blinded: [...result.blinded!, filled(32)] }), 'SchemaError', 'blinded');

    const units = Array.from({ length: LIMITS.unitsPerMessage }, (_, i) => ({ unit: LIMITS.unitsPerTask - 1 - i, lease: filled(16) }));
    const assign = signMessage(nodeCrypto, seedA, {
      t: 'assign', v: 1, task: filled(20), units, deadline: MAX, worker: filled(32), tasker: keyA,
    });
    expect(encodeMessage(assign).length).toBeLessThanOrEqual(LIMITS.messageBytes);
    expectError(() => encodeMessage({ ...assign, units: [...units, { unit: 0, lease: filled(16) }] }), 'SchemaError', 'units');
  });

  it('the largest credit messages fit in a message, and one signature more is refused', () => {
    const signature = { amount: MAX, C: filled(32), e: filled(32), s: filled(32) };
    const signatures = Array.from({ length: MESSAGE_LIMITS.outputs }, () => signature);
    const paymentOk: MessageOf<'payment-ok'> = { t: 'payment-ok', v: 1, id: filled(16), keyset: filled(8), signatures };
    expect(encodeMessage(paymentOk).length).toBeLessThanOrEqual(LIMITS.messageBytes);
    expectError(() => encodeMessage({ ...paymentOk, signatures: [...signatures, signature] }), 'SchemaError', 'signatures');

    const swap: MessageOf<'redeem-ok'> = { t: 'redeem-ok', v: 1, id: filled(16), amount: MAX, keyset: filled(8), signatures };
    expect(encodeMessage(swap).length).toBeLessThanOrEqual(LIMITS.messageBytes);
    expectError(() => encodeMessage({ ...swap, signatures: [...signatures, signature] }), 'SchemaError', 'signatures');

    const receipt = signMessage(nodeCrypto, seedA, {
      t: 'receipt', v: 1, task: filled(20), unit: LIMITS.unitsPerTask - 1, lease: filled(16), status: 'accepted',
      reason: 'r'.repeat(MESSAGE_LIMITS.reasonBytes), paid: { keyset: filled(8), signatures }, tasker: keyA,
    });
    expect(encodeMessage(receipt).length).toBeLessThanOrEqual(LIMITS.messageBytes);
    expectError(
      () => encodeMessage({ ...receipt, paid: { keyset: filled(8), signatures: [...signatures, signature] } }),
      'SchemaError',
      'paid.signatures',
    );

    const redeem: MessageOf<'redeem'> = {
      t: 'redeem', v: 1, id: filled(16), keyset: filled(8),
      proofs: Array.from({ length: MESSAGE_LIMITS.outputs }, (_, i) => ({ amount: MAX, x: filled(32, i), C: filled(32) })),
      outputs: Array.from({ length: MESSAGE_LIMITS.outputs }, () => ({ amount: MAX, B: filled(32) })),
    };
    expect(encodeMessage(redeem).length).toBeLessThanOrEqual(LIMITS.messageBytes);
  });
});

// ---- Properties --------------------------------------------------------------------

const bytesArb = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
const safeNat = (max = MAX) => fc.integer({ min: 0, max });
const amountArb = fc.integer({ min: 1, max: MAX });
const PRINTABLE = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));

const ANY_CHAR = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);

/** Any Unicode text, cut (at a code point) to at most `maxBytes` of UTF-8. */
function textArb(maxBytes: number, minChars = 0): fc.Arbitrary<string> {
  return fc
    .string({ unit: ANY_CHAR, minLength: minChars, maxLength: maxBytes })
    .map((s) => {
      let out = '';
      let used = 0;
      for (const ch of s) {
        const n = utf8(ch).length;
        if (used + n > maxBytes) break;
        out += ch;
        used += n;
      }
      return out;
    })
    .filter((s) => [...s].length >= minChars);
}

const blindedOutputArb = fc.record({ amount: amountArb, B: bytesArb(32) });
const blindSignatureArb = fc.record({ amount: amountArb, C: bytesArb(32), e: bytesArb(32), s: bytesArb(32) });
const listOf = <T>(arb: fc.Arbitrary<T>, min: number, max: number) => fc.array(arb, { minLength: min, maxLength: max });
const signaturesArb = listOf(blindSignatureArb, 1, MESSAGE_LIMITS.outputs);
/** An account is an ed25519 key in lowercase hex. */
const accountArb = bytesArb(32).map((seed) => toHex(nodeCrypto.ed25519PublicKey(seed)));

/** Random valid unsigned messages of each signed type, signed by `key`. */
const SIGNED_ARBS: { [T in MessageType]?: (key: Uint8Array) => fc.Arbitrary<UnsignedMessage> } = {
  offer: (key) =>
    fc.integer({ min: 1, max: LIMITS.unitsPerTask }).chain((units) =>
      fc.record(
        {
          t: fc.constant('offer' as const), v: fc.constant(1 as const), task: bytesArb(20),
          name: textArb(MESSAGE_LIMITS.nameBytes, 1), price: safeNat(), left: safeNat(units), units: fc.constant(units),
          deadline: safeNat(), mode: fc.constantFrom('immediate' as const, 'batch' as const),
          mint: fc
            .tuple(fc.constantFrom('http://', 'https://'), fc.string({ unit: PRINTABLE, minLength: 1, maxLength: MESSAGE_LIMITS.mintUrlBytes - 8 }))
            .map(([a, b]) => a + b),
          rendezvous: fc.record({ relay: bytesArb(32), mailbox: bytesArb(32) }),
          seq: safeNat(), tasker: fc.constant(key),
        },
        { requiredKeys: ['t', 'v', 'task', 'name', 'price', 'left', 'units', 'deadline', 'mode', 'seq', 'tasker'] },
      ),
    ),
  claim: (key) =>
    fc.record({
      t: fc.constant('claim' as const), v: fc.constant(1 as const), task: bytesArb(20),
      want: fc.integer({ min: 1, max: LIMITS.unitsPerMessage }), worker: fc.constant(key), nonce: bytesArb(16),
    }),
  assign: (key) =>
    fc.record({
      t: fc.constant('assign' as const), v: fc.constant(1 as const), task: bytesArb(20),
      units: fc.uniqueArray(fc.record({ unit: safeNat(LIMITS.unitsPerTask - 1), lease: bytesArb(16) }), {
        minLength: 1, maxLength: LIMITS.unitsPerMessage, selector: (u) => u.unit,
      }),
      deadline: safeNat(), worker: bytesArb(32), tasker: fc.constant(key),
    }),
  result: (key) =>
    fc
      .tuple(
        fc.record(
          {
            t: fc.constant('result' as const), v: fc.constant(2 as const), task: bytesArb(20),
            unit: safeNat(LIMITS.unitsPerTask - 1), lease: bytesArb(16), hash: bytesArb(32), runMs: safeNat(LIMITS.unitTimeMs),
            blinded: listOf(bytesArb(32), 1, MESSAGE_LIMITS.outputs), worker: fc.constant(key),
          },
          { requiredKeys: ['t', 'v', 'task', 'unit', 'lease', 'hash', 'runMs', 'worker'] },
        ),
        fc.oneof(
          fc.record({ output: fc.uint8Array({ maxLength: LIMITS.inlineOutputBytes }) }),
          fc.record({ torrent: bytesArb(20), key: bytesArb(32) }),
          fc.record({ parts: fc.integer({ min: 2, max: OUTPUT_PARTS.maxParts }) }),
        ),
      )
      .map(([base, out]) => ({ ...base, ...out })),
  receipt: (key) =>
    fc.record(
      {
        t: fc.constant('receipt' as const), v: fc.constant(1 as const), task: bytesArb(20),
        unit: safeNat(LIMITS.unitsPerTask - 1), lease: bytesArb(16),
        status: fc.constantFrom('accepted' as const, 'rejected' as const, 'pending' as const),
        reason: textArb(MESSAGE_LIMITS.reasonBytes), paid: fc.record({ keyset: bytesArb(8), signatures: signaturesArb }),
        tasker: fc.constant(key),
      },
      { requiredKeys: ['t', 'v', 'task', 'unit', 'lease', 'status', 'tasker'] },
    ),
  payment: (key) =>
    fc.record({
      t: fc.constant('payment' as const), v: fc.constant(1 as const), id: bytesArb(16), keyset: bytesArb(8),
      outputs: listOf(blindedOutputArb, 1, MESSAGE_LIMITS.outputs), tasker: fc.constant(key), ts: safeNat(),
    }),
  deposit: (key) =>
    fc.record({
      t: fc.constant('deposit' as const), v: fc.constant(2 as const), id: bytesArb(16), mint: bytesArb(16), account: accountArb, amount: amountArb,
      admin: fc.constant(key), ts: safeNat(),
    }),
  ack: (key) =>
    fc.record({
      t: fc.constant('ack' as const), v: fc.constant(1 as const), task: bytesArb(20),
      leases: fc.uniqueArray(bytesArb(16), { minLength: 1, maxLength: LIMITS.unitsPerMessage, selector: (l) => toHex(l) }),
      worker: fc.constant(key),
    }),
  'relay-descriptor': (key) =>
    fc.record({
      t: fc.constant('relay-descriptor' as const), v: fc.constant(2 as const), key: fc.constant(key),
      ws: fc
        .tuple(fc.constantFrom('ws://', 'wss://'), fc.string({ unit: PRINTABLE, minLength: 1, maxLength: MESSAGE_LIMITS.relayUrlBytes - 6 }))
        .map(([a, b]) => a + b),
      onion: fc
        .uniqueArray(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 0, maxLength: MESSAGE_LIMITS.relayOnionKeys })
        .chain((epochs) => fc.tuple(...epochs.sort((a, b) => a - b).map((epoch) => bytesArb(32).map((k) => ({ epoch, key: k }))))),
      exit: fc.record({
        mints: fc.uniqueArray(fc.stringMatching(/^https?:\/\/[a-z0-9.]{1,40}(:[0-9]{1,5})?$/), {
          maxLength: MESSAGE_LIMITS.relayExitMints,
          selector: (m) => m.toLowerCase(),
        }),
        mailboxes: fc.boolean(),
      }),
      family: fc.string({ unit: fc.constantFrom(...'abcdefgh-_.0123'), minLength: 1, maxLength: MESSAGE_LIMITS.relayFamilyBytes }),
      agent: fc.string({ unit: PRINTABLE, minLength: 1, maxLength: MESSAGE_LIMITS.agentBytes }),
      ts: safeNat(),
    }, { requiredKeys: ['t', 'v', 'key', 'ws', 'onion', 'exit', 'agent', 'ts'] }),
};

const relayIdArb = bytesArb(8);
const offerBytesArb = fc.uint8Array({ maxLength: MESSAGE_LIMITS.offerBytes });
const UPPER = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789');

/** A block of an object of `size` bytes: its index and its exact bytes. */
const blockOf = (size: number) =>
  fc.integer({ min: 0, max: Math.ceil(size / TASK_FETCH.blockBytes) - 1 }).chain((block) =>
    fc.record({ block: fc.constant(block), data: bytesArb(Math.min(TASK_FETCH.blockBytes, size - block * TASK_FETCH.blockBytes)) }),
  );
const pieceArb = fc.option(fc.integer({ min: 0, max: TASK_FETCH.maxPieces - 1 }), { nil: undefined });
const withPiece = <M extends object>(m: M & { piece: number | undefined }) => {
  const { piece, ...rest } = m;
  return piece === undefined ? rest : { ...rest, piece };
};

const BEARER_ARBS: { [T in MessageType]?: fc.Arbitrary<Message> } = {
  // Parts are full but the last; a full part is 48 KiB and slow to compare, so few runs draw one.
  'output-part': fc
    .tuple(bytesArb(20), bytesArb(16), fc.integer({ min: 2, max: OUTPUT_PARTS.maxParts }), fc.integer({ min: 0, max: 39 }).map((n) => n === 0), fc.uint8Array({ minLength: 1, maxLength: 64 }))
    .map(([task, lease, count, full, tail]) => ({
      t: 'output-part' as const, v: 1 as const, task, lease, count,
      index: full ? 0 : count - 1,
      data: full ? new Uint8Array(OUTPUT_PARTS.partBytes).fill(tail[0]!) : tail,
    })),
  'task-get': fc
    .record({ t: fc.constant('task-get' as const), v: fc.constant(1 as const), task: bytesArb(20), piece: pieceArb, block: safeNat(TASK_FETCH.maxPieceBytes / TASK_FETCH.blockBytes - 1) })
    .map(withPiece),
  'task-block': fc
    .tuple(
      bytesArb(20),
      pieceArb,
      fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 64 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 * TASK_FETCH.blockBytes }) }),
    )
    .chain(([task, piece, size]) => blockOf(size).map((b) => withPiece({ t: 'task-block' as const, v: 1 as const, task, piece, size, ...b }))),
  'task-refused': fc
    .record({
      t: fc.constant('task-refused' as const), v: fc.constant(1 as const), task: bytesArb(20), piece: pieceArb,
      block: safeNat(TASK_FETCH.maxPieceBytes / TASK_FETCH.blockBytes - 1),
      code: fc.constantFrom('NOT_FOUND', 'BUSY', 'RATE_LIMITED', 'TOO_LARGE'), reason: textArb(MESSAGE_LIMITS.reasonBytes),
    })
    .map(withPiece),
  'relay-find': fc.record(
    { t: fc.constant('relay-find' as const), v: fc.constant(1 as const), id: relayIdArb, max: fc.integer({ min: 1, max: MESSAGE_LIMITS.relayOffers }) },
    { requiredKeys: ['t', 'v', 'id'] },
  ),
  'relay-offers': fc.record({
    t: fc.constant('relay-offers' as const), v: fc.constant(1 as const), id: relayIdArb,
    offers: listOf(offerBytesArb, 0, MESSAGE_LIMITS.relayOffers),
  }),
  'relay-get': fc.record({ t: fc.constant('relay-get' as const), v: fc.constant(1 as const), id: relayIdArb, key: bytesArb(32) }),
  'relay-item': fc.oneof(
    fc.record({ t: fc.constant('relay-item' as const), v: fc.constant(1 as const), id: relayIdArb }),
    fc.record({
      t: fc.constant('relay-item' as const), v: fc.constant(1 as const), id: relayIdArb, offer: offerBytesArb, seq: safeNat(),
      sig: bytesArb(64),
    }),
  ),
  'relay-error': fc.record(
    {
      t: fc.constant('relay-error' as const), v: fc.constant(1 as const), id: relayIdArb,
      code: fc.tuple(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), fc.string({ unit: UPPER, maxLength: MESSAGE_LIMITS.relayCodeBytes - 1 })).map(([a, b]) => a + b),
      message: textArb(MESSAGE_LIMITS.relayMessageBytes),
    },
    { requiredKeys: ['t', 'v', 'code', 'message'] },
  ),
  'payment-ok': fc.record({
    t: fc.constant('payment-ok' as const), v: fc.constant(1 as const), id: bytesArb(16), keyset: bytesArb(8),
    signatures: signaturesArb,
  }),
  'redeem-ok': fc
    .tuple(
      fc.record({ t: fc.constant('redeem-ok' as const), v: fc.constant(1 as const), id: bytesArb(16), amount: amountArb }),
      fc.oneof(fc.record({ to: accountArb }), fc.record({ keyset: bytesArb(8), signatures: signaturesArb })),
    )
    .map(([base, answer]) => ({ ...base, ...answer })),
  redeem: fc
    .tuple(
      fc.record({
        t: fc.constant('redeem' as const), v: fc.constant(1 as const), id: bytesArb(16), keyset: bytesArb(8),
        proofs: fc.uniqueArray(fc.record({ amount: amountArb, x: bytesArb(32), C: bytesArb(32) }), {
          minLength: 1, maxLength: MESSAGE_LIMITS.outputs, selector: (p) => toHex(p.x),
        }),
      }),
      fc.oneof(
        fc.record({ to: accountArb }),
        fc.record({ outputs: listOf(blindedOutputArb, 1, MESSAGE_LIMITS.outputs) }),
      ),
    )
    .map(([base, dest]) => ({ ...base, ...dest })),
};

const signerArb = bytesArb(32).map((seed) => ({ seed, key: nodeCrypto.ed25519PublicKey(seed) }));
const backendArb = fc.constantFrom(...BACKENDS);

describe('properties', () => {
  it('there is an arbitrary for every message type', () => {
    const covered = [...Object.keys(SIGNED_ARBS), ...Object.keys(BEARER_ARBS)].sort();
    expect(covered).toEqual([...MESSAGE_TYPE_NAMES].sort());
    for (const type of Object.keys(SIGNED_ARBS)) expect(MESSAGE_TYPES[type as MessageType]).toHaveProperty('domain');
  });

  it.each(Object.entries(SIGNED_ARBS))('%s: sign → encode → decode → verify gives the same message', (type, make) => {
    const arb = signerArb.chain(({ seed, key }) => make!(key).map((msg) => ({ seed, msg })));
    fc.assert(
      fc.property(arb, backendArb, ({ seed, msg }, backend) => {
        const signed = signMessage(backend, seed, msg);
        expect(signed.t).toBe(type);
        const bytes = encodeMessage(signed);
        const decoded = decodeMessage(bytes);
        expect(decoded).toEqual({ ...msg, sig: signed.sig });
        expect(encodeMessage(decoded)).toEqual(bytes);
        if (!isSignedMessage(decoded)) throw new Error('expected a signed message');
        verifyMessage(backend, decoded);
        // The other backend agrees on the signature bytes.
        const other = backend === nodeCrypto ? naclCrypto : nodeCrypto;
        expect(signMessage(other, seed, msg).sig).toEqual(signed.sig);
      }),
      { numRuns: 30 },
    );
  });

  it.each(Object.entries(BEARER_ARBS))('%s: encode → decode gives the same message and bytes', (type, arb) => {
    fc.assert(
      fc.property(arb!, (msg) => {
        const bytes = encodeMessage(msg);
        const decoded = decodeMessage(bytes);
        expect(decoded.t).toBe(type);
        expect(decoded).toEqual(msg);
        expect(encodeMessage(decoded)).toEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });
});

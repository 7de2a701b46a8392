// The mint's sealed requests (protocol/oblivious.ts) against
// test/vectors/oblivious.json on every crypto backend: key configurations,
// inner messages and their padding, request and response encapsulation, and
// every refused input with its typed error.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import vectors from '../vectors/oblivious.json' with { type: 'json' };
import { fromHex, toHex, utf8 } from '../../protocol/bytes.ts';
import { OBLIVIOUS } from '../../protocol/constants.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { nodeCrypto, opensslCrypto } from '../../protocol/crypto/node.ts';
import { DecodeError, DecryptError, KeyError, SpareCyclesError, UsageError } from '../../protocol/errors.ts';
import {
  decapsulateRequest,
  decapsulateResponse,
  decodeInnerRequest,
  decodeInnerResponse,
  decodeKeyConfig,
  decodeKeyConfigs,
  encapsulateRequest,
  encapsulateResponse,
  encodeInnerRequest,
  encodeInnerResponse,
  encodeKeyConfig,
  encodeKeyConfigs,
  obliviousKeyFromSeed,
} from '../../protocol/oblivious.ts';

const BACKENDS = [...new Set([nodeCrypto, opensslCrypto, nobleCrypto, naclCrypto])];
const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (error) {
    if (error instanceof SpareCyclesError) return error.code;
    throw error;
  }
  return 'none';
};

describe.each(BACKENDS.map((b) => [b.name, b] as const))('the vectors on the %s backend', (_, backend) => {
  const key = obliviousKeyFromSeed(backend, vectors.key.keyId, fromHex(vectors.key.seed));

  it('derives the key and encodes its configuration', () => {
    expect(toHex(key.secretKey)).toBe(vectors.key.secretKey);
    expect(toHex(key.publicKey)).toBe(vectors.key.publicKey);
    expect(toHex(encodeKeyConfig(key))).toBe(vectors.key.keyConfig);
    expect(toHex(encodeKeyConfigs([key]))).toBe(vectors.key.ohttpKeys);
    expect(decodeKeyConfigs(fromHex(vectors.key.ohttpKeys))).toEqual([{ keyId: key.keyId, publicKey: key.publicKey }]);
  });

  it.each(vectors.valid.map((v) => [v.name, v] as const))('%s: byte for byte', (_, v) => {
    const request = { method: v.request.method as 'GET' | 'POST', path: v.request.path, body: fromHex(v.request.body) };
    expect(toHex(encodeInnerRequest(request, v.padBlock))).toBe(v.innerRequest);
    expect(toHex(encodeInnerResponse({ status: v.response.status, body: fromHex(v.response.body) }, v.padBlock))).toBe(v.innerResponse);
    expect(decodeInnerRequest(fromHex(v.innerRequest))).toEqual(request);
    expect(decodeInnerResponse(fromHex(v.innerResponse))).toEqual({ status: v.response.status, body: fromHex(v.response.body) });
    if (v.padBlock > 1) expect(fromHex(v.innerRequest).length % v.padBlock).toBe(0);

    const { encapsulated, context } = encapsulateRequest(backend, key, fromHex(v.innerRequest), fromHex(v.ikmE));
    expect(toHex(encapsulated)).toBe(v.encapsulatedRequest);
    expect(toHex(context.secret)).toBe(v.responseSecret);
    const opened = decapsulateRequest(backend, key, encapsulated);
    expect(toHex(opened.request)).toBe(v.innerRequest);
    expect(toHex(encapsulateResponse(backend, opened.context, fromHex(v.innerResponse), fromHex(v.responseNonce)))).toBe(v.encapsulatedResponse);
    expect(toHex(decapsulateResponse(context, fromHex(v.encapsulatedResponse)))).toBe(v.innerResponse);
  });

  it.each(vectors.invalidRequests.map((v) => [v.name, v] as const))('refuses a request: %s', (_, v) => {
    expect(codeOf(() => decapsulateRequest(backend, key, fromHex(v.bytes)))).toBe(v.code);
  });
});

it.each(vectors.invalidInnerRequests.map((v) => [v.name, v] as const))('refuses an inner request: %s', (_, v) => {
  expect(codeOf(() => decodeInnerRequest(fromHex(v.bytes)))).toBe(v.code);
});

describe('answers and configurations', () => {
  const key = obliviousKeyFromSeed(nodeCrypto, 1, nodeCrypto.randomBytes(32));
  const v = vectors.valid[0]!;

  it('an answer opens only with its own request\'s context: tampered, cut short or another request\'s is refused', () => {
    const a = encapsulateRequest(nodeCrypto, key, utf8('a'));
    const b = encapsulateRequest(nodeCrypto, key, utf8('b'));
    const answer = encapsulateResponse(nodeCrypto, decapsulateRequest(nodeCrypto, key, a.encapsulated).context, utf8('for a'));
    expect(decapsulateResponse(a.context, answer)).toEqual(utf8('for a'));
    expect(() => decapsulateResponse(b.context, answer)).toThrow(DecryptError);
    for (const at of [0, 31, 32, answer.length - 1]) {
      const bad = answer.slice();
      bad[at]! ^= 0x80;
      expect(() => decapsulateResponse(a.context, bad)).toThrow(DecryptError);
    }
    expect(() => decapsulateResponse(a.context, answer.subarray(0, 47))).toThrow(DecodeError);
    // Two sealings of one request differ: the ephemeral key and the response nonce are fresh.
    expect(toHex(encapsulateRequest(nodeCrypto, key, utf8('a')).encapsulated)).not.toBe(toHex(a.encapsulated));
  });

  it('a key configuration for another suite is a KeyError; a malformed one a DecodeError', () => {
    const config = fromHex(vectors.key.keyConfig);
    const p256 = config.slice();
    p256[2] = 0x10;
    expect(() => decodeKeyConfig(p256)).toThrow(KeyError);
    const gcm = config.slice();
    gcm[config.length - 1] = 1;
    expect(() => decodeKeyConfig(gcm)).toThrow(KeyError);
    expect(() => decodeKeyConfig(config.subarray(0, config.length - 1))).toThrow(DecodeError);
    expect(() => decodeKeyConfigs(fromHex(vectors.key.ohttpKeys).subarray(0, 10))).toThrow(DecodeError);
    // A list with another suite first still yields ours; a list with only others yields a KeyError.
    const list = (...configs: Uint8Array[]) => Uint8Array.from(configs.flatMap((c) => [c.length >> 8, c.length & 0xff, ...c]));
    expect(decodeKeyConfigs(list(Uint8Array.of(1, 0, 0x10, 9, 9), config))).toHaveLength(1);
    expect(() => decodeKeyConfigs(list(gcm))).toThrow(KeyError);
  });

  it('inner messages pad to the block, any body up to the limit, and refuse what is over it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.constantFrom('/v1/redeem', '/v1/accounts/' + 'a'.repeat(64)), fc.integer({ min: 100, max: 599 }), (body, path, status) => {
        const request = encodeInnerRequest({ method: 'POST', path, body });
        expect(request.length % OBLIVIOUS.padBlock).toBe(0);
        expect(decodeInnerRequest(request)).toEqual({ method: 'POST', path, body });
        const response = encodeInnerResponse({ status, body });
        expect(response.length % OBLIVIOUS.padBlock).toBe(0);
        expect(decodeInnerResponse(response)).toEqual({ status, body });
      }),
      { numRuns: 300 },
    );
    const full = new Uint8Array(OBLIVIOUS.bodyBytes);
    expect(decodeInnerRequest(encodeInnerRequest({ method: 'POST', path: '/v1/redeem', body: full })).body.length).toBe(OBLIVIOUS.bodyBytes);
    expect(() => encodeInnerRequest({ method: 'POST', path: '/v1/redeem', body: new Uint8Array(OBLIVIOUS.bodyBytes + 1) })).toThrow(UsageError);
    expect(() => encodeInnerRequest({ method: 'GET', path: 'v1/keys', body: new Uint8Array(0) })).toThrow(UsageError);
    // The largest inner request still seals and opens.
    const big = encapsulateRequest(nodeCrypto, key, encodeInnerRequest({ method: 'POST', path: '/v1/redeem', body: full }));
    expect(decodeInnerRequest(decapsulateRequest(nodeCrypto, key, big.encapsulated).request).body.length).toBe(full.length);
    expect(v.padBlock).toBe(OBLIVIOUS.padBlock);
  });
});

// Regenerates test/vectors/oblivious.json: the mint's sealed requests
// (protocol/oblivious.ts, RFC 9458 over RFC 9180 with X25519, HKDF-SHA256
// and ChaCha20-Poly1305): a key configuration and its application/ohttp-keys
// list, inner requests and answers with their padding, encapsulated requests
// and answers with every intermediate value, and inputs that must be refused,
// each with the error it must raise. Deterministic: every key, ephemeral and
// nonce comes from fixed labels. The answer's key and nonce are also derived
// with node:crypto's HKDF and the answer sealed with its ChaCha20-Poly1305;
// they must agree byte for byte, or nothing is written.
//
//   npx tsx scripts/generate-vectors-oblivious.ts

import { createCipheriv, hkdfSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { concatBytes, equalBytes, toHex, utf8 } from '../protocol/bytes.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import {
  decapsulateRequest,
  decapsulateResponse,
  decodeInnerRequest,
  decodeInnerResponse,
  encapsulateRequest,
  encapsulateResponse,
  encodeInnerRequest,
  encodeInnerResponse,
  encodeKeyConfig,
  encodeKeyConfigs,
  obliviousKeyFromSeed,
  type ObliviousKey,
} from '../protocol/oblivious.ts';
import { det } from './vector-kit.ts';


function fail(message: string): never {
  throw new SpareCyclesError('INTERNAL', message);
}

const seed = det('oblivious/key-seed', 32);
const key: ObliviousKey = obliviousKeyFromSeed(nodeCrypto, 7, seed);
const otherKey = obliviousKeyFromSeed(nodeCrypto, 7, det('oblivious/other-key-seed', 32));

/** The answer sealed by node:crypto alone, from the exported secret: RFC 9458 §4.4 written out once more. */
function nodeResponse(secret: Uint8Array, enc: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Uint8Array {
  const salt = concatBytes(enc, nonce);
  const aeadKey = new Uint8Array(hkdfSync('sha256', secret, salt, 'key', 32));
  // hkdfSync runs extract and expand together; the nonce is the same PRK expanded under "nonce".
  const aeadNonce = new Uint8Array(hkdfSync('sha256', secret, salt, 'nonce', 12));
  const cipher = createCipheriv('chacha20-poly1305', aeadKey, aeadNonce, { authTagLength: 16 });
  cipher.setAAD(new Uint8Array(0), { plaintextLength: plain.length });
  return new Uint8Array(concatBytes(cipher.update(plain), cipher.final(), cipher.getAuthTag()));
}

const exchanges = [
  {
    name: 'a redeem (POST /v1/redeem)',
    request: { method: 'POST' as const, path: '/v1/redeem', body: utf8(JSON.stringify({ message: 'ZDE6dGU=' })) },
    response: { status: 409, body: utf8('{"error":{"code":"ALREADY_SPENT","message":"proofs[0]: spent","field":"proofs[0]"}}') },
  },
  {
    name: 'the keysets (GET /v1/keys), empty body, unpadded',
    request: { method: 'GET' as const, path: '/v1/keys', body: new Uint8Array(0) },
    response: { status: 200, body: utf8('{"keysets":[]}') },
    block: 1,
  },
  {
    name: 'a body past one padding block',
    request: { method: 'POST' as const, path: '/v1/state', body: det('oblivious/body', 700) },
    response: { status: 200, body: det('oblivious/answer', 1500) },
  },
];

const valid = exchanges.map((x, i) => {
  const inner = encodeInnerRequest(x.request, x.block);
  const innerResponse = encodeInnerResponse(x.response, x.block);
  const ikmE = det(`oblivious/ikmE/${i}`, 32);
  const responseNonce = det(`oblivious/response-nonce/${i}`, 32);
  const { encapsulated, context } = encapsulateRequest(nodeCrypto, key, inner, ikmE);
  const opened = decapsulateRequest(nodeCrypto, key, encapsulated);
  if (!equalBytes(opened.request, inner) || !equalBytes(opened.context.secret, context.secret)) fail(`${x.name}: does not open to itself`);
  const decoded = decodeInnerRequest(inner);
  if (decoded.path !== x.request.path || !equalBytes(decoded.body, x.request.body)) fail(`${x.name}: the inner request does not read back`);
  const sealed = encapsulateResponse(nodeCrypto, opened.context, innerResponse, responseNonce);
  if (!equalBytes(sealed, concatBytes(responseNonce, nodeResponse(context.secret, context.enc, responseNonce, innerResponse)))) {
    fail(`${x.name}: node:crypto seals the answer otherwise`);
  }
  if (!equalBytes(decapsulateResponse(context, sealed), innerResponse)) fail(`${x.name}: the answer does not open`);
  if (decodeInnerResponse(innerResponse).status !== x.response.status) fail(`${x.name}: the inner answer does not read back`);
  return {
    name: x.name,
    request: { method: x.request.method, path: x.request.path, body: toHex(x.request.body) },
    response: { status: x.response.status, body: toHex(x.response.body) },
    padBlock: x.block ?? 512,
    innerRequest: toHex(inner),
    innerResponse: toHex(innerResponse),
    ikmE: toHex(ikmE),
    enc: toHex(context.enc),
    responseSecret: toHex(context.secret),
    encapsulatedRequest: toHex(encapsulated),
    responseNonce: toHex(responseNonce),
    encapsulatedResponse: toHex(sealed),
  };
});

const request = valid[0]!;
const sealedRequest = Buffer.from(request.encapsulatedRequest, 'hex');
const flip = (bytes: Uint8Array, at: number) => {
  const out = Uint8Array.from(bytes);
  out[at]! ^= 1;
  return out;
};
const withHeader = (patch: (b: Uint8Array) => void) => {
  const out = Uint8Array.from(sealedRequest);
  patch(out);
  return out;
};
const innerOf = (fields: string) => utf8(fields);

const invalidRequests = [
  { name: 'a flipped bit in the ciphertext', bytes: flip(sealedRequest, sealedRequest.length - 20), code: 'DECRYPT' },
  { name: 'a flipped bit in the tag', bytes: flip(sealedRequest, sealedRequest.length - 1), code: 'DECRYPT' },
  { name: 'a flipped bit in enc', bytes: flip(sealedRequest, 7 + 5), code: 'DECRYPT' },
  { name: 'sealed to another key under the same id', bytes: encapsulateRequest(nodeCrypto, otherKey, Buffer.from(request.innerRequest, 'hex'), det('oblivious/ikmE/other', 32)).encapsulated, code: 'DECRYPT' },
  { name: 'another key id', bytes: withHeader((b) => (b[0] = 8)), code: 'KEY' },
  { name: 'another AEAD (AES-128-GCM)', bytes: withHeader((b) => (b[6] = 1)), code: 'KEY' },
  { name: 'another KEM (P-256)', bytes: withHeader((b) => (b[2] = 0x10)), code: 'KEY' },
  { name: 'an enc of small order', bytes: withHeader((b) => b.fill(0, 7, 39)), code: 'KEY' },
  { name: 'cut short before the tag ends', bytes: sealedRequest.subarray(0, 7 + 32 + 15), code: 'DECODE' },
  { name: 'one byte', bytes: Uint8Array.of(7), code: 'DECODE' },
];
for (const c of invalidRequests) {
  try {
    decapsulateRequest(nodeCrypto, key, c.bytes);
    fail(`${c.name}: expected ${c.code}, it opened`);
  } catch (error) {
    if (!(error instanceof SpareCyclesError) || error.code !== c.code) fail(`${c.name}: expected ${c.code}, got ${String(error)}`);
  }
}

const invalidInner = [
  { name: 'version 2', bytes: innerOf('d1:b0:1:m3:GET1:p8:/v1/keys1:vi2ee'), code: 'VERSION' },
  { name: 'no version', bytes: innerOf('d1:b0:1:m3:GET1:p8:/v1/keyse'), code: 'VERSION' },
  { name: 'a method the mint has no route for', bytes: innerOf('d1:b0:1:m6:DELETE1:p8:/v1/keys1:vi1ee'), code: 'SCHEMA' },
  { name: 'a path without its slash', bytes: innerOf('d1:b0:1:m3:GET1:p7:v1/keys1:vi1ee'), code: 'SCHEMA' },
  { name: 'an unknown field', bytes: innerOf('d1:b0:1:m3:GET1:p8:/v1/keys1:vi1e1:xi0ee'), code: 'SCHEMA' },
  { name: 'padding that is not zeros', bytes: innerOf('d1:b0:1:m3:GET1:p8:/v1/keys3:pad1:x1:vi1ee'), code: 'SCHEMA' },
  { name: 'keys out of order (not canonical)', bytes: innerOf('d1:m3:GET1:b0:1:p8:/v1/keys1:vi1ee'), code: 'DECODE' },
  { name: 'not bencode', bytes: innerOf('{"method":"GET"}'), code: 'DECODE' },
];
for (const c of invalidInner) {
  try {
    decodeInnerRequest(c.bytes);
    fail(`${c.name}: expected ${c.code}, it read`);
  } catch (error) {
    if (!(error instanceof SpareCyclesError) || error.code !== c.code) fail(`${c.name}: expected ${c.code}, got ${String(error)}`);
  }
}

const hex = (cases: { name: string; bytes: Uint8Array; code: string }[]) => cases.map((c) => ({ name: c.name, bytes: toHex(c.bytes), code: c.code }));

const out = {
  description:
    'Sealed requests to the mint (protocol/oblivious.ts): RFC 9458 key configuration, request and response encapsulation over RFC 9180 base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, around bencoded inner messages. Written by scripts/generate-vectors-oblivious.ts; every answer is also sealed with node:crypto alone. All bytes are hex.',
  key: {
    keyId: key.keyId,
    seed: toHex(seed),
    secretKey: toHex(key.secretKey),
    publicKey: toHex(key.publicKey),
    keyConfig: toHex(encodeKeyConfig(key)),
    ohttpKeys: toHex(encodeKeyConfigs([key])),
  },
  valid,
  invalidRequests: hex(invalidRequests),
  invalidInnerRequests: hex(invalidInner),
};

const path = fileURLToPath(new URL('../test/vectors/oblivious.json', import.meta.url));
writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`wrote ${valid.length} exchanges, ${invalidRequests.length} refused requests and ${invalidInner.length} refused inner requests to ${path}\n`);

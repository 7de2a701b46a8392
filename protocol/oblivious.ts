// Requests sealed to the mint, so that whoever carries them (an exit relay,
// a proxy) sees only ciphertext and sizes. The outer layer is Oblivious HTTP
// (RFC 9458) byte for byte, for the one HPKE suite of protocol/hpke.ts: the
// mint's key configuration (§3), request encapsulation (§4.3) and response
// encapsulation (§4.4), with RFC 9458's media-type labels in the HPKE info
// and the response secret. docs/mint-api.md describes it for other clients.
//
// The inner message is not Binary HTTP (RFC 9292): the mint's API is a
// handful of routes with small bodies, so it is a bencoded dictionary of our
// own with a version, `{ v, m, p, b, pad }` for a request and `{ v, s, b,
// pad }` for an answer, with bounds. A bencoded dictionary starts with `d`
// (0x64), which no Binary HTTP message does (its framing indicator is 0 to
// 3), so the two can never be read as each other. Both are padded with zeros
// to a multiple of OBLIVIOUS.padBlock, so that a size says less about what
// is inside.

import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { decode, encode, isDict } from './bencode.ts';
import { concatBytes, utf8 } from './bytes.ts';
import { OBLIVIOUS } from './constants.ts';
import type { CryptoBackend } from './crypto/backend.ts';
import { DecodeError, DecryptError, KeyError, SchemaError, UsageError, VersionError } from './errors.ts';
import { deriveKeyPair, HPKE_SIZES, setupBaseR, setupBaseS, type HpkeKeyPair } from './hpke.ts';
import { bytes, int, oneOf, optional, struct, text } from './schema.ts';

export { OBLIVIOUS };

/** key_id ‖ kem_id ‖ kdf_id ‖ aead_id: the header of an encapsulated request. */
export const REQUEST_HEADER_BYTES = 7;
/** The response nonce: max(Nn, Nk) of the AEAD. */
export const RESPONSE_NONCE_BYTES = Math.max(HPKE_SIZES.nonce, HPKE_SIZES.key);
/** Largest inner message: a full body, a path, the padding and the fields around them. */
export const MAX_INNER_BYTES = OBLIVIOUS.bodyBytes + OBLIVIOUS.pathBytes + 2 * OBLIVIOUS.padBlock + 64;
/** Largest encapsulated request and response. */
export const MAX_REQUEST_BYTES = REQUEST_HEADER_BYTES + HPKE_SIZES.enc + MAX_INNER_BYTES + HPKE_SIZES.tag;
export const MAX_RESPONSE_BYTES = RESPONSE_NONCE_BYTES + MAX_INNER_BYTES + HPKE_SIZES.tag;

// ---- Key configuration (RFC 9458 §3) --------------------------------------------

/** A key configuration: the mint's HPKE public key, its one-byte id, and the suite it takes. */
export interface KeyConfig {
  keyId: number;
  publicKey: Uint8Array;
}

/** The mint's side: its key configuration's secret. */
export interface ObliviousKey extends KeyConfig {
  secretKey: Uint8Array;
}

/** The key pair a 32-byte seed stands for (RFC 9180 DeriveKeyPair), under `keyId`. The mint keeps the seed. */
export function obliviousKeyFromSeed(backend: CryptoBackend, keyId: number, seed: Uint8Array): ObliviousKey {
  checkKeyId(keyId);
  const pair: HpkeKeyPair = deriveKeyPair(backend, seed);
  return { keyId, publicKey: pair.publicKey, secretKey: pair.secretKey };
}

function checkKeyId(keyId: number): void {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 255) throw new UsageError(`keyId: expected 0 to 255, got ${keyId}`);
}

function u16(value: number): Uint8Array {
  return Uint8Array.of(value >> 8, value & 0xff);
}

function readU16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

/** key_id(1) ‖ kem_id(2) ‖ public_key(32) ‖ symmetric_algorithms_length(2) = 4 ‖ kdf_id(2) ‖ aead_id(2). */
export function encodeKeyConfig(config: KeyConfig): Uint8Array {
  checkKeyId(config.keyId);
  if (config.publicKey.length !== HPKE_SIZES.publicKey) throw new UsageError(`publicKey: expected ${HPKE_SIZES.publicKey} bytes, got ${config.publicKey.length}`);
  return concatBytes(Uint8Array.of(config.keyId), u16(OBLIVIOUS.kem), config.publicKey, u16(4), u16(OBLIVIOUS.kdf), u16(OBLIVIOUS.aead));
}

/**
 * One key configuration. DecodeError if it is malformed; KeyError if it is
 * well formed but not for our suite (another KEM, or a list of symmetric
 * algorithms without ours), since then there is nothing we can seal to.
 */
export function decodeKeyConfig(bytes: Uint8Array): KeyConfig {
  if (!(bytes instanceof Uint8Array) || bytes.length < 3) throw new DecodeError(`key config: expected at least 3 bytes, got ${bytes?.length}`);
  const kem = readU16(bytes, 1);
  if (kem !== OBLIVIOUS.kem) throw new KeyError(`key config: expected KEM 0x${OBLIVIOUS.kem.toString(16).padStart(4, '0')}, got 0x${kem.toString(16).padStart(4, '0')}`, { field: 'kem' });
  const fixed = 3 + HPKE_SIZES.publicKey + 2;
  if (bytes.length < fixed) throw new DecodeError(`key config: expected at least ${fixed} bytes, got ${bytes.length}`);
  const algorithmsLength = readU16(bytes, 3 + HPKE_SIZES.publicKey);
  if (algorithmsLength < 4 || algorithmsLength % 4 !== 0 || bytes.length !== fixed + algorithmsLength) {
    throw new DecodeError(`key config: expected a list of (kdf, aead) pairs filling its ${bytes.length - fixed} bytes, got a length of ${algorithmsLength}`);
  }
  let ours = false;
  for (let at = fixed; at < bytes.length; at += 4) ours ||= readU16(bytes, at) === OBLIVIOUS.kdf && readU16(bytes, at + 2) === OBLIVIOUS.aead;
  if (!ours) throw new KeyError('key config: expected it to offer HKDF-SHA256 with ChaCha20-Poly1305, got other algorithms only', { field: 'suite' });
  return { keyId: bytes[0]!, publicKey: bytes.slice(3, 3 + HPKE_SIZES.publicKey) };
}

/** application/ohttp-keys: each configuration behind its 2-byte length. */
export function encodeKeyConfigs(configs: readonly KeyConfig[]): Uint8Array {
  return concatBytes(...configs.flatMap((c) => {
    const one = encodeKeyConfig(c);
    return [u16(one.length), one];
  }));
}

/** The configurations of application/ohttp-keys that are for our suite, in order; KeyError if none is. */
export function decodeKeyConfigs(bytes: Uint8Array): KeyConfig[] {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new DecodeError('key configs: expected at least one, got no bytes');
  if (bytes.length > 64 * 1024) throw new DecodeError(`key configs: expected at most 65536 bytes, got ${bytes.length}`);
  const found: KeyConfig[] = [];
  for (let at = 0; at < bytes.length;) {
    if (at + 2 > bytes.length) throw new DecodeError(`key configs: a length cut short at byte ${at}`);
    const length = readU16(bytes, at);
    if (at + 2 + length > bytes.length) throw new DecodeError(`key configs: expected ${length} bytes at byte ${at + 2}, got ${bytes.length - at - 2}`);
    try {
      found.push(decodeKeyConfig(bytes.subarray(at + 2, at + 2 + length)));
    } catch (error) {
      // Another suite is someone else's to use; a malformed entry is not.
      if (!(error instanceof KeyError)) throw error;
    }
    at += 2 + length;
  }
  if (found.length === 0) throw new KeyError('key configs: expected one for X25519, HKDF-SHA256 and ChaCha20-Poly1305, got none', { field: 'suite' });
  return found;
}

// ---- Encapsulation (RFC 9458 §4.3, §4.4) -----------------------------------------

/** What one end keeps of a request to seal or open its answer: the request's enc and the exported response secret. */
export interface ResponseContext {
  readonly enc: Uint8Array;
  readonly secret: Uint8Array;
}

function requestHeader(keyId: number): Uint8Array {
  return concatBytes(Uint8Array.of(keyId), u16(OBLIVIOUS.kem), u16(OBLIVIOUS.kdf), u16(OBLIVIOUS.aead));
}

function requestInfo(header: Uint8Array): Uint8Array {
  return concatBytes(utf8(OBLIVIOUS.requestLabel), Uint8Array.of(0), header);
}

/**
 * hdr ‖ enc ‖ Seal("", request) under the configuration's key, and the
 * context its answer will be opened with. `ikmE` fixes the ephemeral key, for
 * test vectors only.
 */
export function encapsulateRequest(backend: CryptoBackend, config: KeyConfig, request: Uint8Array, ikmE?: Uint8Array): { encapsulated: Uint8Array; context: ResponseContext } {
  const header = requestHeader(config.keyId);
  const { enc, context } = setupBaseS(backend, config.publicKey, requestInfo(header), ikmE);
  const ct = context.seal(new Uint8Array(0), request);
  return {
    encapsulated: concatBytes(header, enc, ct),
    context: { enc, secret: context.export(utf8(OBLIVIOUS.responseLabel), HPKE_SIZES.key) },
  };
}

/**
 * The request inside, and the context to seal its answer with. DecodeError
 * for bytes of the wrong size, KeyError for another key id or suite (or an
 * enc of small order), DecryptError for a ciphertext that does not open.
 */
export function decapsulateRequest(backend: CryptoBackend, key: ObliviousKey, encapsulated: Uint8Array): { request: Uint8Array; context: ResponseContext } {
  const least = REQUEST_HEADER_BYTES + HPKE_SIZES.enc + HPKE_SIZES.tag;
  if (!(encapsulated instanceof Uint8Array) || encapsulated.length < least || encapsulated.length > MAX_REQUEST_BYTES) {
    throw new DecodeError(`encapsulated request: expected ${least} to ${MAX_REQUEST_BYTES} bytes, got ${encapsulated?.length}`);
  }
  const keyId = encapsulated[0]!;
  if (keyId !== key.keyId) throw new KeyError(`key id: expected ${key.keyId}, got ${keyId}: fetch the key configuration again`, { field: 'keyId' });
  const kem = readU16(encapsulated, 1);
  const kdf = readU16(encapsulated, 3);
  const aead = readU16(encapsulated, 5);
  if (kem !== OBLIVIOUS.kem || kdf !== OBLIVIOUS.kdf || aead !== OBLIVIOUS.aead) {
    throw new KeyError(`suite: expected (0x0020, 0x0001, 0x0003), got (${[kem, kdf, aead].map((n) => `0x${n.toString(16).padStart(4, '0')}`).join(', ')})`, { field: 'suite' });
  }
  const header = encapsulated.subarray(0, REQUEST_HEADER_BYTES);
  const enc = encapsulated.slice(REQUEST_HEADER_BYTES, REQUEST_HEADER_BYTES + HPKE_SIZES.enc);
  const context = setupBaseR(backend, enc, key.secretKey, requestInfo(header));
  const request = context.open(new Uint8Array(0), encapsulated.subarray(REQUEST_HEADER_BYTES + HPKE_SIZES.enc));
  return { request, context: { enc, secret: context.export(utf8(OBLIVIOUS.responseLabel), HPKE_SIZES.key) } };
}

/** The response's AEAD key and nonce: HKDF with salt enc ‖ response_nonce over the exported secret. */
function responseAead(context: ResponseContext, responseNonce: Uint8Array) {
  const prk = extract(sha256, context.secret, concatBytes(context.enc, responseNonce));
  return chacha20poly1305(expand(sha256, prk, utf8('key'), HPKE_SIZES.key), expand(sha256, prk, utf8('nonce'), HPKE_SIZES.nonce));
}

/** response_nonce ‖ Seal(response). `responseNonce` is fresh randomness unless given (test vectors only). */
export function encapsulateResponse(backend: CryptoBackend, context: ResponseContext, response: Uint8Array, responseNonce?: Uint8Array): Uint8Array {
  const nonce = responseNonce ?? backend.randomBytes(RESPONSE_NONCE_BYTES);
  if (nonce.length !== RESPONSE_NONCE_BYTES) throw new UsageError(`responseNonce: expected ${RESPONSE_NONCE_BYTES} bytes, got ${nonce.length}`);
  return concatBytes(nonce, responseAead(context, nonce).encrypt(response));
}

/** The response inside. DecodeError for bytes of the wrong size, DecryptError for a ciphertext that does not open. */
export function decapsulateResponse(context: ResponseContext, encapsulated: Uint8Array): Uint8Array {
  const least = RESPONSE_NONCE_BYTES + HPKE_SIZES.tag;
  if (!(encapsulated instanceof Uint8Array) || encapsulated.length < least || encapsulated.length > MAX_RESPONSE_BYTES) {
    throw new DecodeError(`encapsulated response: expected ${least} to ${MAX_RESPONSE_BYTES} bytes, got ${encapsulated?.length}`);
  }
  const nonce = encapsulated.subarray(0, RESPONSE_NONCE_BYTES);
  try {
    return responseAead(context, nonce).decrypt(encapsulated.subarray(RESPONSE_NONCE_BYTES));
  } catch (cause) {
    throw new DecryptError('encapsulated response: does not open under this request\'s context (tampered, or the answer to another request)', { cause });
  }
}

// ---- The inner messages -------------------------------------------------------------

export const INNER_METHODS = ['GET', 'POST'] as const;

/** A request to one of the mint's routes. */
export interface InnerRequest {
  method: (typeof INNER_METHODS)[number];
  /** The route's path, as in plain HTTP (`/v1/redeem`); no query. */
  path: string;
  /** The body plain HTTP would carry; empty for a GET. */
  body: Uint8Array;
}

/** The mint's answer: the status and body plain HTTP would carry. */
export interface InnerResponse {
  status: number;
  body: Uint8Array;
}

// Under two blocks: a length whose digits do not fit pads to the block after.
const pad = optional(bytes({ max: 2 * OBLIVIOUS.padBlock }));
const requestSchema = struct({
  v: int(OBLIVIOUS.version, OBLIVIOUS.version),
  m: oneOf(INNER_METHODS),
  p: text({ max: OBLIVIOUS.pathBytes, min: 1, pattern: /^\/[\x21-\x7e]*$/ }),
  b: bytes({ max: OBLIVIOUS.bodyBytes }),
  pad,
});
const responseSchema = struct({
  v: int(OBLIVIOUS.version, OBLIVIOUS.version),
  s: int(100, 599),
  b: bytes({ max: OBLIVIOUS.bodyBytes }),
  pad,
});

/** The dictionary's bytes padded with a `pad` field of zeros to a multiple of `block` (a `pad` key sorts after b, m, p and s). */
function padded(fields: Record<string, string | number | Uint8Array>, block: number): Uint8Array {
  const bare = encode(fields);
  if (block <= 1 || bare.length % block === 0) return bare;
  // The field costs `3:pad`, the digits of its length and `:`, then the zeros.
  for (let target = Math.ceil((bare.length + 7) / block) * block; ; target += block) {
    const room = target - bare.length - 6;
    for (let digits = 1; digits <= 6; digits++) {
      const n = room - digits;
      if (n >= 0 && String(n).length === digits) return encode({ ...fields, pad: new Uint8Array(n) });
    }
  }
}

function checkPadding(zeros: Uint8Array | undefined): void {
  if (zeros?.some((b) => b !== 0)) throw new SchemaError('pad: expected zero bytes', { field: 'pad' });
}

/** The version is read before anything else, so that an inner message of another version is a VersionError, not a schema's complaint. */
function readDict(bytes: Uint8Array, what: string) {
  const value = decode(bytes, { maxBytes: MAX_INNER_BYTES });
  if (!isDict(value)) throw new SchemaError(`${what}: expected a dictionary`);
  const v = value.v;
  if (v !== OBLIVIOUS.version) throw new VersionError(`${what}: expected version ${OBLIVIOUS.version}, got ${typeof v === 'number' ? v : 'none'}`, v, { field: 'v' });
  return value;
}

/** What we are about to send must pass the checks the other end applies: anything else is the caller's mistake. */
function checkOwn(read: () => unknown): void {
  try {
    read();
  } catch (cause) {
    throw new UsageError(`inner message: ${(cause as Error).message}`, { cause });
  }
}

export function encodeInnerRequest(request: InnerRequest, block: number = OBLIVIOUS.padBlock): Uint8Array {
  const fields = { v: OBLIVIOUS.version, m: request.method, p: request.path, b: request.body };
  checkOwn(() => requestSchema.read(decode(encode(fields), { maxBytes: MAX_INNER_BYTES }), 'request'));
  return padded(fields, Math.min(block, OBLIVIOUS.padBlock));
}

/** DecodeError, VersionError or SchemaError for anything but a canonical inner request within its bounds. */
export function decodeInnerRequest(bytes: Uint8Array): InnerRequest {
  const r = requestSchema.read(readDict(bytes, 'request'), 'request');
  checkPadding(r.pad);
  return { method: r.m, path: r.p, body: r.b };
}

export function encodeInnerResponse(response: InnerResponse, block: number = OBLIVIOUS.padBlock): Uint8Array {
  const fields = { v: OBLIVIOUS.version, s: response.status, b: response.body };
  checkOwn(() => responseSchema.read(decode(encode(fields), { maxBytes: MAX_INNER_BYTES }), 'response'));
  return padded(fields, Math.min(block, OBLIVIOUS.padBlock));
}

export function decodeInnerResponse(bytes: Uint8Array): InnerResponse {
  const r = responseSchema.read(readDict(bytes, 'response'), 'response');
  checkPadding(r.pad);
  return { status: r.s, body: r.b };
}

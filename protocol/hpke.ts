// Hybrid Public Key Encryption (RFC 9180), base mode, for one suite:
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305. It is what
// seals a request to the mint under the mint's published key
// (protocol/oblivious.ts), so that whoever carries it (an exit relay) sees
// only ciphertext.
//
// One suite only, on purpose: the suite is fixed by the mint's key
// configuration, and every extra algorithm would be one more thing to
// negotiate and to test. X25519 comes from the CryptoBackend, so every
// backend is held to the RFC's vectors (test/vectors/hpke.json); HKDF from
// @noble/hashes and ChaCha20-Poly1305 from @noble/ciphers, as noise.ts does.
// PSK and auth modes are left out: the mint authenticates nobody by key.

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8 } from './bytes.ts';
import type { CryptoBackend } from './crypto/backend.ts';
import { DecryptError, KeyError, UsageError } from './errors.ts';

/** The one suite, by its RFC 9180 identifiers. */
export const HPKE_SUITE = { kem: 0x0020, kdf: 0x0001, aead: 0x0003 } as const;

/** Sizes in bytes: Nsecret, Nenc, Npk, Nsk of the KEM; Nk, Nn, the tag of the AEAD; Nh of the KDF. */
export const HPKE_SIZES = { secret: 32, enc: 32, publicKey: 32, secretKey: 32, key: 32, nonce: 12, tag: 16, hash: 32 } as const;

const MODE_BASE = 0x00;
const VERSION_LABEL = utf8('HPKE-v1');
const EMPTY = new Uint8Array(0);

/** The last sequence number we seal or open under: the RFC allows 2^96-1; a JS number counts exactly to 2^53-1. */
export const HPKE_MAX_SEQ = Number.MAX_SAFE_INTEGER;

function i2osp(value: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0 && v > 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

const KEM_SUITE_ID = concatBytes(utf8('KEM'), i2osp(HPKE_SUITE.kem, 2));
const HPKE_SUITE_ID = concatBytes(utf8('HPKE'), i2osp(HPKE_SUITE.kem, 2), i2osp(HPKE_SUITE.kdf, 2), i2osp(HPKE_SUITE.aead, 2));

function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, concatBytes(VERSION_LABEL, suiteId, utf8(label), ikm), salt);
}

function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  return expand(sha256, prk, concatBytes(i2osp(length, 2), VERSION_LABEL, suiteId, utf8(label), info), length);
}

export interface HpkeKeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

function checkLength(bytes: Uint8Array, length: number, field: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new KeyError(`${field}: expected ${length} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`, { field });
  }
}

/** DeriveKeyPair(ikm) of DHKEM(X25519): the key pair a seed of at least 32 bytes stands for. */
export function deriveKeyPair(backend: CryptoBackend, ikm: Uint8Array): HpkeKeyPair {
  if (!(ikm instanceof Uint8Array) || ikm.length < HPKE_SIZES.secretKey) {
    throw new UsageError(`ikm: expected at least ${HPKE_SIZES.secretKey} bytes of key material`);
  }
  const prk = labeledExtract(KEM_SUITE_ID, EMPTY, 'dkp_prk', ikm);
  const secretKey = labeledExpand(KEM_SUITE_ID, prk, 'sk', EMPTY, HPKE_SIZES.secretKey);
  return { secretKey, publicKey: backend.x25519PublicKey(secretKey) };
}

/** A fresh key pair from the backend's randomness. */
export function generateKeyPair(backend: CryptoBackend): HpkeKeyPair {
  return deriveKeyPair(backend, backend.randomBytes(HPKE_SIZES.secretKey));
}

/** DH then ExtractAndExpand; the backend throws KeyError for an all-zero result (a small-order key), as RFC 9180 §7.1.4 requires. */
function kemSharedSecret(backend: CryptoBackend, secretKey: Uint8Array, peer: Uint8Array, enc: Uint8Array, pkR: Uint8Array): Uint8Array {
  const dh = backend.x25519(secretKey, peer);
  const prk = labeledExtract(KEM_SUITE_ID, EMPTY, 'eae_prk', dh);
  return labeledExpand(KEM_SUITE_ID, prk, 'shared_secret', concatBytes(enc, pkR), HPKE_SIZES.secret);
}

/**
 * Encap(pkR): a fresh ephemeral key (or the one `ikmE` derives, for test
 * vectors only) and the shared secret it makes with pkR.
 */
export function encap(backend: CryptoBackend, pkR: Uint8Array, ikmE?: Uint8Array): { sharedSecret: Uint8Array; enc: Uint8Array } {
  checkLength(pkR, HPKE_SIZES.publicKey, 'pkR');
  const ephemeral = ikmE ? deriveKeyPair(backend, ikmE) : generateKeyPair(backend);
  const enc = ephemeral.publicKey;
  return { sharedSecret: kemSharedSecret(backend, ephemeral.secretKey, pkR, enc, pkR), enc };
}

/** Decap(enc, skR). KeyError for an enc of the wrong length or of small order. */
export function decap(backend: CryptoBackend, enc: Uint8Array, skR: Uint8Array): Uint8Array {
  checkLength(enc, HPKE_SIZES.enc, 'enc');
  checkLength(skR, HPKE_SIZES.secretKey, 'skR');
  return kemSharedSecret(backend, skR, enc, enc, backend.x25519PublicKey(skR));
}

export interface KeySchedule {
  readonly keyScheduleContext: Uint8Array;
  readonly secret: Uint8Array;
  readonly key: Uint8Array;
  readonly baseNonce: Uint8Array;
  readonly exporterSecret: Uint8Array;
}

/** KeySchedule in base mode (no PSK): what a context is made of. */
export function keySchedule(sharedSecret: Uint8Array, info: Uint8Array): KeySchedule {
  const pskIdHash = labeledExtract(HPKE_SUITE_ID, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = labeledExtract(HPKE_SUITE_ID, EMPTY, 'info_hash', info);
  const keyScheduleContext = concatBytes(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  const secret = labeledExtract(HPKE_SUITE_ID, sharedSecret, 'secret', EMPTY);
  return {
    keyScheduleContext,
    secret,
    key: labeledExpand(HPKE_SUITE_ID, secret, 'key', keyScheduleContext, HPKE_SIZES.key),
    baseNonce: labeledExpand(HPKE_SUITE_ID, secret, 'base_nonce', keyScheduleContext, HPKE_SIZES.nonce),
    exporterSecret: labeledExpand(HPKE_SUITE_ID, secret, 'exp', keyScheduleContext, HPKE_SIZES.hash),
  };
}

/**
 * One end of an HPKE context. Each Seal (sender) or Open (receiver) uses the
 * next sequence number; a message that does not open leaves the number where
 * it was, as RFC 9180 §5.2 says.
 */
abstract class Context {
  readonly #key: Uint8Array;
  readonly #baseNonce: Uint8Array;
  readonly #exporterSecret: Uint8Array;
  #seq = 0;

  constructor(schedule: KeySchedule) {
    this.#key = schedule.key;
    this.#baseNonce = schedule.baseNonce;
    this.#exporterSecret = schedule.exporterSecret;
  }

  /** The sequence number the next Seal or Open uses. */
  get seq(): number {
    return this.#seq;
  }

  /** ComputeNonce(seq): base_nonce XOR I2OSP(seq, Nn). */
  protected nonce(): Uint8Array {
    if (this.#seq > HPKE_MAX_SEQ) throw new UsageError(`an HPKE context seals or opens at most ${HPKE_MAX_SEQ} messages`);
    const seq = i2osp(this.#seq, HPKE_SIZES.nonce);
    return this.#baseNonce.map((b, i) => b ^ seq[i]!);
  }

  protected aead(aad: Uint8Array) {
    return chacha20poly1305(this.#key, this.nonce(), aad);
  }

  protected advance(): void {
    this.#seq++;
  }

  /** Export(exporter_context, L): a secret both ends derive, bound to this context. */
  export(exporterContext: Uint8Array, length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 1 || length > 255 * HPKE_SIZES.hash) {
      throw new UsageError(`length: expected 1 to ${255 * HPKE_SIZES.hash} bytes, got ${length}`);
    }
    return labeledExpand(HPKE_SUITE_ID, this.#exporterSecret, 'sec', exporterContext, length);
  }
}

export class SenderContext extends Context {
  /** Seal(aad, pt): ciphertext ‖ 16-byte tag. */
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const sealed = this.aead(aad).encrypt(plaintext);
    this.advance();
    return sealed;
  }
}

export class ReceiverContext extends Context {
  /** Open(aad, ct). DecryptError if it does not authenticate: tampered, cut short, or sealed to another key or info. */
  open(aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (ciphertext.length < HPKE_SIZES.tag) {
      throw new DecryptError(`ciphertext: expected at least ${HPKE_SIZES.tag} bytes, got ${ciphertext.length}`, { field: 'ciphertext' });
    }
    let plain: Uint8Array;
    try {
      plain = this.aead(aad).decrypt(ciphertext);
    } catch (cause) {
      throw new DecryptError('ciphertext: does not open under this context (tampered, or sealed to another key)', { field: 'ciphertext', cause });
    }
    this.advance();
    return plain;
  }
}

/** SetupBaseS(pkR, info): the encapsulated key to send and the sender's context. `ikmE` is for test vectors only. */
export function setupBaseS(backend: CryptoBackend, pkR: Uint8Array, info: Uint8Array, ikmE?: Uint8Array): { enc: Uint8Array; context: SenderContext } {
  const { sharedSecret, enc } = encap(backend, pkR, ikmE);
  return { enc, context: new SenderContext(keySchedule(sharedSecret, info)) };
}

/** SetupBaseR(enc, skR, info): the receiver's context. KeyError for a bad enc. */
export function setupBaseR(backend: CryptoBackend, enc: Uint8Array, skR: Uint8Array, info: Uint8Array): ReceiverContext {
  return new ReceiverContext(keySchedule(decap(backend, enc, skR), info));
}

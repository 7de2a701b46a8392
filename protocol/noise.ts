// Noise_IK_25519_ChaChaPoly_SHA256, exactly as the Noise Protocol Framework
// (revision 34) defines it: CipherState, SymmetricState, the IK
// HandshakeState for both ends, Split, and the transport CipherStates that
// come out of it. Synchronous throughout, so a channel can answer a handshake
// in the same turn it arrived. X25519 comes from the CryptoBackend (so every
// backend is held to the same vectors), SHA-256, HMAC and HKDF from
// @noble/hashes, ChaCha20-Poly1305 from @noble/ciphers. Every failure a peer
// can cause (a message of the wrong length, a tag that does not verify, a
// small-order key) is a HandshakeError, never a crash.
//
//   IK:  <- s
//        ...
//        -> e, es, s, ss
//        <- e, ee, se

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8 } from './bytes.ts';
import type { CryptoBackend } from './crypto/backend.ts';
import { HandshakeError } from './errors.ts';

export const NOISE_PROTOCOL_NAME = 'Noise_IK_25519_ChaChaPoly_SHA256';
export const DHLEN = 32;
export const HASHLEN = 32;
export const TAGLEN = 16;
/** The spec's bound on any Noise message, handshake or transport. */
export const NOISE_MAX_MESSAGE = 65535;
/**
 * The spec reserves nonce 2^64-1 and lets an implementation stop sooner; we
 * stop at 2^53-1, where a JS number stops counting exactly. No channel sends
 * that many frames (at a million a second it takes 285 years).
 */
export const NOISE_MAX_NONCE = Number.MAX_SAFE_INTEGER;

/**
 * A static key pair whose secret may live elsewhere (an Identity keeps its
 * own): the handshake needs the public key and Diffie-Hellman with it.
 */
export interface StaticKey {
  readonly publicKey: Uint8Array;
  /** X25519 of our secret with `peerPublic`; throws KeyError for a small-order or malformed key. */
  dh(peerPublic: Uint8Array): Uint8Array;
}

/** A StaticKey from a raw 32-byte X25519 secret (tests, vectors, ephemerals). */
export function staticKeyFromSecret(backend: CryptoBackend, secret: Uint8Array): StaticKey {
  const own = Uint8Array.from(secret);
  return { publicKey: backend.x25519PublicKey(own), dh: (peer) => backend.x25519(own, peer) };
}

function dh(key: StaticKey, peerPublic: Uint8Array, what: string): Uint8Array {
  if (peerPublic.length !== DHLEN) throw new HandshakeError(`${what}: expected a ${DHLEN}-byte X25519 key, got ${peerPublic.length} bytes`, { field: what });
  try {
    return key.dh(peerPublic);
  } catch (cause) {
    // The backend refuses a small-order key (an all-zero shared secret).
    throw new HandshakeError(`${what}: ${(cause as Error).message}`, { field: what, cause });
  }
}

/** ChaChaPoly's 96-bit nonce: 32 zero bits, then n as a little-endian 64-bit integer. */
function nonceBytes(n: number): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setUint32(4, n >>> 0, true);
  view.setUint32(8, Math.floor(n / 2 ** 32), true);
  return out;
}

export class CipherState {
  #k: Uint8Array | undefined;
  #n = 0;

  constructor(key?: Uint8Array) {
    this.initializeKey(key);
  }

  initializeKey(key: Uint8Array | undefined): void {
    if (key !== undefined && key.length !== 32) throw new HandshakeError(`expected a 32-byte cipher key, got ${key.length} bytes`);
    this.#k = key && Uint8Array.from(key);
    this.#n = 0;
  }

  hasKey(): boolean {
    return this.#k !== undefined;
  }

  /** The next nonce: how many messages this state has sealed or opened. */
  get nonce(): number {
    return this.#n;
  }

  /** For tests of the nonce limit, as the spec's SetNonce. */
  setNonce(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new HandshakeError(`expected a nonce in [0, 2^53), got ${n}`);
    this.#n = n;
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const k = this.#k;
    if (k === undefined) return Uint8Array.from(plaintext);
    this.checkNonce();
    const out = chacha20poly1305(k, nonceBytes(this.#n), ad).encrypt(plaintext);
    this.#n++;
    return out;
  }

  /** Throws a HandshakeError when the tag does not verify; the nonce then stays where it was. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    const k = this.#k;
    if (k === undefined) return Uint8Array.from(ciphertext);
    this.checkNonce();
    if (ciphertext.length < TAGLEN) {
      throw new HandshakeError(`expected a ciphertext of at least ${TAGLEN} bytes, got ${ciphertext.length}`);
    }
    let out: Uint8Array;
    try {
      out = chacha20poly1305(k, nonceBytes(this.#n), ad).decrypt(ciphertext);
    } catch (cause) {
      throw new HandshakeError('expected a ciphertext that authenticates, got one that does not (another key, a replay, or tampering)', { cause });
    }
    this.#n++;
    return out;
  }

  /** The spec's Rekey(): k = the first 32 bytes of ENCRYPT(k, 2^64-1, empty, zeros). */
  rekey(): void {
    const k = this.#k;
    if (k === undefined) throw new HandshakeError('expected a keyed cipher state to rekey, got an empty one');
    const max = new Uint8Array(12).fill(0xff, 4);
    this.#k = chacha20poly1305(k, max, new Uint8Array(0)).encrypt(new Uint8Array(32)).subarray(0, 32).slice();
  }

  private checkNonce(): void {
    if (this.#n >= NOISE_MAX_NONCE) throw new HandshakeError('this session has used every nonce: start a new one');
  }
}

/** HKDF as Noise defines it (HMAC-SHA256, no info), returning two or three outputs. */
export function hkdf(chainingKey: Uint8Array, ikm: Uint8Array, outputs: 2 | 3): Uint8Array[] {
  const tempKey = hmac(sha256, chainingKey, ikm);
  const out1 = hmac(sha256, tempKey, Uint8Array.of(1));
  const out2 = hmac(sha256, tempKey, concatBytes(out1, Uint8Array.of(2)));
  if (outputs === 2) return [out1, out2];
  return [out1, out2, hmac(sha256, tempKey, concatBytes(out2, Uint8Array.of(3)))];
}

export class SymmetricState {
  readonly cipher = new CipherState();
  #ck: Uint8Array;
  #h: Uint8Array;

  constructor(protocolName: string) {
    const name = utf8(protocolName);
    if (name.length <= HASHLEN) {
      this.#h = new Uint8Array(HASHLEN);
      this.#h.set(name);
    } else {
      this.#h = sha256(name);
    }
    this.#ck = this.#h.slice();
  }

  /** The handshake hash: after the handshake, a value both ends share and nobody else can steer. */
  get handshakeHash(): Uint8Array {
    return this.#h.slice();
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf(this.#ck, ikm, 2);
    this.#ck = ck!;
    this.cipher.initializeKey(tempK!.subarray(0, 32));
  }

  mixHash(data: Uint8Array): void {
    this.#h = sha256(concatBytes(this.#h, data));
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.cipher.encryptWithAd(this.#h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.cipher.decryptWithAd(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.#ck, new Uint8Array(0), 2);
    return [new CipherState(k1!.subarray(0, 32)), new CipherState(k2!.subarray(0, 32))];
  }
}

/** What a finished handshake leaves: a cipher each way and the handshake hash. */
export interface NoiseSession {
  send: CipherState;
  receive: CipherState;
  handshakeHash: Uint8Array;
  /** The other end's static public key, now authenticated by the handshake. */
  remoteStatic: Uint8Array;
}

export interface IkOptions {
  backend: CryptoBackend;
  prologue: Uint8Array;
  /** Our static key pair. */
  s: StaticKey;
  /** The ephemeral secret; fresh random bytes unless a test vector pins it. */
  e?: Uint8Array;
}

function payloadBound(fixed: number, payload: Uint8Array): void {
  if (fixed + payload.length + TAGLEN > NOISE_MAX_MESSAGE) {
    throw new HandshakeError(`expected a handshake payload of at most ${NOISE_MAX_MESSAGE - fixed - TAGLEN} bytes, got ${payload.length}`, { field: 'payload' });
  }
}

/** Length of IK's first message before its payload: e, then s encrypted. */
export const IK_MESSAGE1_OVERHEAD = DHLEN + DHLEN + TAGLEN + TAGLEN;
/** Length of IK's second message before its payload: e. */
export const IK_MESSAGE2_OVERHEAD = DHLEN + TAGLEN;

/**
 * The initiator of IK, who knows the responder's static key beforehand:
 * writeMessage1, then readMessage2, which returns the session.
 */
export class IkInitiator {
  readonly #ss: SymmetricState;
  readonly #s: StaticKey;
  readonly #rs: Uint8Array;
  readonly #e: StaticKey;
  #step: 'write1' | 'read2' | 'done' = 'write1';

  constructor(options: IkOptions & { rs: Uint8Array }) {
    if (options.rs.length !== DHLEN) throw new HandshakeError(`rs: expected a ${DHLEN}-byte X25519 key, got ${options.rs.length} bytes`, { field: 'rs' });
    this.#s = options.s;
    this.#rs = Uint8Array.from(options.rs);
    this.#e = staticKeyFromSecret(options.backend, options.e ?? options.backend.randomBytes(32));
    this.#ss = new SymmetricState(NOISE_PROTOCOL_NAME);
    this.#ss.mixHash(options.prologue);
    this.#ss.mixHash(this.#rs);
  }

  /** -> e, es, s, ss, payload */
  writeMessage1(payload: Uint8Array): Uint8Array {
    this.expect('write1');
    payloadBound(IK_MESSAGE1_OVERHEAD - TAGLEN, payload);
    const ss = this.#ss;
    ss.mixHash(this.#e.publicKey);
    ss.mixKey(dh(this.#e, this.#rs, 'rs'));
    const s = ss.encryptAndHash(this.#s.publicKey);
    ss.mixKey(dh(this.#s, this.#rs, 'rs'));
    const body = ss.encryptAndHash(payload);
    this.#step = 'read2';
    return concatBytes(this.#e.publicKey, s, body);
  }

  /** <- e, ee, se, payload. A failure ends this handshake: it cannot be tried again. */
  readMessage2(message: Uint8Array): { payload: Uint8Array; session: NoiseSession } {
    this.expect('read2');
    this.#step = 'done';
    if (message.length < IK_MESSAGE2_OVERHEAD || message.length > NOISE_MAX_MESSAGE) {
      throw new HandshakeError(`expected a second handshake message of ${IK_MESSAGE2_OVERHEAD} to ${NOISE_MAX_MESSAGE} bytes, got ${message.length}`);
    }
    const ss = this.#ss;
    const re = message.slice(0, DHLEN);
    ss.mixHash(re);
    ss.mixKey(dh(this.#e, re, 're'));
    ss.mixKey(dh(this.#s, re, 're'));
    const payload = ss.decryptAndHash(message.subarray(DHLEN));
    const [c1, c2] = ss.split();
    return { payload, session: { send: c1, receive: c2, handshakeHash: ss.handshakeHash, remoteStatic: this.#rs.slice() } };
  }

  private expect(step: 'write1' | 'read2'): void {
    if (this.#step !== step) throw new HandshakeError(`expected the handshake at ${this.#step}, got a call for ${step}`);
  }
}

/**
 * The responder of IK: readMessage1 learns (and authenticates) the
 * initiator's static key and payload, writeMessage2 answers and returns the
 * session.
 */
export class IkResponder {
  readonly #ss: SymmetricState;
  readonly #s: StaticKey;
  readonly #e: StaticKey;
  #re: Uint8Array | undefined;
  #rs: Uint8Array | undefined;
  #step: 'read1' | 'write2' | 'done' = 'read1';

  constructor(options: IkOptions) {
    this.#s = options.s;
    this.#e = staticKeyFromSecret(options.backend, options.e ?? options.backend.randomBytes(32));
    this.#ss = new SymmetricState(NOISE_PROTOCOL_NAME);
    this.#ss.mixHash(options.prologue);
    this.#ss.mixHash(this.#s.publicKey);
  }

  /** -> e, es, s, ss, payload. Returns the initiator's static key and payload; a failure ends this handshake. */
  readMessage1(message: Uint8Array): { remoteStatic: Uint8Array; payload: Uint8Array } {
    this.expect('read1');
    this.#step = 'done';
    if (message.length < IK_MESSAGE1_OVERHEAD || message.length > NOISE_MAX_MESSAGE) {
      throw new HandshakeError(`expected a first handshake message of ${IK_MESSAGE1_OVERHEAD} to ${NOISE_MAX_MESSAGE} bytes, got ${message.length}`);
    }
    const ss = this.#ss;
    const re = message.slice(0, DHLEN);
    ss.mixHash(re);
    ss.mixKey(dh(this.#s, re, 're'));
    const rs = ss.decryptAndHash(message.subarray(DHLEN, DHLEN + DHLEN + TAGLEN));
    ss.mixKey(dh(this.#s, rs, 'rs'));
    const payload = ss.decryptAndHash(message.subarray(DHLEN + DHLEN + TAGLEN));
    this.#re = re;
    this.#rs = rs;
    this.#step = 'write2';
    return { remoteStatic: rs.slice(), payload };
  }

  /** <- e, ee, se, payload */
  writeMessage2(payload: Uint8Array): { message: Uint8Array; session: NoiseSession } {
    this.expect('write2');
    this.#step = 'done';
    payloadBound(DHLEN, payload);
    const ss = this.#ss;
    ss.mixHash(this.#e.publicKey);
    ss.mixKey(dh(this.#e, this.#re!, 're'));
    ss.mixKey(dh(this.#e, this.#rs!, 'rs'));
    const body = ss.encryptAndHash(payload);
    const [c1, c2] = ss.split();
    return {
      message: concatBytes(this.#e.publicKey, body),
      session: { send: c2, receive: c1, handshakeHash: ss.handshakeHash, remoteStatic: this.#rs!.slice() },
    };
  }

  private expect(step: 'read1' | 'write2'): void {
    if (this.#step !== step) throw new HandshakeError(`expected the handshake at ${this.#step}, got a call for ${step}`);
  }
}

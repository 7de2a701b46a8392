// The task-wire handshake, version 1: Noise IK (noise.ts) binding each wire
// to the identities at its two ends, in one round trip, so it fits an onion
// route's single-use reply block as well as a BEP 10 wire.
//
//   worker (initiator)                          tasker (responder)
//   knows the tasker's Noise static key from the signed manifest (`noise`)
//   -> initiation: e, es, s, ss, {key, sig, ts, caps, agent}
//                                               <- response: e, ee, se, {key, sig, caps, agent}
//   -> transport frames, the first one empty (it confirms the keys)
//
// Each side's payload names its ed25519 identity and that identity's
// signature (domain `noise-static`) over its Noise static key, so a channel
// speaks for the ed25519 key the handshake authenticated. A replayed
// initiation fails on its timestamp (the responder keeps the latest per
// initiator static key, as WireGuard does); a replayed or relayed response
// fails to decrypt (it answers another ephemeral key). Every frame starts
// with the version byte and a kind byte (docs/protocol.md).

import { decode, encode } from './bencode.ts';
import { concatBytes, equalBytes, toHex, utf8 } from './bytes.ts';
import { MESSAGE_LIMITS, TASK_HANDSHAKE, type Domain } from './constants.ts';
import type { CryptoBackend } from './crypto/backend.ts';
import { verifyDomain } from './crypto/sign.ts';
import { HandshakeError, SpareCyclesError, UsageError, VersionError } from './errors.ts';
import { CipherState, IkInitiator, IkResponder, NOISE_MAX_MESSAGE, TAGLEN, type StaticKey } from './noise.ts';
import { bytes, int, list, struct, text, type Infer } from './schema.ts';

export const HANDSHAKE_VERSION = TASK_HANDSHAKE.version;

/** The second byte of every frame. */
export const FRAME_KINDS = { initiation: 1, response: 2, transport: 3 } as const;
export type FrameKind = keyof typeof FRAME_KINDS;

const HEADER = 2;
/** The largest plaintext one transport frame carries: a Noise message is at most 65535 bytes. */
export const MAX_TRANSPORT_PLAINTEXT = NOISE_MAX_MESSAGE - TAGLEN;
/** The largest frame on a task wire. */
export const MAX_FRAME = HEADER + NOISE_MAX_MESSAGE;
/** Handshake payloads are small; anything longer is refused before it is parsed. */
const MAX_PAYLOAD = 1024;

/** A capability is one printable ASCII word, e.g. `wasm`, `simd`, `bep10`. */
const CAP_PATTERN = /^[\x21-\x7e]+$/;

const caps = list(text({ min: 1, max: MESSAGE_LIMITS.capBytes, pattern: CAP_PATTERN }), { max: MESSAGE_LIMITS.caps });
const agent = text({ max: MESSAGE_LIMITS.agentBytes });
const key = bytes({ length: 32 });
const sig = bytes({ length: 64 });

/** What the initiator (a worker) says inside message 1. */
const initiationPayload = struct({
  /** Its ed25519 identity. */
  key,
  /** ed25519 by `key` over DOMAINS['noise-static'] ‖ its Noise static public key. */
  sig,
  /** Unix milliseconds, strictly increasing per initiator static key. */
  ts: int(0, Number.MAX_SAFE_INTEGER),
  caps,
  /** Free text naming the software, e.g. `sparecycles-worker/0.1`. */
  agent,
});

/** What the responder (the tasker) says inside message 2. */
const responsePayload = struct({ key, sig, caps, agent });

export type InitiationPayload = Infer<typeof initiationPayload>;
export type ResponsePayload = Infer<typeof responsePayload>;

/** What a finished handshake says of the other end. */
export interface Greeting {
  /** Its ed25519 identity, authenticated by the handshake. */
  key: Uint8Array;
  /** Its Noise static public key. */
  static: Uint8Array;
  caps: string[];
  agent: string;
}

/** What the handshake needs of an identity: an Identity has all of it, and keeps its secrets. */
export interface HandshakeIdentity {
  readonly publicKey: Uint8Array;
  readonly noise: StaticKey;
  sign(domain: Domain, bytes: Uint8Array): Uint8Array;
}

const VOUCH: Domain = 'noise-static';

/** The signature by which an identity vouches for its Noise static key; the same every time, so callers may keep it. */
export function vouchFor(identity: HandshakeIdentity): Uint8Array {
  return identity.sign(VOUCH, identity.noise.publicKey);
}

function checkVouch(backend: CryptoBackend, key: Uint8Array, staticKey: Uint8Array, signature: Uint8Array): void {
  try {
    verifyDomain(backend, key, VOUCH, staticKey, signature);
  } catch (cause) {
    throw new HandshakeError(`sig: expected the identity's signature over its Noise static key: ${(cause as Error).message}`, { field: 'sig', cause });
  }
}

/** `TASK_HANDSHAKE.prologue` ‖ the task's 20-byte info-hash. */
export function taskPrologue(infoHash: Uint8Array): Uint8Array {
  if (infoHash.length !== 20) throw new HandshakeError(`infoHash: expected 20 bytes, got ${infoHash.length}`, { field: 'infoHash' });
  return concatBytes(utf8(TASK_HANDSHAKE.prologue), infoHash);
}

/** A frame: the version byte, the kind byte, the body. */
export function encodeFrame(kind: FrameKind, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + body.length);
  out[0] = HANDSHAKE_VERSION;
  out[1] = FRAME_KINDS[kind];
  out.set(body, HEADER);
  return out;
}

const KIND_NAMES = new Map<number, FrameKind>(Object.entries(FRAME_KINDS).map(([name, n]) => [n, name as FrameKind]));

/** Reads a frame's header: the version first (VersionError for another), then the kind. */
export function decodeFrame(frame: Uint8Array): { kind: FrameKind; body: Uint8Array } {
  if (frame.length < HEADER) throw new HandshakeError(`expected a frame of at least ${HEADER} bytes, got ${frame.length}`, { field: 'frame' });
  if (frame.length > MAX_FRAME) throw new HandshakeError(`expected a frame of at most ${MAX_FRAME} bytes, got ${frame.length}`, { field: 'frame' });
  if (frame[0] !== HANDSHAKE_VERSION) {
    throw new VersionError(`frame: expected handshake version ${HANDSHAKE_VERSION}, got ${frame[0]}`, frame[0], { field: 'version' });
  }
  const kind = KIND_NAMES.get(frame[1]!);
  if (kind === undefined) throw new HandshakeError(`frame: expected a kind of 1 to 3, got ${frame[1]}`, { field: 'kind' });
  return { kind, body: frame.subarray(HEADER) };
}

function expectKind(frame: Uint8Array, kind: FrameKind): Uint8Array {
  const read = decodeFrame(frame);
  if (read.kind !== kind) throw new HandshakeError(`frame: expected ${kind}, got ${read.kind}`, { field: 'kind' });
  return read.body;
}

function readPayload<T>(schema: { read(value: never, path: string): T }, plaintext: Uint8Array): T {
  if (plaintext.length > MAX_PAYLOAD) {
    throw new HandshakeError(`payload: expected at most ${MAX_PAYLOAD} bytes, got ${plaintext.length}`, { field: 'payload' });
  }
  let payload: T;
  try {
    payload = schema.read(decode(plaintext, { maxBytes: MAX_PAYLOAD }) as never, 'payload');
  } catch (cause) {
    const field = cause instanceof SpareCyclesError ? cause.field ?? 'payload' : 'payload';
    throw new HandshakeError(`${(cause as Error).message}`, { field, cause });
  }
  const named = (payload as { caps: string[] }).caps;
  if (new Set(named).size !== named.length) throw new HandshakeError('payload.caps: expected no repeats, got a repeated value', { field: 'payload.caps' });
  return payload;
}

/** One direction's cipher after the handshake, as frames. Frames must arrive in the order they were sent. */
export class SecureSession {
  readonly #send: CipherState;
  readonly #receive: CipherState;
  /** The Noise handshake hash: the same at both ends, and unique to this session. */
  readonly handshakeHash: Uint8Array;

  constructor(send: CipherState, receive: CipherState, handshakeHash: Uint8Array) {
    this.#send = send;
    this.#receive = receive;
    this.handshakeHash = handshakeHash;
  }

  /** A transport frame carrying `plaintext` (empty for the initiator's confirmation). */
  seal(plaintext: Uint8Array): Uint8Array {
    if (plaintext.length > MAX_TRANSPORT_PLAINTEXT) {
      throw new HandshakeError(`expected at most ${MAX_TRANSPORT_PLAINTEXT} bytes in one frame, got ${plaintext.length}`, { field: 'frame' });
    }
    return encodeFrame('transport', this.#send.encryptWithAd(new Uint8Array(0), plaintext));
  }

  /** The plaintext of a transport frame; HandshakeError if it is not the next frame of this session. */
  open(frame: Uint8Array): Uint8Array {
    return this.#receive.decryptWithAd(new Uint8Array(0), expectKind(frame, 'transport'));
  }
}

/** Unix milliseconds that never repeat or go back, for one initiator's handshakes. */
export class HandshakeClock {
  #last = 0;
  next(now: number = Date.now()): number {
    this.#last = Math.max(Math.floor(now), this.#last + 1);
    return this.#last;
  }
}

/**
 * How far below the guard's floor a key it does not remember may start: a
 * flood of new keys raises the floor to about the responder's own clock, and
 * an honest worker whose clock runs behind must still get in.
 */
export const HANDSHAKE_SKEW_MS = 10 * 60_000;

/**
 * The responder's memory of the latest timestamp of each initiator static
 * key, so a replayed initiation fails. A key it remembers must beat its own
 * latest stamp, however old. Bounded: past `limit` keys the least recently
 * seen is forgotten, and the latest forgotten stamp (capped at the
 * responder's clock, so a stamp from the future cannot lock everyone out)
 * becomes the floor; a key not (or no longer) remembered must beat the floor
 * less `skewMs`. So a forgotten key's initiation from within that margin
 * could be answered once more, which gains its sender nothing: without the
 * initiation's ephemeral secret it cannot finish the handshake (the
 * responder opens a channel only on the initiator's first transport frame),
 * and a fresh key costs the responder as much.
 */
export class TimestampGuard {
  readonly #latest = new Map<string, number>();
  readonly #limit: number;
  readonly #skewMs: number;
  #floor = 0;

  constructor(limit: number = TASK_HANDSHAKE.timestamps, skewMs: number = HANDSHAKE_SKEW_MS) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`limit: expected a positive integer, got ${limit}`);
    if (!Number.isSafeInteger(skewMs) || skewMs < 0) throw new UsageError(`skewMs: expected a whole number of milliseconds, got ${skewMs}`);
    this.#limit = limit;
    this.#skewMs = skewMs;
  }

  get size(): number {
    return this.#latest.size;
  }

  /** Throws a HandshakeError unless `ts` is later than every earlier one of this key (see the class); remembers it otherwise. */
  admit(staticKey: Uint8Array, ts: number, now: number = Date.now()): void {
    const id = toHex(staticKey);
    const last = this.#latest.get(id) ?? Math.max(0, this.#floor - this.#skewMs);
    if (ts <= last) {
      throw new HandshakeError(`ts: expected a timestamp after ${last}, got ${ts}: a replayed initiation, or a clock far behind`, { field: 'ts' });
    }
    this.#latest.delete(id);
    this.#latest.set(id, ts);
    if (this.#latest.size > this.#limit) {
      const [oldest, stamp] = this.#latest.entries().next().value!;
      this.#latest.delete(oldest);
      this.#floor = Math.max(this.#floor, Math.min(stamp, now));
    }
  }
}

export interface InitiatorOptions {
  backend: CryptoBackend;
  identity: HandshakeIdentity;
  infoHash: Uint8Array;
  /** Who must answer: the manifest's `tasker` (ed25519) and `noise` keys. */
  responder: { key: Uint8Array; noise: Uint8Array };
  /** From a HandshakeClock: later than any this identity used before. */
  ts: number;
  caps: string[];
  agent: string;
  /** vouchFor(identity), if the caller keeps it. */
  vouch?: Uint8Array;
  /** The ephemeral secret; only test vectors pin it. */
  ephemeral?: Uint8Array;
}

/** The worker's side: `frame` is the initiation to send; finish() reads the response. */
export class Initiation {
  readonly frame: Uint8Array;
  readonly #noise: IkInitiator;
  readonly #options: InitiatorOptions;

  constructor(options: InitiatorOptions) {
    this.#options = options;
    const { backend, identity } = options;
    this.#noise = new IkInitiator({
      backend,
      prologue: taskPrologue(options.infoHash),
      s: identity.noise,
      rs: options.responder.noise,
      ...(options.ephemeral ? { e: options.ephemeral } : {}),
    });
    const payload = encode(
      initiationPayload.write({
        key: identity.publicKey,
        sig: options.vouch ?? vouchFor(identity),
        ts: options.ts,
        caps: options.caps,
        agent: options.agent,
      }),
    );
    this.frame = encodeFrame('initiation', this.#noise.writeMessage1(payload));
  }

  /** Reads the response: the session, and who answered (always the expected responder, or a HandshakeError). */
  finish(frame: Uint8Array): { session: SecureSession; remote: Greeting } {
    const { payload, session } = this.#noise.readMessage2(expectKind(frame, 'response'));
    const said = readPayload(responsePayload, payload);
    const expected = this.#options.responder;
    if (!equalBytes(said.key, expected.key)) {
      throw new HandshakeError('key: expected the tasker the manifest names, got another identity', { field: 'key' });
    }
    checkVouch(this.#options.backend, said.key, session.remoteStatic, said.sig);
    return {
      session: new SecureSession(session.send, session.receive, session.handshakeHash),
      remote: { key: said.key, static: session.remoteStatic, caps: said.caps, agent: said.agent },
    };
  }
}

export interface ResponderOptions {
  backend: CryptoBackend;
  identity: HandshakeIdentity;
  infoHash: Uint8Array;
  /** This responder's memory of initiators' timestamps. */
  timestamps: TimestampGuard;
  caps: string[];
  agent: string;
  vouch?: Uint8Array;
  ephemeral?: Uint8Array;
  now?: number;
}

/**
 * The tasker's side: reads an initiation and answers it. Checked in this
 * order: the frame, the Noise message (which proves the initiator holds the
 * static key it sent), the payload, the identity's signature over that
 * static key, and last the timestamp, so only an authenticated initiation can
 * move what the guard remembers.
 */
export function respond(
  options: ResponderOptions,
  frame: Uint8Array,
): { frame: Uint8Array; session: SecureSession; remote: Greeting & { ts: number } } {
  const { backend, identity } = options;
  const noise = new IkResponder({
    backend,
    prologue: taskPrologue(options.infoHash),
    s: identity.noise,
    ...(options.ephemeral ? { e: options.ephemeral } : {}),
  });
  const { remoteStatic, payload } = noise.readMessage1(expectKind(frame, 'initiation'));
  const said = readPayload(initiationPayload, payload);
  checkVouch(backend, said.key, remoteStatic, said.sig);
  options.timestamps.admit(remoteStatic, said.ts, options.now);
  const answer = encode(
    responsePayload.write({ key: identity.publicKey, sig: options.vouch ?? vouchFor(identity), caps: options.caps, agent: options.agent }),
  );
  const { message, session } = noise.writeMessage2(answer);
  return {
    frame: encodeFrame('response', message),
    session: new SecureSession(session.send, session.receive, session.handshakeHash),
    remote: { key: said.key, static: remoteStatic, caps: said.caps, agent: said.agent, ts: said.ts },
  };
}

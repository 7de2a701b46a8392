// The message table and the one way in and out of the wire.
//
// decodeMessage: bencode-decode with a size bound → a dictionary → `t` and
// `v` first (an unknown type is a SchemaError on `t`, a known type at another
// version is a VersionError carrying the version) → that type's schema, which
// returns a fresh typed object. Decoding checks shape and bounds only;
// verifyMessage checks the signature, under the key the message itself names
// and the domain its type signs with.

import { decode, dictEntries, encode, isDict, type BInput, type BValue } from '../bencode.ts';
import { compareBytes, concatBytes, equalBytes, fromUtf8, utf8 } from '../bytes.ts';
import { DOMAINS, LIMITS, type Domain, type MessageType } from '../constants.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { ed25519PublicKeyOf, signDomain, verifyDomain } from '../crypto/sign.ts';
import { KeyError, SchemaError, SignatureError, VersionError } from '../errors.ts';
import { ack } from './ack.ts';
import { assign } from './assign.ts';
import { claim } from './claim.ts';
import type { MessageOfSpec, MessageSpec, SignedType } from './envelope.ts';
import { offer } from './offer.ts';
import { payment, paymentOk } from './payment.ts';
import { receipt } from './receipt.ts';
import { redeem, redeemOk } from './redeem.ts';
import { deposit } from './deposit.ts';
import { relayDescriptor, relayError, relayFind, relayGet, relayItem, relayOffers } from './relay.ts';
import { result } from './result.ts';
import { outputPart } from './output-part.ts';
import { taskBlock, taskGet, taskRefused } from './task-fetch.ts';

export type { MessageSpec, SignedType, UnsignedType } from './envelope.ts';
export type { Offer } from './offer.ts';
export type { Claim } from './claim.ts';
export type { Assign } from './assign.ts';
export type { Result } from './result.ts';
export type { Receipt } from './receipt.ts';
export type { Ack } from './ack.ts';
export type { BlindedOutput, BlindSignature, Payment, PaymentOk } from './payment.ts';
export type { Proof, Redeem, RedeemOk } from './redeem.ts';
export type { Deposit } from './deposit.ts';
export type { OutputPart } from './output-part.ts';
export type { TaskBlock, TaskGet, TaskRefused } from './task-fetch.ts';
export type { RelayDescriptor, RelayError, RelayFind, RelayGet, RelayItem, RelayOffers } from './relay.ts';

/** Every message type → its spec (version, domain, signer field, schema). */
export const MESSAGES = {
  offer,
  claim,
  assign,
  result,
  receipt,
  payment,
  'payment-ok': paymentOk,
  redeem,
  'redeem-ok': redeemOk,
  deposit,
  'relay-find': relayFind,
  'relay-offers': relayOffers,
  'relay-get': relayGet,
  'relay-item': relayItem,
  'relay-error': relayError,
  'relay-descriptor': relayDescriptor,
  ack,
  'output-part': outputPart,
  'task-get': taskGet,
  'task-block': taskBlock,
  'task-refused': taskRefused,
} as const satisfies { readonly [T in MessageType]: MessageSpec<T, any> };

type Specs = typeof MESSAGES;

/** The typed message of one type, derived from its schema. */
export type MessageOf<T extends MessageType> = T extends MessageType ? MessageOfSpec<Specs[T]> : never;
/** Every message: a union discriminated on `t`. */
export type Message = MessageOf<MessageType>;
export type SignedMessage = MessageOf<SignedType>;
/** A signed message before it is signed: everything but `sig`. */
export type Unsigned<M> = M extends unknown ? Omit<M, 'sig'> : never;
export type UnsignedMessage = Unsigned<SignedMessage>;

export const MESSAGE_TYPE_NAMES = Object.keys(MESSAGES) as MessageType[];

export interface DecodeMessageOptions {
  /** Refuse input longer than this; defaults to LIMITS.messageBytes. */
  maxBytes?: number;
}

function specOf(type: unknown): MessageSpec<MessageType, Message> {
  if (typeof type !== 'string' || !Object.hasOwn(MESSAGES, type)) {
    const got = typeof type === 'string' ? JSON.stringify(type.slice(0, 40)) : typeof type;
    throw new SchemaError(`t: expected a message type (${MESSAGE_TYPE_NAMES.join(', ')}), got ${got}`, { field: 't' });
  }
  return MESSAGES[type as MessageType] as MessageSpec<MessageType, Message>;
}

/** Validates an already-decoded bencode value as a message (e.g. a BEP 44 `v`). */
export function readMessage(value: BValue): Message {
  if (!isDict(value)) throw new SchemaError('expected a message dictionary', { field: undefined });
  const t = value.t;
  if (!(t instanceof Uint8Array)) {
    throw new SchemaError(t === undefined ? 'missing field t' : 't: expected the type name as text', { field: 't' });
  }
  let type: string;
  try {
    type = fromUtf8(t);
  } catch (cause) {
    throw new SchemaError('t: expected UTF-8 text, got malformed bytes', { field: 't', cause });
  }
  const spec = specOf(type);
  const v = value.v;
  if (typeof v !== 'number') {
    throw new SchemaError(v === undefined ? `${type}: missing field v` : 'v: expected an integer version', { field: 'v' });
  }
  if (v !== spec.version) {
    throw new VersionError(`${type}: expected version ${spec.version}, got ${v}`, v, { field: 'v' });
  }
  return spec.schema.read(value, type);
}

export function decodeMessage(bytes: Uint8Array, options: DecodeMessageOptions = {}): Message {
  // The schemas copy every byte string they keep, so the decoder need not.
  return readMessage(decode(bytes, { maxBytes: options.maxBytes ?? LIMITS.messageBytes, views: true }));
}

/**
 * A message with the exact bytes that carry it. Made only by sealMessage (to
 * send: encoded once) and openMessage (received: decoded once), so the two
 * always agree, and verifySealed checks the signature against the bytes that
 * arrived instead of encoding the message again.
 */
export interface Sealed<M extends Message = Message> {
  readonly message: M;
  readonly bytes: Uint8Array;
}

/** An already-made message with its bytes, to send it again as it is (a stored offer, a forwarded item). */
export function sealSigned<M extends Message>(message: M): Sealed<M> {
  return { message, bytes: encodeMessage(message) };
}

/** Decodes received bytes once; the message keeps them for verifySealed. */
export function openMessage(bytes: Uint8Array, options: DecodeMessageOptions = {}): Sealed {
  return { message: decodeMessage(bytes, options), bytes };
}

/**
 * The canonical bytes of a message. The message is validated on the way out,
 * so nothing leaves that a peer would refuse.
 */
export function encodeMessage(msg: Message): Uint8Array {
  return encodeChecked(specOf(msg.t).schema.write(msg)).bytes;
}

/**
 * Encodes and validates as a peer would, so nothing leaves that a peer would
 * refuse; the message a peer would read comes back with the bytes.
 */
function encodeChecked(form: BInput): { bytes: Uint8Array; message: Message } {
  checkText(form, '');
  const bytes = encode(form);
  return { bytes, message: decodeMessage(bytes) };
}

// UTF-8 cannot carry a lone surrogate: encoding would silently turn it into
// U+FFFD, and the signed text would not be the text the caller meant.
const LONE_SURROGATE = /\p{Cs}/u;

function checkText(value: BInput | undefined, path: string): void {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) {
      throw new SchemaError(`${path}: expected well-formed Unicode text, got a lone surrogate`, { field: path });
    }
  } else if (Array.isArray(value)) {
    value.forEach((item: BInput, i: number) => checkText(item, `${path}[${i}]`));
  } else if (typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const [key, item] of Object.entries(value)) checkText(item, path ? `${path}.${key}` : key);
  }
}

export function isSignedMessage(msg: Message): msg is SignedMessage {
  return specOf(msg.t).domain !== undefined;
}

interface Signing {
  domain: Domain;
  signer: string;
  key: Uint8Array;
  /** encode(message without sig): what signDomain and verifyDomain take. */
  body: Uint8Array;
}

const PLACEHOLDER_SIG = new Uint8Array(64);

function signing(msg: SignedMessage | UnsignedMessage, validate = true): Signing {
  const spec = specOf(msg.t);
  if (spec.domain === undefined || spec.signer === undefined) {
    throw new SchemaError(`t: ${msg.t} messages are not signed`, { field: 't' });
  }
  const withoutSig = { ...msg, sig: undefined } as unknown as Message;
  // Validate every other field (a placeholder stands in for the signature).
  if (validate) encodeChecked(spec.schema.write({ ...withoutSig, sig: PLACEHOLDER_SIG } as Message));
  const key = (msg as unknown as Record<string, Uint8Array>)[spec.signer]!;
  return { domain: spec.domain, signer: spec.signer, key, body: encode(spec.schema.write(withoutSig)) };
}

/** The exact bytes the ed25519 signature covers: `DOMAINS[domain] ‖ encode(message without sig)`. */
export function messageSigningBytes(msg: SignedMessage | UnsignedMessage): Uint8Array {
  const { domain, body } = signing(msg);
  return concatBytes(utf8(DOMAINS[domain]), body);
}

/** The key that signs a message: the value of its type's signer field. */
export function messageSigner(msg: SignedMessage | UnsignedMessage): Uint8Array {
  return signing(msg).key;
}

/**
 * Signs a message with `seed`, whose public key must be the one in the
 * message's signer field (KeyError otherwise), and returns it with the bytes
 * to send. The fields are encoded once: the signature covers that encoding,
 * and the bytes sent are the same encoding with `sig` put in its place. The
 * bytes are then read back as a peer would, so nothing leaves that a peer
 * would refuse.
 */
export function sealMessage<M extends UnsignedMessage>(backend: CryptoBackend, seed: Uint8Array, msg: M): Sealed<MessageOf<M['t']>> {
  const spec = specOf(msg.t);
  if (spec.domain === undefined || spec.signer === undefined) {
    throw new SchemaError(`t: ${msg.t} messages are not signed`, { field: 't' });
  }
  const key = (msg as unknown as Record<string, Uint8Array>)[spec.signer]!;
  if (!(key instanceof Uint8Array) || !equalBytes(ed25519PublicKeyOf(backend, seed), key)) {
    throw new KeyError(`${spec.signer}: expected the public key of the signing seed`, { field: spec.signer });
  }
  const form = spec.schema.write({ ...msg, sig: undefined } as unknown as Message);
  checkText(form, '');
  const body = encode(form);
  const sig = signDomain(backend, seed, spec.domain, body);
  const bytes = withSig(body, sig);
  return { message: decodeMessage(bytes) as MessageOf<M['t']>, bytes };
}

const SIG = utf8('sig');
const SIG_KEY = utf8('3:sig64:');

/** `body` (a message encoded without `sig`) with the `sig` entry put where sorted keys place it. */
function withSig(body: Uint8Array, sig: Uint8Array): Uint8Array {
  const after = dictEntries(body).find((entry) => compareBytes(entry.key, SIG) > 0);
  const at = after ? after.start : body.length - 1;
  const out = new Uint8Array(body.length + SIG_KEY.length + sig.length);
  out.set(body.subarray(0, at));
  out.set(SIG_KEY, at);
  out.set(sig, at + SIG_KEY.length);
  out.set(body.subarray(at), at + SIG_KEY.length + sig.length);
  return out;
}

/**
 * Signs a message with `seed`, whose public key must be the one in the
 * message's signer field (KeyError otherwise). Returns a fresh, validated
 * message with `sig`.
 */
export function signMessage<M extends UnsignedMessage>(
  backend: CryptoBackend,
  seed: Uint8Array,
  msg: M,
): MessageOf<M['t']> {
  return sealMessage(backend, seed, msg).message;
}

/**
 * verifyMessage for a message as it arrived: the signature is checked over
 * the received bytes with the `sig` entry cut out, which for canonical bytes
 * is exactly the encoding the signer signed, so nothing is encoded again.
 */
export function verifySealed(backend: CryptoBackend, sealed: Sealed): void {
  const msg = sealed.message;
  const spec = specOf(msg.t);
  if (spec.domain === undefined || spec.signer === undefined) {
    throw new SchemaError(`t: ${msg.t} messages are not signed`, { field: 't' });
  }
  const range = dictEntries(sealed.bytes).find((entry) => equalBytes(entry.key, SIG));
  if (!range) throw new SchemaError('missing field sig', { field: 'sig' });
  const body = new Uint8Array(sealed.bytes.length - (range.end - range.start));
  body.set(sealed.bytes.subarray(0, range.start));
  body.set(sealed.bytes.subarray(range.end), range.start);
  const key = (msg as unknown as Record<string, Uint8Array>)[spec.signer]!;
  checkSignature(backend, spec.domain, spec.signer, key, body, (msg as { sig?: unknown }).sig);
}

function checkSignature(backend: CryptoBackend, domain: Domain, signer: string, key: Uint8Array, body: Uint8Array, sig: unknown): void {
  if (!(sig instanceof Uint8Array)) throw new SchemaError('missing field sig', { field: 'sig' });
  try {
    verifyDomain(backend, key, domain, body, sig);
  } catch (error) {
    if (error instanceof KeyError) throw new KeyError(`${signer}: ${error.message}`, { field: signer, cause: error });
    if (error instanceof SignatureError) throw new SignatureError(`sig: ${error.message}`, { field: 'sig', cause: error });
    throw error;
  }
}

/**
 * Throws unless `sig` verifies under the message's own signer key and its
 * type's domain: KeyError (field: the signer field) for an unacceptable key,
 * SignatureError (field: `sig`) for a signature that is not valid.
 */
export function verifyMessage(backend: CryptoBackend, msg: SignedMessage): void {
  const { domain, signer, key, body } = signing(msg);
  checkSignature(backend, domain, signer, key, body, (msg as { sig?: unknown }).sig);
}

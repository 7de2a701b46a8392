// What travels on a relay's onion socket besides packets (docs/relay-onion.md).
// A binary message of exactly ONION.packetBytes is a packet; any other is one
// of these frames, a bencoded dictionary with a type `t` and the link
// version `v`:
//
//   listener -> anyone    challenge {k: listener key, n: nonce}
//   dialer   -> listener  link      {k: dialer key, n: nonce, s: sig}
//   listener -> dialer    link-ok   {s: sig}
//   client   -> relay     open      {x: mailbox secret}
//   relay    -> client    opened    {m: mailbox id}
//   relay    -> client    mail      {m: mailbox id, d: data, r?: reply-block id}
//   relay    -> client    refused   {c: error code}
//
// Two relays authenticate with signed nonces rather than the task wire's
// Noise IK (protocol/handshake.ts): the packets on a link are already
// encrypted and unlinkable hop by hop, so a link needs to prove who is at
// each end, not to encrypt; and IK would have the dialer know the listener's
// Noise key from somewhere and bind a task's prologue. Each side signs, under
// the `onion-link` domain, its role and both keys and both fresh nonces, so
// a signature answers one challenge on one link in one direction and can be
// neither replayed nor reflected.

import { decode, encode, isDict } from '../bencode.ts';
import { concatBytes, fromUtf8 } from '../bytes.ts';
import { ONION, ONION_RELAY, type Domain } from '../constants.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { verifyDomain } from '../crypto/sign.ts';
import { DecodeError, SchemaError, VersionError } from '../errors.ts';
import { bytes, literal, optional, struct, text, type Schema } from '../schema.ts';
import { ADDRESS_BYTES, PAYLOAD_BYTES, SURB_ID_BYTES } from './layout.ts';

const key = bytes({ length: 32 });
const nonce = bytes({ length: ONION_RELAY.nonceBytes });
const sig = bytes({ length: 64 });

const SCHEMAS = {
  challenge: struct({ t: literal('challenge'), v: literal(ONION_RELAY.linkVersion), k: key, n: nonce }),
  link: struct({ t: literal('link'), v: literal(ONION_RELAY.linkVersion), k: key, n: nonce, s: sig }),
  'link-ok': struct({ t: literal('link-ok'), v: literal(ONION_RELAY.linkVersion), s: sig }),
  open: struct({ t: literal('open'), v: literal(ONION_RELAY.linkVersion), x: bytes({ length: 32 }) }),
  opened: struct({ t: literal('opened'), v: literal(ONION_RELAY.linkVersion), m: bytes({ length: ADDRESS_BYTES }) }),
  mail: struct({
    t: literal('mail'),
    v: literal(ONION_RELAY.linkVersion),
    m: bytes({ length: ADDRESS_BYTES }),
    // A delivered message or a reply's sealed payload: never more than a payload.
    d: bytes({ max: PAYLOAD_BYTES }),
    r: optional(bytes({ length: SURB_ID_BYTES })),
  }),
  refused: struct({ t: literal('refused'), v: literal(ONION_RELAY.linkVersion), c: text({ max: 32, pattern: /^[A-Z_]+$/ }) }),
} as const;

type Frames = { [K in keyof typeof SCHEMAS]: (typeof SCHEMAS)[K] extends Schema<infer T> ? T : never };
export type LinkFrameType = keyof Frames;
export type LinkFrame = Frames[LinkFrameType];
export type LinkFrameOf<T extends LinkFrameType> = Frames[T];

/** Whether a binary message on an onion socket is a packet (and not a link frame). */
export function isPacketSized(message: Uint8Array): boolean {
  return message.length === ONION.packetBytes;
}

export function encodeLinkFrame(frame: LinkFrame): Uint8Array {
  const schema = SCHEMAS[frame.t] as Schema<LinkFrame> | undefined;
  if (schema === undefined) throw new SchemaError(`link frame: unknown type ${String(frame.t)}`, { field: 't' });
  // Read back, so a frame we send is one we would accept.
  const out = encode(schema.write(frame));
  decodeLinkFrame(out);
  return out;
}

/** A link frame from the wire: DecodeError for bytes that are not one, VersionError for another link version, SchemaError for bad fields. */
export function decodeLinkFrame(bytesIn: Uint8Array): LinkFrame {
  if (!(bytesIn instanceof Uint8Array)) throw new DecodeError('link frame: expected bytes', { field: 'frame' });
  if (isPacketSized(bytesIn)) throw new DecodeError(`link frame: ${ONION.packetBytes} bytes is a packet`, { field: 'frame' });
  const value = decode(bytesIn, { maxBytes: ONION_RELAY.frameBytes });
  if (!isDict(value)) throw new DecodeError('link frame: expected a dictionary', { field: 'frame' });
  const v = value['v'];
  if (v !== ONION_RELAY.linkVersion) throw new VersionError(`link frame: expected version ${ONION_RELAY.linkVersion}, got ${String(v)}`, v, { field: 'v' });
  const t = value['t'];
  const type = t instanceof Uint8Array && t.length <= 16 ? safeText(t) : undefined;
  if (type === undefined || !Object.hasOwn(SCHEMAS, type)) throw new SchemaError('link frame: unknown type', { field: 't' });
  return (SCHEMAS[type as LinkFrameType] as Schema<LinkFrame>).read(value, 'frame');
}

export type LinkRole = 'dialer' | 'listener';
const ROLE_BYTE: Record<LinkRole, number> = { dialer: 1, listener: 2 };

export interface LinkTranscript {
  readonly listenerKey: Uint8Array;
  readonly listenerNonce: Uint8Array;
  readonly dialerKey: Uint8Array;
  readonly dialerNonce: Uint8Array;
}

/** role ‖ listener key ‖ listener nonce ‖ dialer key ‖ dialer nonce: what one end signs. */
export function linkTranscript(role: LinkRole, t: LinkTranscript): Uint8Array {
  return concatBytes(Uint8Array.of(ROLE_BYTE[role]), t.listenerKey, t.listenerNonce, t.dialerKey, t.dialerNonce);
}

/** One end's signature; `signer` is its identity (protocol/crypto/identity.ts). */
export function signLink(signer: { sign(domain: Domain, bytes: Uint8Array): Uint8Array }, role: LinkRole, t: LinkTranscript): Uint8Array {
  return signer.sign('onion-link', linkTranscript(role, t));
}

/** Throws SignatureError (or KeyError for a key that is no point) unless `role`'s end signed this transcript. */
export function verifyLink(backend: CryptoBackend, role: LinkRole, t: LinkTranscript, signature: Uint8Array): void {
  verifyDomain(backend, role === 'dialer' ? t.dialerKey : t.listenerKey, 'onion-link', linkTranscript(role, t), signature);
}

function safeText(value: Uint8Array): string | undefined {
  try {
    return fromUtf8(value);
  } catch {
    return undefined;
  }
}

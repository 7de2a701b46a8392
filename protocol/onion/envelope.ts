// What a sender hands an exit through an onion route: the body for the
// service behind the exit and a reply block for the answer, as one bencoded
// dictionary that fits one packet's message (docs/relay-onion.md):
//
//   envelope = {v: 1, s: reply block (SURB_BYTES), b: body}
//
// The exit reads nothing in the body (for a mint it is an Oblivious HTTP
// request, sealed to the mint), and learns no more of the sender than the
// reply block's first hop. A mint exit's destination id is a hash of the
// mint's origin, so a route names a mint without the relays keeping a table.

import { decode, encode, isDict } from '../bencode.ts';
import { concatBytes, utf8 } from '../bytes.ts';
import { ONION_RELAY } from '../constants.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { DecodeError, SchemaError, VersionError } from '../errors.ts';
import { bytes, literal, struct } from '../schema.ts';
import { MAX_MESSAGE_BYTES } from './layout.ts';
import { decodeSurb, encodeSurb, SURB_BYTES, type Surb } from './surb.ts';

export interface ExitEnvelope {
  /** Where the exit sends the answer. */
  readonly surb: Surb;
  readonly body: Uint8Array;
}

/** The bencoding's bytes around the body and the reply block. */
function encodedSize(bodyBytes: number): number {
  const v = `1:vi${ONION_RELAY.envelopeVersion}e`;
  return 2 + `1:b${bodyBytes}:`.length + bodyBytes + `1:s${SURB_BYTES}:`.length + SURB_BYTES + v.length;
}

/** The largest body an envelope carries in one packet. */
export const MAX_ENVELOPE_BODY = (() => {
  let n = MAX_MESSAGE_BYTES;
  while (encodedSize(n) > MAX_MESSAGE_BYTES) n--;
  return n;
})();

const schema = struct({
  v: literal(ONION_RELAY.envelopeVersion),
  s: bytes({ length: SURB_BYTES }),
  b: bytes({ max: MAX_ENVELOPE_BODY }),
});

export function encodeEnvelope(envelope: ExitEnvelope): Uint8Array {
  if (!(envelope.body instanceof Uint8Array)) throw new SchemaError('envelope.body: expected bytes', { field: 'envelope.b' });
  if (envelope.body.length > MAX_ENVELOPE_BODY) {
    throw new SchemaError(`envelope.body: expected at most ${MAX_ENVELOPE_BODY} bytes, got ${envelope.body.length}`, { field: 'envelope.b' });
  }
  return encode(schema.write({ v: ONION_RELAY.envelopeVersion, s: encodeSurb(envelope.surb), b: envelope.body }));
}

/** DecodeError for bytes that are not an envelope, VersionError for another version, SchemaError (or the reply block's own errors) for bad fields. */
export function decodeEnvelope(message: Uint8Array): ExitEnvelope {
  const value = decode(message, { maxBytes: MAX_MESSAGE_BYTES });
  if (!isDict(value)) throw new DecodeError('envelope: expected a dictionary', { field: 'envelope' });
  if (value['v'] !== ONION_RELAY.envelopeVersion) {
    throw new VersionError(`envelope: expected version ${ONION_RELAY.envelopeVersion}, got ${String(value['v'])}`, value['v'], { field: 'envelope.v' });
  }
  const read = schema.read(value, 'envelope');
  return { surb: decodeSurb(read.s), body: read.b };
}

/** The destination id of the mint exit for `origin` (scheme://host[:port], as URL.origin writes it). */
export function mintExitId(backend: CryptoBackend, origin: string): Uint8Array {
  return backend.sha256(concatBytes(utf8(ONION_RELAY.labels.mintExit), utf8(canonicalOrigin(origin))));
}

/** `origin` if it is an http(s) origin in the one form URL.origin gives it; SchemaError otherwise. */
export function canonicalOrigin(origin: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(origin);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.origin !== origin) {
    throw new SchemaError(`origin: expected an http(s) origin such as https://mint.example, got ${JSON.stringify(String(origin).slice(0, 80))}`, {
      field: 'origin',
    });
  }
  return origin;
}

/** A mailbox's id: what routes and reply blocks name. Only the holder of `secret` may open the mailbox. */
export function mailboxId(backend: CryptoBackend, secret: Uint8Array): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) throw new SchemaError('mailbox secret: expected 32 bytes', { field: 'secret' });
  return backend.sha256(concatBytes(utf8(ONION_RELAY.labels.mailbox), secret));
}

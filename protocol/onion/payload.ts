// What a payload holds before the first layer goes on and after the last
// comes off: 16 zero bytes, the message's length, the message, and zeros to
// the payload's fixed size. The zero tag is the payload's only integrity
// check; LIONESS makes any change on the way garble it.

import { OnionError, SchemaError } from '../errors.ts';
import { LENGTH_BYTES, MAX_MESSAGE_BYTES, PAYLOAD_BYTES, ZERO_TAG_BYTES } from './layout.ts';
import { copyBytes } from '../bytes.ts';

export function encodePayload(message: Uint8Array): Uint8Array {
  if (!(message instanceof Uint8Array)) throw new SchemaError('message: expected bytes', { field: 'message' });
  if (message.length > MAX_MESSAGE_BYTES) {
    throw new SchemaError(`message: expected at most ${MAX_MESSAGE_BYTES} bytes in one packet, got ${message.length}`, { field: 'message' });
  }
  const out = new Uint8Array(PAYLOAD_BYTES);
  new DataView(out.buffer).setUint16(ZERO_TAG_BYTES, message.length, false);
  out.set(message, ZERO_TAG_BYTES + LENGTH_BYTES);
  return out;
}

/** The message in a fully peeled payload; ONION_PAYLOAD when it was changed on the way. */
export function decodePayload(plain: Uint8Array): Uint8Array {
  let tag = 0;
  for (let i = 0; i < ZERO_TAG_BYTES; i++) tag |= plain[i]!;
  if (tag !== 0) throw new OnionError('ONION_PAYLOAD', 'payload: the zero tag does not check out; it was changed on the way', { field: 'payload' });
  const length = new DataView(plain.buffer, plain.byteOffset, plain.byteLength).getUint16(ZERO_TAG_BYTES, false);
  const start = ZERO_TAG_BYTES + LENGTH_BYTES;
  // Past an intact tag these hold only by the sender's hand, but the format has one encoding of each message.
  if (length > MAX_MESSAGE_BYTES) throw new OnionError('ONION_PAYLOAD', `payload: a length of ${length} bytes, over ${MAX_MESSAGE_BYTES}`, { field: 'payload' });
  for (let i = start + length; i < plain.length; i++) {
    if (plain[i] !== 0) throw new OnionError('ONION_PAYLOAD', 'payload: padding that is not zero', { field: 'payload' });
  }
  return copyBytes(plain, start, start + length);
}

// A stealth stream's segment: what one onion packet carries between a
// stealth worker and a tasker's rendezvous (docs/stealth.md). The task wire
// needs its frames whole and in order (the Noise session's nonces count
// them), and onion routes promise neither: packets take different routes,
// wait different delays, and are lost with a relay. So the frames are one
// byte stream (each frame its length, then its bytes), cut into numbered
// segments that are acknowledged, reordered and sent again as TCP would:
//
//   segment = bencode {v: 1, c: stream id, q: seq, a: ack, d: data,
//                      s?: [reply block…], n?: reply blocks held, x?: 1}
//
// `q` numbers this segment's data (0, 1, 2…; a segment without data repeats
// the next number it would use), `a` is the next number the sender expects
// from the other end (everything below it arrived). Only the worker sends
// reply blocks (`s`); only the tasker says how many it holds (`n`), so the
// worker can keep it supplied. `x` ends the stream.

import { decode, encode, isDict } from '../bencode.ts';
import { ONION_STREAM } from '../constants.ts';
import { DecodeError, SchemaError, VersionError } from '../errors.ts';
import { bytes, int, list, literal, optional, struct, type Infer } from '../schema.ts';
import { MAX_MESSAGE_BYTES } from './layout.ts';
import { decodeSurb, encodeSurb, SURB_BYTES, type Surb } from './surb.ts';

/** Sequence numbers stay far below 2^53; a stream that long has long since ended. */
export const MAX_SEQ = 2 ** 40;
/** The most reply blocks a segment may say its sender holds. */
export const MAX_HELD = 1 << 16;

const schema = struct({
  v: literal(ONION_STREAM.version),
  c: bytes({ length: ONION_STREAM.idBytes }),
  q: int(0, MAX_SEQ),
  a: int(0, MAX_SEQ),
  d: bytes({ max: MAX_MESSAGE_BYTES }),
  s: optional(list(bytes({ length: SURB_BYTES }), { min: 1, max: ONION_STREAM.maxSurbs })),
  n: optional(int(0, MAX_HELD)),
  // Only 1: a flag that may also be 0 would give one segment two encodings.
  x: optional(literal(1)),
});

type Wire = Infer<typeof schema>;

export interface Segment {
  readonly stream: Uint8Array;
  readonly seq: number;
  readonly ack: number;
  readonly data: Uint8Array;
  readonly surbs?: readonly Surb[];
  /** Reply blocks the sender holds (the tasker's end). */
  readonly held?: number;
  readonly close?: boolean;
}

/** The encoded size of a segment with `dataBytes` of data and `surbs` reply blocks, at the widest numbers. */
function encodedSize(dataBytes: number, surbs: number): number {
  const wide = String(MAX_SEQ).length;
  let n = 2; // d … e
  n += `1:ai${'9'.repeat(wide)}e`.length;
  n += `1:c${ONION_STREAM.idBytes}:`.length + ONION_STREAM.idBytes;
  n += `1:d${dataBytes}:`.length + dataBytes;
  n += `1:ni${MAX_HELD}e`.length;
  n += `1:qi${'9'.repeat(wide)}e`.length;
  if (surbs > 0) n += '1:sl'.length + surbs * (`${SURB_BYTES}:`.length + SURB_BYTES) + 1;
  n += `1:vi${ONION_STREAM.version}e`.length + '1:xi1e'.length;
  return n;
}

/** The most data one segment carries beside `surbs` reply blocks. */
export function segmentCapacity(surbs: number): number {
  if (!Number.isInteger(surbs) || surbs < 0 || surbs > ONION_STREAM.maxSurbs) {
    throw new SchemaError(`surbs: expected 0..${ONION_STREAM.maxSurbs}`, { field: 'surbs' });
  }
  let n = MAX_MESSAGE_BYTES - encodedSize(0, surbs);
  while (encodedSize(n, surbs) > MAX_MESSAGE_BYTES) n--;
  return n;
}

export function encodeSegment(segment: Segment): Uint8Array {
  const surbs = segment.surbs ?? [];
  const wire: Wire = {
    v: ONION_STREAM.version,
    c: segment.stream,
    q: segment.seq,
    a: segment.ack,
    d: segment.data,
    ...(surbs.length > 0 ? { s: surbs.map(encodeSurb) } : {}),
    ...(segment.held === undefined ? {} : { n: segment.held }),
    ...(segment.close ? { x: 1 } : {}),
  };
  const out = encode(schema.write(wire));
  // The size first: read back, an oversize segment would only say the decoder's limit.
  if (out.length > MAX_MESSAGE_BYTES) {
    throw new SchemaError(`segment: expected at most ${MAX_MESSAGE_BYTES} bytes to fit one packet, got ${out.length}`, { field: 'segment.d' });
  }
  // Read back, so a segment we send is one we would accept.
  decodeSegment(out);
  return out;
}

/** DecodeError for bytes that are no segment, VersionError for another version, SchemaError (or a reply block's error) for bad fields. */
export function decodeSegment(message: Uint8Array): Segment {
  const value = decode(message, { maxBytes: MAX_MESSAGE_BYTES });
  if (!isDict(value)) throw new DecodeError('segment: expected a dictionary', { field: 'segment' });
  if (value['v'] !== ONION_STREAM.version) {
    throw new VersionError(`segment: expected version ${ONION_STREAM.version}, got ${String(value['v'])}`, value['v'], { field: 'segment.v' });
  }
  const read = schema.read(value, 'segment');
  return {
    stream: read.c,
    seq: read.q,
    ack: read.a,
    data: read.d,
    ...(read.s ? { surbs: read.s.map(decodeSurb) } : {}),
    ...(read.n === undefined ? {} : { held: read.n }),
    ...(read.x ? { close: true } : {}),
  };
}

/** One frame as the stream carries it: its length, big-endian, then its bytes. */
export function frameOnStream(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(ONION_STREAM.lengthBytes + frame.length);
  new DataView(out.buffer).setUint32(0, frame.length);
  out.set(frame, ONION_STREAM.lengthBytes);
  return out;
}

/**
 * Reads frames back out of the stream's bytes as they arrive in order. A
 * length past `maxFrame` is a DecodeError: the stream is then unreadable.
 */
export class FrameReader {
  #buffer = new Uint8Array(0);

  constructor(private readonly maxFrame: number) {}

  /** The frames `chunk` completes, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    const frames: Uint8Array[] = [];
    let at = 0;
    while (joined.length - at >= ONION_STREAM.lengthBytes) {
      const length = new DataView(joined.buffer, joined.byteOffset + at).getUint32(0);
      if (length > this.maxFrame) throw new DecodeError(`stream: a frame of ${length} bytes is longer than ${this.maxFrame}`, { field: 'frame' });
      if (joined.length - at - ONION_STREAM.lengthBytes < length) break;
      frames.push(joined.slice(at + ONION_STREAM.lengthBytes, at + ONION_STREAM.lengthBytes + length));
      at += ONION_STREAM.lengthBytes + length;
    }
    this.#buffer = joined.slice(at);
    return frames;
  }

  /** Bytes of a frame not yet complete. */
  get pending(): number {
    return this.#buffer.length;
  }
}

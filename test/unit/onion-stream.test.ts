// A stealth stream's segments and frames (protocol/onion/stream.ts,
// docs/stealth.md): the vectors in test/vectors/onion-stream.json both ways,
// their reply blocks rebuilt with every backend, each segment's capacity at
// its edge, and frames read back out of the stream however it is cut.

import { describe, expect, it } from 'vitest';
import vectors from '../vectors/onion-stream.json' with { type: 'json' };
import { concatBytes, fromHex, toHex } from '../../protocol/bytes.ts';
import { ONION_STREAM } from '../../protocol/constants.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { DecodeError, SchemaError, SpareCyclesError } from '../../protocol/errors.ts';
import { createSurb, decodeSurb, encodeSurb, MAX_MESSAGE_BYTES, SURB_BYTES, type Surb } from '../../protocol/onion/index.ts';
import { decodeSegment, encodeSegment, FrameReader, frameOnStream, MAX_HELD, MAX_SEQ, segmentCapacity, type Segment } from '../../protocol/onion/stream.ts';
import { caught } from '../support/caught.ts';

/** A segment's fields as the vectors write them: bytes in hex. */
interface Fields {
  stream: string;
  seq: number;
  ack: number;
  data: string;
  surbs?: string[];
  held?: number;
  close?: boolean;
}

function segmentOf(fields: Fields): Segment {
  return {
    stream: fromHex(fields.stream),
    seq: fields.seq,
    ack: fields.ack,
    data: fromHex(fields.data),
    ...(fields.surbs ? { surbs: fields.surbs.map((s) => decodeSurb(fromHex(s))) } : {}),
    ...(fields.held === undefined ? {} : { held: fields.held }),
    ...(fields.close ? { close: true } : {}),
  };
}

function fieldsOf(segment: Segment): Fields {
  return {
    stream: toHex(segment.stream),
    seq: segment.seq,
    ack: segment.ack,
    data: toHex(segment.data),
    ...(segment.surbs ? { surbs: segment.surbs.map((s) => toHex(encodeSurb(s))) } : {}),
    ...(segment.held === undefined ? {} : { held: segment.held }),
    ...(segment.close ? { close: true } : {}),
  };
}

const surbs: Surb[] = vectors.surbs.made.map((m) => decodeSurb(fromHex(m.encoded)));
const stream = fromHex(vectors.valid[0]!.fields.stream);

describe('stealth stream vectors (test/vectors/onion-stream.json)', () => {
  it('pin the constants the format is made of', () => {
    expect(vectors.version).toBe(ONION_STREAM.version);
    expect(vectors.idBytes).toBe(ONION_STREAM.idBytes);
    expect(vectors.maxSurbs).toBe(ONION_STREAM.maxSurbs);
    expect(vectors.lengthBytes).toBe(ONION_STREAM.lengthBytes);
    expect(vectors.maxSeq).toBe(MAX_SEQ);
    expect(vectors.maxHeld).toBe(MAX_HELD);
    expect(vectors.maxMessageBytes).toBe(MAX_MESSAGE_BYTES);
    expect(vectors.surbBytes).toBe(SURB_BYTES);
    expect(vectors.capacity).toEqual(Array.from({ length: ONION_STREAM.maxSurbs + 1 }, (_, n) => segmentCapacity(n)));
  });

  it('rebuild their reply blocks from the fixed keys with every backend', () => {
    for (const backend of [nodeCrypto, nobleCrypto, naclCrypto]) {
      const route = vectors.surbs.route.map((h) => ({ id: fromHex(h.id), onionKey: backend.x25519PublicKey(fromHex(h.secret)) }));
      expect(route.map((h) => toHex(h.onionKey))).toEqual(vectors.surbs.route.map((h) => h.onionKey));
      for (const made of vectors.surbs.made) {
        const { surb } = createSurb(backend, {
          epoch: vectors.surbs.epoch,
          route,
          mailbox: fromHex(vectors.surbs.mailbox),
          id: fromHex(made.id),
          ephemeral: fromHex(made.ephemeral),
        });
        expect(toHex(encodeSurb(surb))).toBe(made.encoded);
      }
    }
  });

  it('cover segments with and without data, with one and six reply blocks, held, and a close', () => {
    const all = vectors.valid.map((v) => v.fields as Fields);
    expect(all.some((f) => f.data === '' && !f.surbs)).toBe(true);
    expect(all.some((f) => f.data !== '' && f.surbs?.length === 1)).toBe(true);
    expect(all.some((f) => f.data !== '' && f.surbs?.length === ONION_STREAM.maxSurbs)).toBe(true);
    expect(all.some((f) => f.held !== undefined)).toBe(true);
    expect(all.some((f) => f.close)).toBe(true);
  });

  it('encode their fields to their bytes', () => {
    for (const v of vectors.valid) expect(toHex(encodeSegment(segmentOf(v.fields as Fields))), v.name).toBe(v.encoded);
  });

  it('decode their bytes to their fields', () => {
    for (const v of vectors.valid) expect(fieldsOf(decodeSegment(fromHex(v.encoded))), v.name).toEqual(v.fields);
  });

  it('refuse every invalid segment with its typed error', () => {
    expect(new Set(vectors.invalid.map((v) => v.code))).toEqual(new Set(['DECODE', 'VERSION', 'SCHEMA']));
    for (const v of vectors.invalid) {
      const error = caught(() => decodeSegment(fromHex(v.encoded)));
      expect(error, v.name).toBeInstanceOf(SpareCyclesError);
      expect((error as SpareCyclesError).code, v.name).toBe(v.code);
    }
  });

  it('carry frames on the stream as length and bytes, and read them back', () => {
    const frames = vectors.frames.frames.map(fromHex);
    expect(toHex(concatBytes(...frames.map(frameOnStream)))).toBe(vectors.frames.stream);
    expect(new FrameReader(1024).push(fromHex(vectors.frames.stream)).map(toHex)).toEqual(vectors.frames.frames);
  });
});

describe('segments', () => {
  it('keep nothing of the bytes they were decoded from', () => {
    const bytes = fromHex(vectors.valid.find((v) => v.fields.data !== '' && (v.fields as Fields).surbs)!.encoded);
    const segment = decodeSegment(bytes);
    const before = fieldsOf(segment);
    bytes.fill(0);
    expect(fieldsOf(segment)).toEqual(before);
  });

  it('are not encoded when they would not decode', () => {
    const base: Segment = { stream, seq: 0, ack: 0, data: new Uint8Array(0) };
    for (const bad of [
      { ...base, stream: stream.subarray(1) },
      { ...base, seq: MAX_SEQ + 1 },
      { ...base, ack: -1 },
      { ...base, held: MAX_HELD + 1 },
      { ...base, surbs: [...surbs, surbs[0]!] },
    ]) {
      expect(caught(() => encodeSegment(bad))).toBeInstanceOf(SchemaError);
    }
  });

  it('at capacity fit one packet beside n reply blocks, and one byte more does not', () => {
    for (let n = 0; n <= ONION_STREAM.maxSurbs; n++) {
      const capacity = segmentCapacity(n);
      // The widest a segment gets: every number at its max, every optional field there.
      const widest = (bytes: number): Segment => ({
        stream,
        seq: MAX_SEQ,
        ack: MAX_SEQ,
        data: new Uint8Array(bytes).fill(0x61),
        ...(n > 0 ? { surbs: surbs.slice(0, n) } : {}),
        held: MAX_HELD,
        close: true,
      });
      const full = encodeSegment(widest(capacity));
      expect(full.length, `${n} reply blocks`).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      expect(decodeSegment(full).data.length).toBe(capacity);
      // Narrow numbers make the segment shorter, never longer.
      expect(encodeSegment({ stream, seq: 0, ack: 0, data: new Uint8Array(capacity), ...(n > 0 ? { surbs: surbs.slice(0, n) } : {}) }).length).toBeLessThan(full.length);
      const over = caught(() => encodeSegment(widest(capacity + 1)));
      expect(over, `${n} reply blocks`).toBeInstanceOf(SchemaError);
      expect((over as SchemaError).field).toBe('segment.d');
      expect((over as SchemaError).message).toMatch(/fit one packet/);
    }
    expect(segmentCapacity(0)).toBeGreaterThan(segmentCapacity(ONION_STREAM.maxSurbs));
  });

  it('say clearly when they are far too large for a packet', () => {
    const error = caught(() => encodeSegment({ stream, seq: 0, ack: 0, data: new Uint8Array(MAX_MESSAGE_BYTES + 100) }));
    expect(error).toBeInstanceOf(SchemaError);
    expect((error as SchemaError).message).toMatch(new RegExp(`at most ${MAX_MESSAGE_BYTES} bytes`));
  });

  it('have a capacity only for 0 to maxSurbs reply blocks', () => {
    for (const n of [-1, ONION_STREAM.maxSurbs + 1, 1.5, Number.NaN]) {
      expect(caught(() => segmentCapacity(n)), String(n)).toBeInstanceOf(SchemaError);
    }
  });
});

describe('FrameReader', () => {
  const frames = vectors.frames.frames.map(fromHex);
  const bytes = fromHex(vectors.frames.stream);

  it('gives every frame whole and in order wherever the stream is cut once', () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const reader = new FrameReader(1024);
      const got = [...reader.push(bytes.subarray(0, cut)), ...reader.push(bytes.subarray(cut))];
      expect(got.map(toHex), `cut at ${cut}`).toEqual(frames.map(toHex));
      expect(reader.pending).toBe(0);
    }
  });

  it('gives every frame wherever the stream is cut twice', () => {
    const short = concatBytes(...[new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([4, 5])].map(frameOnStream));
    for (let a = 0; a <= short.length; a++) {
      for (let b = a; b <= short.length; b++) {
        const reader = new FrameReader(16);
        const got = [short.subarray(0, a), short.subarray(a, b), short.subarray(b)].flatMap((part) => reader.push(part));
        expect(got.map(toHex), `cut at ${a} and ${b}`).toEqual(['010203', '', '0405']);
      }
    }
  });

  it('gives every frame when the stream comes a byte at a time', () => {
    const reader = new FrameReader(1024);
    const got: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) {
      got.push(...reader.push(bytes.subarray(i, i + 1)));
      expect(reader.pending).toBeLessThanOrEqual(ONION_STREAM.lengthBytes + 300);
    }
    expect(got.map(toHex)).toEqual(frames.map(toHex));
  });

  it('takes a frame of exactly the largest length', () => {
    const frame = new Uint8Array(64).fill(7);
    expect(new FrameReader(64).push(frameOnStream(frame))).toEqual([frame]);
  });

  it('refuses a frame longer than the largest as soon as its length arrives', () => {
    const reader = new FrameReader(64);
    const head = frameOnStream(new Uint8Array(65)).subarray(0, ONION_STREAM.lengthBytes);
    expect(reader.push(head.subarray(0, 3))).toEqual([]);
    const error = caught(() => reader.push(head.subarray(3)));
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as DecodeError).field).toBe('frame');
  });

  it('refuses a length past any frame, 2^32 - 1', () => {
    const error = caught(() => new FrameReader(1 << 20).push(new Uint8Array([0xff, 0xff, 0xff, 0xff])));
    expect(error).toBeInstanceOf(DecodeError);
  });
});

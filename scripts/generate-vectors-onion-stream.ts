// Regenerates test/vectors/onion-stream.json: the segments of a stealth
// stream (protocol/onion/stream.ts, docs/stealth.md) from fixed fields:
// segments with and without data, with one and six reply blocks made from
// fixed relay keys and ephemerals, with a count of reply blocks held, with a
// close, at the widest numbers and at capacity; frames as the stream carries
// them; each segment's capacity; and bytes the decoder must refuse with the
// error it must raise. Deterministic; every backend must build the same
// bytes, or nothing is written.
//
//   npx tsx scripts/generate-vectors-onion-stream.ts

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encode, type BInput } from '../protocol/bencode.ts';
import { concatBytes, equalBytes, toHex, utf8 } from '../protocol/bytes.ts';
import { ONION_STREAM } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { naclCrypto } from '../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../protocol/crypto/noble.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { createSurb, encodeSurb, MAX_MESSAGE_BYTES, SURB_BYTES, type Surb } from '../protocol/onion/index.ts';
import { decodeSegment, encodeSegment, frameOnStream, MAX_HELD, MAX_SEQ, segmentCapacity, type Segment } from '../protocol/onion/stream.ts';
import { det } from './vector-kit.ts';

const EPOCH = 480_000;

function build(backend: CryptoBackend) {
  const hops = [0, 1, 2].map((i) => ({
    id: det(`onion-stream/relay/${i}/id`, 32),
    onionKey: backend.x25519PublicKey(det(`onion-stream/relay/${i}/secret`, 32)),
  }));
  const mailbox = det('onion-stream/mailbox', 32);
  const surbs: Surb[] = Array.from({ length: ONION_STREAM.maxSurbs }, (_, i) =>
    createSurb(backend, {
      epoch: EPOCH,
      route: hops,
      mailbox,
      id: det(`onion-stream/surb/${i}/id`, 16),
      ephemeral: det(`onion-stream/surb/${i}/ephemeral`, 32),
    }).surb,
  );
  const stream = det('onion-stream/stream-id', ONION_STREAM.idBytes);
  const frames = [utf8('a first frame'), new Uint8Array(0), det('onion-stream/frame', 300)];
  const carried = concatBytes(...frames.map(frameOnStream));
  const none = new Uint8Array(0);

  const valid: { name: string; segment: Segment }[] = [
    { name: 'the first segment: reply blocks and no data', segment: { stream, seq: 0, ack: 0, data: none, surbs: surbs.slice(0, 1) } },
    { name: 'an acknowledgement without data', segment: { stream, seq: 5, ack: 3, data: none } },
    { name: 'data', segment: { stream, seq: 0, ack: 0, data: carried } },
    { name: 'data and one reply block', segment: { stream, seq: 1, ack: 2, data: frameOnStream(frames[0]!), surbs: surbs.slice(0, 1) } },
    { name: 'data and six reply blocks', segment: { stream, seq: 7, ack: 4, data: frameOnStream(frames[2]!), surbs } },
    { name: "the tasker's data and reply blocks held", segment: { stream, seq: 2, ack: 8, data: frameOnStream(frames[0]!), held: 5 } },
    { name: 'none held', segment: { stream, seq: 3, ack: 8, data: none, held: 0 } },
    { name: 'a close', segment: { stream, seq: 9, ack: 12, data: none, close: true } },
    { name: 'the widest numbers', segment: { stream, seq: MAX_SEQ, ack: MAX_SEQ, data: none, held: MAX_HELD, close: true } },
    { name: 'data at capacity beside six reply blocks', segment: { stream, seq: 10, ack: 10, data: det('onion-stream/full', segmentCapacity(ONION_STREAM.maxSurbs)), surbs } },
  ];

  const good = (overrides: Record<string, BInput>) => encode({ v: ONION_STREAM.version, c: stream, q: 0, a: 0, d: none, ...overrides });
  const surb0 = encodeSurb(surbs[0]!);
  const otherVersionSurb = surb0.slice();
  otherVersionSurb[0] = 2;
  // A segment one byte longer than a packet carries: the data grows until it is.
  const tooLong = (() => {
    let n = MAX_MESSAGE_BYTES - good({}).length - 8;
    while (good({ d: new Uint8Array(n) }).length < MAX_MESSAGE_BYTES + 1) n++;
    const out = good({ d: new Uint8Array(n) });
    if (out.length !== MAX_MESSAGE_BYTES + 1) throw new SpareCyclesError('INTERNAL', `too long: ${out.length} bytes, not ${MAX_MESSAGE_BYTES + 1}`);
    return out;
  })();

  const invalid: [string, Uint8Array][] = [
    ['not bencode', utf8('d1:vi1e')],
    ['not a dictionary', encode([ONION_STREAM.version, stream])],
    ['too long', tooLong],
    ['keys out of order', utf8(`d1:vi1e1:ai0e1:c16:${'s'.repeat(16)}1:d0:1:qi0ee`)],
    ['another version', good({ v: 2 })],
    ['no version', encode({ a: 0, c: stream, d: none, q: 0 })],
    ['an unknown field', good({ z: 1 })],
    ['no data field', encode({ v: ONION_STREAM.version, c: stream, q: 0, a: 0 })],
    ['a stream id of 15 bytes', good({ c: stream.subarray(0, 15) })],
    ['seq past the max', good({ q: MAX_SEQ + 1 })],
    ['ack past the max', good({ a: MAX_SEQ + 1 })],
    ['a negative seq', good({ q: -1 })],
    ['held past the max', good({ n: MAX_HELD + 1 })],
    ['too many reply blocks', good({ s: Array.from({ length: ONION_STREAM.maxSurbs + 1 }, () => surb0) })],
    ['an empty list of reply blocks', good({ s: [] })],
    ['a reply block of the wrong length', good({ s: [surb0.subarray(0, SURB_BYTES - 1)] })],
    ['a reply block of another version', good({ s: [otherVersionSurb] })],
    ['a close of 0', good({ x: 0 })],
    ['a close of 2', good({ x: 2 })],
  ];

  return {
    description:
      'Segments of a stealth stream (protocol/onion/stream.ts, docs/stealth.md): bencode {v, c stream id, q seq, a ack, d data, s? reply blocks, n? reply blocks held, x? 1 to close}. `valid[i].fields` encode to `encoded` and `encoded` decodes to them; reply blocks are the encoded SURBs of `surbs.made`, built over `surbs.route` under `surbs.epoch` from fixed ids and ephemerals. `capacity[n]` is the most data a segment carries beside n reply blocks. `frames.stream` is `frames.frames` as the stream carries them, each its 4-byte big-endian length then its bytes. `invalid[i].encoded` must be refused with the error code `code`. All bytes are hex.',
    generatedBy: 'npx tsx scripts/generate-vectors-onion-stream.ts',
    version: ONION_STREAM.version,
    idBytes: ONION_STREAM.idBytes,
    maxSurbs: ONION_STREAM.maxSurbs,
    lengthBytes: ONION_STREAM.lengthBytes,
    maxSeq: MAX_SEQ,
    maxHeld: MAX_HELD,
    maxMessageBytes: MAX_MESSAGE_BYTES,
    surbBytes: SURB_BYTES,
    capacity: Array.from({ length: ONION_STREAM.maxSurbs + 1 }, (_, n) => segmentCapacity(n)),
    surbs: {
      epoch: EPOCH,
      route: hops.map((h, i) => ({ id: toHex(h.id), secret: toHex(det(`onion-stream/relay/${i}/secret`, 32)), onionKey: toHex(h.onionKey) })),
      mailbox: toHex(mailbox),
      made: surbs.map((s, i) => ({
        id: toHex(det(`onion-stream/surb/${i}/id`, 16)),
        ephemeral: toHex(det(`onion-stream/surb/${i}/ephemeral`, 32)),
        encoded: toHex(encodeSurb(s)),
      })),
    },
    frames: { frames: frames.map(toHex), stream: toHex(carried) },
    valid: valid.map(({ name, segment }) => {
      const encoded = encodeSegment(segment);
      const back = decodeSegment(encoded);
      if (!equalBytes(encodeSegment(back), encoded)) throw new SpareCyclesError('INTERNAL', `${name}: does not read back to the same bytes`);
      return {
        name,
        fields: {
          stream: toHex(segment.stream),
          seq: segment.seq,
          ack: segment.ack,
          data: toHex(segment.data),
          ...(segment.surbs ? { surbs: segment.surbs.map((s) => toHex(encodeSurb(s))) } : {}),
          ...(segment.held === undefined ? {} : { held: segment.held }),
          ...(segment.close ? { close: true } : {}),
        },
        encoded: toHex(encoded),
      };
    }),
    invalid: invalid.map(([name, bytes]) => {
      try {
        decodeSegment(bytes);
      } catch (error) {
        if (!(error instanceof SpareCyclesError)) throw error;
        return { name, encoded: toHex(bytes), code: error.code };
      }
      throw new SpareCyclesError('INTERNAL', `${name}: decoded, but must not`);
    }),
  };
}

const built = [nodeCrypto, nobleCrypto, naclCrypto].map((b) => JSON.stringify(build(b), null, 2));
if (built.some((b) => b !== built[0])) throw new SpareCyclesError('INTERNAL', 'onion-stream vectors: the backends disagree');
const path = fileURLToPath(new URL('../test/vectors/onion-stream.json', import.meta.url));
writeFileSync(path, `${built[0]}\n`);
console.log(`wrote ${path}`);

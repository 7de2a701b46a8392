// Fuzz of a relay's onion packet processing (protocol/onion/): random
// bytes, and real packets mutated on their way, at every hop of a route.
// Whatever arrives, processing returns a result or throws one of our typed
// errors, leaves its input as it was, and never passes on a packet whose
// header was changed. Reply blocks and replies get the same treatment.
// Every run costs a relay's two X25519s, so the crypto-bound properties run
// a tenth of FUZZ_RUNS (`npm run fuzz` runs more).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes } from '../../../protocol/bytes.ts';
import { ONION } from '../../../protocol/constants.ts';
import { nodeCrypto } from '../../../protocol/crypto/node.ts';
import { DecodeError, KeyError, OnionError, SchemaError, VersionError } from '../../../protocol/errors.ts';
import {
  createPacket,
  createSurb,
  decodeSurb,
  encodeSurb,
  HEADER_BYTES,
  MemoryReplayStore,
  openReply,
  PAYLOAD_BYTES,
  processPacket,
  replyPacket,
  SURB_BYTES,
  type Processed,
} from '../../../protocol/onion/index.ts';
import { typed, type ErrorClass } from '../../support/fuzz.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10000);
const CRYPTO_RUNS = Math.max(100, Math.floor(RUNS / 10));
const TIMEOUT = Math.max(60_000, RUNS * 5);

const PACKET_ERRORS: readonly ErrorClass[] = [DecodeError, VersionError, KeyError, OnionError];


const EPOCH = 77;
const relays = Array.from({ length: ONION.maxHops }, () => {
  const secret = nodeCrypto.randomBytes(32);
  return { secret, id: nodeCrypto.randomBytes(32), onionKey: nodeCrypto.x25519PublicKey(secret) };
});
const route = relays.map((r) => ({ id: r.id, onionKey: r.onionKey }));
const keysOf = (i: number) => ({ secretFor: (e: number) => (e === EPOCH ? relays[i]!.secret : undefined) });

/** Every packet a relay receives on a route of every length: what to mutate. */
const honest: { hop: number; packet: Uint8Array }[] = [];
for (let n = 1; n <= ONION.maxHops; n++) {
  let { packet } = createPacket(nodeCrypto, { epoch: EPOCH, route: route.slice(0, n), destination: new Uint8Array(32), message: new Uint8Array(n * 10) });
  for (let hop = 0; hop < n; hop++) {
    honest.push({ hop, packet });
    const out = processPacket(nodeCrypto, packet, { keys: keysOf(hop), replay: new MemoryReplayStore() });
    if (out.kind === 'forward') packet = out.packet;
  }
}

type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'delete'; at: number }
  | { kind: 'splice'; at: number; other: number }
  | { kind: 'none' };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }) },
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  // The header of one packet with the tail of another from the same hop.
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), other: fc.nat() }),
  fc.constant({ kind: 'none' as const }),
);

function mutate(packet: Uint8Array, hop: number, m: Mutation): Uint8Array {
  const at = 'at' in m ? m.at % packet.length : 0;
  switch (m.kind) {
    case 'none':
      return packet.slice();
    case 'flip': {
      const out = packet.slice();
      out[at] = out[at] === m.byte ? out[at]! ^ 0x80 : m.byte;
      return out;
    }
    case 'truncate':
      return packet.slice(0, at);
    case 'insert':
      return Uint8Array.from([...packet.subarray(0, at), m.byte, ...packet.subarray(at)]);
    case 'delete':
      return Uint8Array.from([...packet.subarray(0, at), ...packet.subarray(at + 1)]);
    case 'splice': {
      const peers = honest.filter((h) => h.hop === hop && !equalBytes(h.packet, packet));
      const out = packet.slice();
      // The fifth hop is on one route only: no other packet to splice in.
      if (peers.length > 0) out.set(peers[m.other % peers.length]!.packet.subarray(at), at);
      return out;
    }
  }
}

/** The honest packet for `hop` whose header `bytes` carries, if any. */
const honestHeader = (bytes: Uint8Array, hop: number) =>
  honest.find((h) => h.hop === hop && bytes.length === ONION.packetBytes && equalBytes(h.packet.subarray(0, HEADER_BYTES), bytes.subarray(0, HEADER_BYTES)));

/**
 * Bytes of a packet's size or near it, cheaply: fast-check draws a short
 * pattern and a length, and the pattern repeats with a counter mixed in (so
 * no two blocks are the same). Drawing 4 KB byte by byte costs more than
 * processing it.
 */
const sized = (lengths: fc.Arbitrary<number>) =>
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), lengths).map(([pattern, length]) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = pattern[i % pattern.length]! ^ ((i / pattern.length) & 0xff);
    return out;
  });

describe('fuzz: onion packet processing', () => {
  it(
    'random bytes of any length → a typed error',
    () => {
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), sized(fc.integer({ min: ONION.packetBytes - 2, max: ONION.packetBytes + 2 }))), (bytes) => {
          const copy = bytes.slice();
          const replay = new MemoryReplayStore();
          expect(typed(() => processPacket(nodeCrypto, bytes, { keys: keysOf(0), replay }), PACKET_ERRORS, { exact: false }).ok).toBe(false);
          expect(equalBytes(bytes, copy)).toBe(true);
          expect(replay.size).toBe(0);
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    'random packets of the right size, version and epoch → a typed error, never a result',
    () => {
      fc.assert(
        fc.property(sized(fc.constant(ONION.packetBytes)), (bytes) => {
          bytes[0] = ONION.version;
          new DataView(bytes.buffer).setUint32(1, EPOCH, false);
          const replay = new MemoryReplayStore();
          const got = typed(() => processPacket(nodeCrypto, bytes, { keys: keysOf(0), replay }), PACKET_ERRORS, { exact: false });
          expect(got.ok).toBe(false);
          expect(replay.size).toBe(0);
        }),
        { numRuns: CRYPTO_RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    'real packets mutated on any link → a typed error unless the header is intact; a changed payload never delivers',
    () => {
      let refused = 0;
      fc.assert(
        fc.property(fc.nat(honest.length - 1), mutationArb, (which, m) => {
          const { hop, packet } = honest[which]!;
          const bytes = mutate(packet, hop, m);
          const copy = bytes.slice();
          const got = typed(() => processPacket(nodeCrypto, bytes, { keys: keysOf(hop), replay: new MemoryReplayStore() }), PACKET_ERRORS, { exact: false });
          expect(equalBytes(bytes, copy)).toBe(true);
          if (!got.ok) {
            refused++;
            return;
          }
          // Accepted: its header is one that was sent to this hop, and a delivery is of a packet as it was sent.
          const sent = honestHeader(bytes, hop);
          expect(sent).toBeDefined();
          const out: Processed = got.value;
          if (out.kind === 'deliver') expect(equalBytes(bytes, sent!.packet)).toBe(true);
        }),
        { numRuns: CRYPTO_RUNS },
      );
      expect(refused).toBeGreaterThan(0);
    },
    TIMEOUT,
  );
});

describe('fuzz: reply blocks and replies', () => {
  const made = createSurb(nodeCrypto, { epoch: EPOCH, route: route.slice(0, 3), mailbox: new Uint8Array(32) });
  const surbBytes = encodeSurb(made.surb);

  it(
    'decodeSurb: random and mutated bytes → a reply block or a typed error',
    () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: SURB_BYTES + 2 }),
            fc.tuple(fc.nat(SURB_BYTES - 1), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
              const out = surbBytes.slice();
              out[at] = byte;
              return out;
            }),
          ),
          (bytes) => {
            const got = typed(() => decodeSurb(bytes), [DecodeError, VersionError, KeyError, SchemaError], { exact: false });
            if (got.ok) expect(equalBytes(encodeSurb(got.value), bytes)).toBe(true);
          },
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    'openReply: any payload but the one its reply block brought → ONION_PAYLOAD',
    () => {
      fc.assert(
        fc.property(sized(fc.constant(PAYLOAD_BYTES)), (payload) => {
          const got = typed(() => openReply(nodeCrypto, made.secrets, payload), [OnionError], { exact: false });
          expect(got.ok).toBe(false);
          if (!got.ok) expect(got.error.code).toBe('ONION_PAYLOAD');
        }),
        { numRuns: CRYPTO_RUNS },
      );
      // And the one it brought opens.
      const reply = replyPacket(nodeCrypto, made.surb, new Uint8Array([1, 2, 3]));
      let p = reply.packet;
      for (let hop = 0; hop < 3; hop++) {
        const out = processPacket(nodeCrypto, p, { keys: keysOf(hop), replay: new MemoryReplayStore() });
        if (out.kind === 'forward') p = out.packet;
        else if (out.kind === 'reply') expect(openReply(nodeCrypto, made.secrets, out.payload)).toEqual(new Uint8Array([1, 2, 3]));
      }
    },
    TIMEOUT,
  );
});

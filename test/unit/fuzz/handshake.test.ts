// Fuzz of the task-wire handshake's decoders (protocol/handshake.ts over
// protocol/noise.ts): whatever a peer sends as an initiation, a response, a
// transport frame or a handshake payload, the answer is a value or a
// HandshakeError / VersionError, never a crash; a refused initiation moves
// nothing the responder remembers, and a refused frame leaves the session able
// to open the next good one. FUZZ_RUNS sets the runs (`npm run fuzz` runs more).

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import vectors from '../../vectors/handshake.json' with { type: 'json' };
import { encode, type BInput } from '../../../protocol/bencode.ts';
import { fromHex } from '../../../protocol/bytes.ts';
import { Identity } from '../../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../../protocol/crypto/node.ts';
import { HandshakeError, SpareCyclesError, VersionError } from '../../../protocol/errors.ts';
import { Initiation, TimestampGuard, decodeFrame, encodeFrame, respond, taskPrologue, vouchFor } from '../../../protocol/handshake.ts';
import { IkInitiator } from '../../../protocol/noise.ts';

// Every run does X25519 work, so a twentieth of the runs of the pure decoders.
const RUNS = Math.max(200, Math.floor(Number(process.env.FUZZ_RUNS ?? 10000) / 20));
const TIMEOUT = Math.max(60_000, RUNS * 50);
const params = { numRuns: RUNS };
const backend = nodeCrypto;
const ALLOWED = [HandshakeError, VersionError];

function refusedOrValue<T>(f: () => T): { ok: true; value: T } | { ok: false } {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    if (!(error instanceof SpareCyclesError) || !ALLOWED.some((c) => error.constructor === c)) {
      throw new Error(`expected a HandshakeError or VersionError, got ${String(error)}`, { cause: error });
    }
    return { ok: false };
  }
}

const worker = Identity.fromSeed(backend, fromHex(vectors.workerSeed));
const tasker = Identity.fromSeed(backend, fromHex(vectors.taskerSeed));
const infoHash = fromHex(vectors.infoHash);
const initiation = fromHex(vectors.initiation);
const response = fromHex(vectors.response);

/** A valid frame with bytes flipped, cut, or spliced in. */
function mutated(valid: Uint8Array) {
  return fc.oneof(
    fc.uint8Array({ maxLength: 400 }),
    fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
      const out = valid.slice();
      out[at]! ^= x;
      return out;
    }),
    fc.nat(valid.length).map((n) => valid.subarray(0, n)),
    fc.tuple(fc.nat(valid.length), fc.uint8Array({ maxLength: 40 })).map(([at, extra]) => Uint8Array.from([...valid.subarray(0, at), ...extra, ...valid.subarray(at)])),
  );
}

describe('fuzzed handshake frames', () => {
  it(
    'an initiation: refused with a typed error, and only a valid one is remembered',
    () => {
      fc.assert(
        fc.property(mutated(initiation), (frame) => {
          const timestamps = new TimestampGuard();
          const got = refusedOrValue(() => respond({ backend, identity: tasker, infoHash, timestamps, caps: [], agent: '' }, frame));
          expect(timestamps.size).toBe(got.ok ? 1 : 0);
        }),
        params,
      );
    },
    TIMEOUT,
  );

  it(
    'a response: refused with a typed error unless it is the one answer',
    () => {
      fc.assert(
        fc.property(mutated(response), (frame) => {
          const start = new Initiation({
            backend,
            identity: worker,
            infoHash,
            responder: { key: tasker.publicKey, noise: tasker.noise.publicKey },
            ts: vectors.ts,
            ...vectors.worker,
            ephemeral: fromHex(vectors.workerEphemeral),
          });
          const got = refusedOrValue(() => start.finish(frame));
          if (got.ok) expect(frame).toEqual(response);
        }),
        params,
      );
    },
    TIMEOUT,
  );

  it(
    'a handshake payload of any shape: refused with a typed error',
    () => {
      const value: fc.Arbitrary<BInput> = fc.letrec<{ v: BInput }>((tie) => ({
        v: fc.oneof(
          { depthSize: 'small' },
          fc.integer(),
          fc.uint8Array({ maxLength: 70 }),
          fc.constantFrom(worker.publicKey, vouchFor(worker), 'wasm'),
          fc.array(tie('v'), { maxLength: 4 }),
          fc.dictionary(fc.constantFrom('key', 'sig', 'ts', 'caps', 'agent', 'x'), tie('v'), { maxKeys: 6 }),
        ),
      })).v;
      fc.assert(
        fc.property(fc.oneof(value.map((v) => encode(v)), fc.uint8Array({ maxLength: 200 })), (payload) => {
          const noise = new IkInitiator({ backend, prologue: taskPrologue(infoHash), s: worker.noise, rs: tasker.noise.publicKey });
          const frame = encodeFrame('initiation', noise.writeMessage1(payload));
          refusedOrValue(() => respond({ backend, identity: tasker, infoHash, timestamps: new TimestampGuard(), caps: [], agent: '' }, frame));
        }),
        params,
      );
    },
    TIMEOUT,
  );

  it(
    'a transport frame: refused with a typed error, and the next good frame still opens',
    () => {
      const start = new Initiation({ backend, identity: worker, infoHash, responder: { key: tasker.publicKey, noise: tasker.noise.publicKey }, ts: 1, caps: [], agent: '' });
      const answer = respond({ backend, identity: tasker, infoHash, timestamps: new TimestampGuard(), caps: [], agent: '' }, start.frame);
      const { session } = start.finish(answer.frame);
      let n = 0;
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 3 }), fc.nat(80), (plaintext, how, at) => {
          const good = session.seal(plaintext);
          const bad = good.slice();
          if (how === 0) bad[at % bad.length]! ^= 1;
          const frame = how === 0 ? bad : how === 1 ? good.subarray(0, at % good.length) : how === 2 ? Uint8Array.of(1, 3, ...bad.subarray(3)) : bad.subarray(1);
          refusedOrValue(() => answer.session.open(frame));
          refusedOrValue(() => decodeFrame(frame));
          expect(answer.session.open(good)).toEqual(plaintext);
          n++;
        }),
        params,
      );
      expect(n).toBe(RUNS);
    },
    TIMEOUT,
  );
});

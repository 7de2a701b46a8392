// The task-wire handshake (protocol/handshake.ts) against its vectors in
// test/vectors/handshake.json through every backend, every refusal the
// vectors list, and the responder's memory of timestamps that makes a
// replayed initiation fail.

import { describe, expect, it } from 'vitest';
import vectors from '../vectors/handshake.json' with { type: 'json' };
import { fromHex, toHex } from '../../protocol/bytes.ts';
import type { CryptoBackend } from '../../protocol/crypto/backend.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { nodeCrypto, opensslCrypto } from '../../protocol/crypto/node.ts';
import { HandshakeError, type SpareCyclesError } from '../../protocol/errors.ts';
import {
  HANDSHAKE_SKEW_MS,
  HandshakeClock,
  Initiation,
  MAX_TRANSPORT_PLAINTEXT,
  TimestampGuard,
  decodeFrame,
  encodeFrame,
  respond,
  taskPrologue,
} from '../../protocol/handshake.ts';
import { caught } from '../support/caught.ts';

const BACKENDS: CryptoBackend[] = [nodeCrypto, opensslCrypto, naclCrypto, nobleCrypto];
const INFO_HASH = fromHex(vectors.infoHash);

function fixed(backend: CryptoBackend) {
  const worker = Identity.fromSeed(backend, fromHex(vectors.workerSeed));
  const tasker = Identity.fromSeed(backend, fromHex(vectors.taskerSeed));
  const initiation = () =>
    new Initiation({
      backend,
      identity: worker,
      infoHash: INFO_HASH,
      responder: { key: tasker.publicKey, noise: tasker.noise.publicKey },
      ts: vectors.ts,
      ...vectors.worker,
      ephemeral: fromHex(vectors.workerEphemeral),
    });
  const responder = (timestamps = new TimestampGuard()) => ({
    backend,
    identity: tasker,
    infoHash: INFO_HASH,
    timestamps,
    ...vectors.tasker,
    ephemeral: fromHex(vectors.taskerEphemeral),
    now: vectors.ts,
  });
  return { worker, tasker, initiation, responder };
}

describe.each(BACKENDS.map((backend) => ({ backend, name: backend.name })))('the task-wire handshake with the $name backend', ({ backend }) => {
  it('makes the vector frames byte for byte, and each end learns the other', () => {
    const { worker, tasker, initiation, responder } = fixed(backend);
    expect(toHex(worker.publicKey)).toBe(vectors.workerKey);
    expect(toHex(worker.noise.publicKey)).toBe(vectors.workerNoise);
    expect(toHex(tasker.noise.publicKey)).toBe(vectors.taskerNoise);
    expect(toHex(taskPrologue(INFO_HASH))).toBe(vectors.prologue);
    const start = initiation();
    expect(toHex(start.frame)).toBe(vectors.initiation);
    const answer = respond(responder(), start.frame);
    expect(toHex(answer.frame)).toBe(vectors.response);
    expect(answer.remote).toEqual({ key: worker.publicKey, static: worker.noise.publicKey, ts: vectors.ts, ...vectors.worker });
    const done = start.finish(answer.frame);
    expect(done.remote).toEqual({ key: tasker.publicKey, static: tasker.noise.publicKey, ...vectors.tasker });
    expect(toHex(done.session.handshakeHash)).toBe(vectors.handshakeHash);
    expect(toHex(answer.session.handshakeHash)).toBe(vectors.handshakeHash);
    expect(toHex(done.session.seal(new Uint8Array(0)))).toBe(vectors.confirm);
    expect(answer.session.open(fromHex(vectors.confirm))).toEqual(new Uint8Array(0));
    expect(toHex(done.session.seal(fromHex(vectors.toTasker.plaintext)))).toBe(vectors.toTasker.frame);
    expect(toHex(answer.session.open(fromHex(vectors.toTasker.frame)))).toBe(vectors.toTasker.plaintext);
    expect(toHex(answer.session.seal(fromHex(vectors.toWorker.plaintext)))).toBe(vectors.toWorker.frame);
    expect(toHex(done.session.open(fromHex(vectors.toWorker.frame)))).toBe(vectors.toWorker.plaintext);
  });

  it.each(vectors.invalid.map((v) => ({ v, name: v.name })))('refuses $name', ({ v }) => {
    const { initiation, responder } = fixed(backend);
    const error = caught(() => {
      if (v.side === 'responder') {
        const options = responder();
        if (v.afterValid) respond(options, fromHex(vectors.initiation));
        respond(options, fromHex(v.frame));
      } else {
        initiation().finish(fromHex(v.frame));
      }
    }) as SpareCyclesError;
    expect(error?.constructor.name).toBe(v.error);
    expect(error.field ?? null).toBe(v.field);
  });
});

describe('handshake timestamps', () => {
  it('never repeat or go back at the initiator, whatever the clock does', () => {
    const clock = new HandshakeClock();
    const stamps = [clock.next(1000), clock.next(1000), clock.next(500), clock.next(2000.7), clock.next(2000)];
    expect(stamps).toEqual([1000, 1001, 1002, 2000, 2001]);
  });

  it('are remembered per initiator key, within a bound, and a forgotten key must beat the latest forgotten stamp', () => {
    // No margin for clocks behind: the floor alone.
    const guard = new TimestampGuard(2, 0);
    const key = (n: number) => new Uint8Array(32).fill(n);
    guard.admit(key(1), 10, 100);
    expect(caught(() => guard.admit(key(1), 10, 100))).toBeInstanceOf(HandshakeError);
    guard.admit(key(1), 11, 100);
    guard.admit(key(2), 5, 100);
    guard.admit(key(3), 7, 100); // forgets key 1 (at 11)
    expect(guard.size).toBe(2);
    // Key 1's old initiation cannot come back although the guard forgot it.
    expect((caught(() => guard.admit(key(1), 11, 100)) as HandshakeError).field).toBe('ts');
    guard.admit(key(4), 12, 100); // a new key above the floor is fine; forgets key 2
    expect(caught(() => guard.admit(key(2), 5, 100))).toBeInstanceOf(HandshakeError);
  });

  it('let a worker whose clock runs behind in after a flood of new keys, within a stated margin, and refuse a remembered key\'s replays', () => {
    const guard = new TimestampGuard(16);
    const now = 1_700_000_000_000;
    const key = (n: number) => {
      const k = new Uint8Array(32);
      new DataView(k.buffer).setUint32(0, n);
      return k;
    };
    const honest = key(1);
    const behind = now - 5 * 60_000;
    guard.admit(honest, behind - 1000, now);
    // Throwaway keys stamped with the tasker's own time push everyone out and raise the floor to it.
    for (let i = 100; i < 200; i++) guard.admit(key(i), now, now);
    expect(guard.size).toBe(16);
    // The honest worker, its clock five minutes behind, comes back: forgotten, and let in within the margin.
    guard.admit(honest, behind, now);
    // Remembered again, its own earlier initiations are refused, margin or not.
    expect((caught(() => guard.admit(honest, behind, now)) as HandshakeError).field).toBe('ts');
    expect((caught(() => guard.admit(honest, behind - 1, now)) as HandshakeError).field).toBe('ts');
    // A new key's clock may run HANDSHAKE_SKEW_MS behind the floor, not more.
    expect(HANDSHAKE_SKEW_MS).toBe(10 * 60_000);
    expect((caught(() => guard.admit(key(2), now - HANDSHAKE_SKEW_MS, now)) as HandshakeError).field).toBe('ts');
    guard.admit(key(3), now - HANDSHAKE_SKEW_MS + 1, now);
  });

  it('refuse a margin or a bound that is not a whole number', () => {
    expect(() => new TimestampGuard(0)).toThrow(/limit: expected a positive integer, got 0/);
    expect(() => new TimestampGuard(4, -1)).toThrow(/skewMs/);
  });

  it('let no stamp from the future lock out everyone else', () => {
    const guard = new TimestampGuard(1);
    guard.admit(new Uint8Array(32).fill(1), 9_000_000, 1000);
    guard.admit(new Uint8Array(32).fill(2), 1001, 1000); // forgets the future stamp, floor capped at now (1000)
    guard.admit(new Uint8Array(32).fill(3), 1002, 1000);
    expect(guard.size).toBe(1);
  });

  it('stop a replayed initiation however the tasker answers', () => {
    const backend = nodeCrypto;
    const worker = Identity.generate(backend);
    const tasker = Identity.generate(backend);
    const clock = new HandshakeClock();
    const start = () =>
      new Initiation({ backend, identity: worker, infoHash: INFO_HASH, responder: { key: tasker.publicKey, noise: tasker.noise.publicKey }, ts: clock.next(), caps: [], agent: '' });
    const options = { backend, identity: tasker, infoHash: INFO_HASH, timestamps: new TimestampGuard(), caps: [], agent: '' };
    const first = start();
    respond(options, first.frame);
    const second = start();
    respond(options, second.frame);
    expect((caught(() => respond(options, first.frame)) as HandshakeError).field).toBe('ts');
    expect((caught(() => respond(options, second.frame)) as HandshakeError).field).toBe('ts');
  });
});

describe('handshake frames', () => {
  it('read the version first, then the kind', () => {
    expect(decodeFrame(Uint8Array.of(1, 3, 9))).toEqual({ kind: 'transport', body: Uint8Array.of(9) });
    expect((caught(() => decodeFrame(Uint8Array.of(7, 42))) as SpareCyclesError).code).toBe('VERSION');
    expect((caught(() => decodeFrame(Uint8Array.of(1, 0))) as SpareCyclesError).field).toBe('kind');
    expect((caught(() => decodeFrame(Uint8Array.of(1))) as SpareCyclesError).field).toBe('frame');
    expect(encodeFrame('initiation', Uint8Array.of(5))).toEqual(Uint8Array.of(1, 1, 5));
  });

  it('carry sessions both ways in order, and refuse a frame out of order, replayed or too large', () => {
    const backend = nobleCrypto;
    const worker = Identity.generate(backend);
    const tasker = Identity.generate(backend);
    const start = new Initiation({ backend, identity: worker, infoHash: INFO_HASH, responder: { key: tasker.publicKey, noise: tasker.noise.publicKey }, ts: 1, caps: ['wasm'], agent: 'w' });
    const answer = respond({ backend, identity: tasker, infoHash: INFO_HASH, timestamps: new TimestampGuard(), caps: [], agent: 't' }, start.frame);
    const { session } = start.finish(answer.frame);
    const frames = [1, 2, 3].map((n) => session.seal(Uint8Array.of(n)));
    expect(caught(() => answer.session.open(frames[1]!))).toBeInstanceOf(HandshakeError);
    expect(frames.map((f) => answer.session.open(f)[0])).toEqual([1, 2, 3]);
    expect(caught(() => answer.session.open(frames[2]!))).toBeInstanceOf(HandshakeError);
    expect(caught(() => session.seal(new Uint8Array(MAX_TRANSPORT_PLAINTEXT + 1)))).toBeInstanceOf(HandshakeError);
    expect(session.seal(new Uint8Array(MAX_TRANSPORT_PLAINTEXT)).length).toBe(2 + 65535);
    expect(caught(() => session.open(session.seal(Uint8Array.of(1))))).toBeInstanceOf(HandshakeError); // its own frame
  });

  it('refuse a payload with repeated caps', () => {
    const backend = nodeCrypto;
    const worker = Identity.generate(backend);
    const tasker = Identity.generate(backend);
    const start = new Initiation({ backend, identity: worker, infoHash: INFO_HASH, responder: { key: tasker.publicKey, noise: tasker.noise.publicKey }, ts: 1, caps: ['a', 'a'], agent: '' });
    const error = caught(() => respond({ backend, identity: tasker, infoHash: INFO_HASH, timestamps: new TimestampGuard(), caps: [], agent: '' }, start.frame));
    expect((error as SpareCyclesError).field).toBe('payload.caps');
  });
});

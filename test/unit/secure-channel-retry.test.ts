// An initiation nobody answers (protocol/secure-channel.ts): the worker
// greets again with a fresh ephemeral key and a later timestamp, a bounded
// number of times, and then gives that channel's handshake up without
// closing the wire. The tasker here is a real SecureResponder; what it
// drops, refuses or answers late is arranged on the in-memory wire. Timers
// are vitest's, so nothing waits on the real clock.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import type { FrameListener } from '../../protocol/channel.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { TimestampGuard } from '../../protocol/handshake.ts';
import { sealMessage } from '../../protocol/messages/index.ts';
import { SecureInitiator, SecureResponder } from '../../protocol/secure-channel.ts';
import { framePipe, recording } from '../support/task-wire.ts';

const INFO_HASH = 'cd'.repeat(20);
const backend = nodeCrypto;
const tasker = Identity.generate(backend);
const taskerKeys = { key: tasker.publicKey, noise: tasker.noise.publicKey };
const TIMEOUT_MS = 5_000;
const ATTEMPTS = 3;
const silent: FrameListener = { open: () => {}, frame: () => {}, closed: () => {} };

function workerEnd(identity = Identity.generate(backend)) {
  const heard = recording();
  const secure = new SecureInitiator(
    { backend, identity, infoHash: () => fromHex(INFO_HASH), caps: ['wasm'], agent: 'test-worker', handshakeTimeoutMs: TIMEOUT_MS, handshakeAttempts: ATTEMPTS },
    heard,
  );
  return { identity, heard, secure };
}

function taskerEnd(timestamps = new TimestampGuard()) {
  const heard = recording();
  const secure = new SecureResponder({ backend, identity: tasker, infoHash: () => fromHex(INFO_HASH), caps: [], agent: 'test-tasker' }, heard, timestamps);
  return { heard, secure };
}

/** The kind byte of each frame: 1 initiation, 2 response, 3 transport. */
const kinds = (frames: Uint8Array[]) => frames.map((f) => f[1]);
/** An initiation's ephemeral public key: the 32 bytes after the frame header. */
const ephemeral = (frame: Uint8Array) => toHex(frame.subarray(2, 34));

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});

afterEach(() => {
  // Every handshake settled, one way or another, leaves no timer behind.
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('an initiation that goes unanswered', () => {
  it('is sent again, with a fresh ephemeral key and a later timestamp, when the tasker dropped the first', () => {
    const w = workerEnd();
    const t = taskerEnd();
    const [workerSide] = framePipe(w.secure.frames, t.secure.frames, ['worker', 'tasker']);
    // The first initiation is lost on the way (a route that drops, a tasker not yet listening).
    workerSide.intercept = () => {};
    w.secure.start(taskerKeys);
    expect(kinds(workerSide.sent)).toEqual([1]);
    workerSide.intercept = undefined;
    vi.advanceTimersByTime(TIMEOUT_MS - 1);
    expect(kinds(workerSide.sent)).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(w.heard.events).toEqual(['open']);
    expect(t.heard.events).toEqual(['open']);
    expect(toHex(w.heard.channels[0]!.remote!)).toBe(toHex(tasker.publicKey));
    const [first, second] = workerSide.sent;
    expect(ephemeral(second!)).not.toBe(ephemeral(first!));
    // The same initiation sent again would fail on the responder's timestamps; this one did not.
    expect(t.heard.errors).toEqual([]);
    // And the channel carries messages.
    const claim = sealMessage(backend, w.identity.exportSeed(), {
      t: 'claim', v: 1, task: fromHex(INFO_HASH), want: 1, worker: w.identity.publicKey, nonce: new Uint8Array(16),
    });
    w.heard.channels[0]!.send(claim);
    expect(t.heard.received.map((s) => s.message.t)).toEqual(['claim']);
    workerSide.close();
  });

  it('gets in once the clock is past what the tasker remembers, after the tasker refused it on its timestamp', () => {
    const timestamps = new TimestampGuard();
    const identity = Identity.generate(backend);
    // An earlier run of this worker left the tasker remembering a stamp 4 s ahead of the clock now (the clock stepped back).
    const before = workerEnd(identity);
    const earlier = framePipe(before.secure.frames, taskerEnd(timestamps).secure.frames);
    vi.setSystemTime(Date.now() + 4_000);
    before.secure.start(taskerKeys);
    expect(before.heard.events).toEqual(['open']);
    earlier[0].close();
    vi.setSystemTime(Date.now() - 4_000);

    const w = workerEnd(identity);
    const t = taskerEnd(timestamps);
    const [workerSide] = framePipe(w.secure.frames, t.secure.frames);
    w.secure.start(taskerKeys);
    // Refused in silence: the tasker says nothing to an initiation it will not answer.
    expect(t.heard.errors.map((e) => e.field)).toEqual(['ts']);
    expect(w.heard.events).toEqual([]);
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(kinds(workerSide.sent)).toEqual([1, 1, 3]);
    expect(w.heard.events).toEqual(['open']);
    expect(t.heard.events).toEqual(['invalid:HANDSHAKE', 'open']);
    workerSide.close();
  });

  it('opens on the answer to the latest initiation, and lets a late answer to an earlier one pass without a fault', () => {
    const w = workerEnd();
    const t = taskerEnd();
    const [workerSide, taskerSide] = framePipe(w.secure.frames, t.secure.frames);
    // The tasker answers, but its answers are held up on the way back, in order.
    const held: Uint8Array[] = [];
    taskerSide.intercept = (frame) => held.push(frame);
    w.secure.start(taskerKeys);
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(kinds(workerSide.sent)).toEqual([1, 1]);
    expect(kinds(held)).toEqual([2, 2]);
    taskerSide.intercept = undefined;
    taskerSide.hear(held[0]!);
    // The late answer opens nothing and is no fault: the tasker has moved on to the later initiation.
    expect(w.heard.events).toEqual([]);
    taskerSide.hear(held[1]!);
    expect(w.heard.events).toEqual(['open']);
    expect(t.heard.events).toEqual(['open']);
    expect(t.heard.errors).toEqual([]);
    workerSide.close();
  });

  it('is given up after a bounded number of initiations to a peer that never answers, and the wire stays open', () => {
    const w = workerEnd();
    const [workerSide] = framePipe(w.secure.frames, silent);
    w.secure.start(taskerKeys);
    vi.advanceTimersByTime(TIMEOUT_MS * (ATTEMPTS + 5));
    expect(kinds(workerSide.sent)).toEqual(Array(ATTEMPTS).fill(1));
    expect(new Set(workerSide.sent.map(ephemeral)).size).toBe(ATTEMPTS);
    // Silence is what every peer but the tasker answers: nothing to report, and the wire carries the torrent still.
    expect(w.heard.events).toEqual([]);
    expect(workerSide.open).toBe(true);
    workerSide.close();
  });

  it('still ends the handshake at once on a wrong answer that answers no initiation of ours', () => {
    const victim = workerEnd();
    const [victimSide, impostorSide] = framePipe(victim.secure.frames, silent);
    victim.secure.start(taskerKeys);
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(kinds(victimSide.sent)).toEqual([1, 1]);
    // An answer the tasker gave another worker, replayed.
    const other = workerEnd();
    const [, otherTasker] = framePipe(other.secure.frames, taskerEnd().secure.frames);
    other.secure.start(taskerKeys);
    impostorSide.send(otherTasker.sent[0]!);
    expect(victim.heard.events).toEqual(['invalid:HANDSHAKE']);
    vi.advanceTimersByTime(TIMEOUT_MS * ATTEMPTS);
    expect(kinds(victimSide.sent)).toEqual([1, 1]);
    victimSide.close();
    otherTasker.close();
  });

  it('waits for nothing once the wire closes or the initiator stops', () => {
    const w = workerEnd();
    const [closing] = framePipe(w.secure.frames, silent);
    const [stopping] = framePipe(w.secure.frames, silent);
    w.secure.start(taskerKeys);
    expect(vi.getTimerCount()).toBe(2);
    closing.close();
    expect(vi.getTimerCount()).toBe(1);
    w.secure.stop();
    vi.advanceTimersByTime(TIMEOUT_MS * ATTEMPTS);
    expect(kinds(stopping.sent)).toEqual([1]);
    // A wire that opens after the stop is not greeted.
    const [late] = framePipe(w.secure.frames, silent);
    expect(late.sent).toEqual([]);
    stopping.close();
    late.close();
  });
});

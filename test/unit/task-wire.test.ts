// The secure layer of the channel seam (protocol/secure-channel.ts) over
// in-memory wires: a handshake binds each channel to the key at its other
// end, everything after it travels encrypted, and nobody who replays or
// relays what they overheard gets a channel: a replayed tasker answer, a
// replayed worker initiation, an impostor with keys of its own, a relay that
// injects. And the worker engine gives up a tasker channel whose claims go
// unanswered when it has another.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import type { FrameListener } from '../../protocol/channel.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { HandshakeError, TimeoutError } from '../../protocol/errors.ts';
import { TimestampGuard } from '../../protocol/handshake.ts';
import { encodeManifest, signManifest } from '../../protocol/manifest.ts';
import { sealMessage, type UnsignedMessage } from '../../protocol/messages/index.ts';
import { SecureInitiator, SecureResponder } from '../../protocol/secure-channel.ts';
import { MANIFEST_FILE } from '../../protocol/task-files.ts';
import { loadTaskDir, type TaskDir } from '../../tasker/task-dir.ts';
import { waitFor } from '../../testnet/wait.ts';
import { nodeUnitPool } from '../../units/node/node-thread.ts';
import type { UnitPool } from '../../units/pool.ts';
import { WorkerEngine } from '../../worker/engine.ts';
import type { TorrentPort } from '../../worker/ports.ts';
import { framePipe, recording, TaskerEnd } from '../support/task-wire.ts';

const INFO_HASH = 'ab'.repeat(20);
const backend = nodeCrypto;
const tasker = Identity.generate(backend);
const taskerKeys = { key: tasker.publicKey, noise: tasker.noise.publicKey };

/** Initiators made by a test: stopped after it, so no unanswered initiation waits on for a retry. */
const initiators: SecureInitiator[] = [];
afterEach(() => {
  for (const initiator of initiators.splice(0)) initiator.stop();
});

function workerEnd(identity = Identity.generate(backend)) {
  const heard = recording();
  const secure = new SecureInitiator({ backend, identity, infoHash: () => fromHex(INFO_HASH), caps: ['wasm'], agent: 'test-worker' }, heard);
  initiators.push(secure);
  return { identity, heard, secure };
}

function taskerEnd(timestamps = new TimestampGuard(), identity = tasker) {
  const heard = recording();
  const secure = new SecureResponder({ backend, identity, infoHash: () => fromHex(INFO_HASH), caps: [], agent: 'test-tasker' }, heard, timestamps);
  return { heard, secure };
}

const claim = (worker: Identity): UnsignedMessage => ({
  t: 'claim',
  v: 1,
  task: fromHex(INFO_HASH),
  want: 2,
  worker: worker.publicKey,
  nonce: new Uint8Array(16).fill(1),
});

describe('a secure task channel', () => {
  it('opens at both ends only after the handshake, bound to the keys at either end, and carries messages encrypted', () => {
    const w = workerEnd();
    const t = taskerEnd();
    const [workerSide, taskerSide] = framePipe(w.secure.frames, t.secure.frames, ['worker', 'tasker']);
    // Nothing is said before the worker knows the tasker's keys from the manifest.
    expect(workerSide.sent).toEqual([]);
    w.secure.start(taskerKeys);
    expect(w.heard.events).toEqual(['open']);
    expect(t.heard.events).toEqual(['open']);
    expect(toHex(w.heard.channels[0]!.remote!)).toBe(toHex(tasker.publicKey));
    expect(toHex(t.heard.channels[0]!.remote!)).toBe(toHex(w.identity.publicKey));
    expect(t.heard.channels[0]!.greeting).toEqual({ caps: ['wasm'], agent: 'test-worker' });
    const sealed = sealMessage(backend, w.identity.exportSeed(), claim(w.identity));
    w.heard.channels[0]!.send(sealed);
    expect(t.heard.received.map((s) => toHex(s.bytes))).toEqual([toHex(sealed.bytes)]);
    // On the wire: an initiation, the confirmation and the claim, none of which shows the claim's bytes.
    expect(workerSide.sent.map((f) => f[1])).toEqual([1, 3, 3]);
    expect(workerSide.sent.some((f) => toHex(f).includes(toHex(sealed.bytes.subarray(0, 24))))).toBe(false);
    expect(taskerSide.sent.map((f) => f[1])).toEqual([2]);
    workerSide.close();
    expect(w.heard.events).toEqual(['open', 'closed']);
    expect(t.heard.events).toEqual(['open', 'message:claim', 'closed']);
  });

  it('says at both ends that it came over an onion route when its frame channels do, and names no route otherwise', () => {
    for (const route of ['onion', undefined] as const) {
      const w = workerEnd();
      const t = taskerEnd();
      const pipe = framePipe(w.secure.frames, t.secure.frames, ['worker', 'tasker']);
      // What an onion transport's frame channels say of themselves.
      if (route) for (const end of pipe) Object.assign(end, { route });
      w.secure.start(taskerKeys);
      expect(w.heard.events).toEqual(['open']);
      expect(t.heard.events).toEqual(['open']);
      expect(w.heard.channels[0]!.route).toBe(route);
      expect(t.heard.channels[0]!.route).toBe(route);
      pipe[0].close();
    }
  });

  it('stays shut, without a word, between two workers', () => {
    const a = workerEnd();
    const b = workerEnd();
    framePipe(a.secure.frames, b.secure.frames);
    a.secure.start(taskerKeys);
    b.secure.start(taskerKeys);
    expect(a.heard.events).toEqual([]);
    expect(b.heard.events).toEqual([]);
  });

  it('never opens for a replayed tasker answer', () => {
    // The impostor keeps what the tasker answered one worker, and answers another worker with it.
    const first = workerEnd();
    const [, firstTasker] = framePipe(first.secure.frames, taskerEnd().secure.frames);
    first.secure.start(taskerKeys);
    const answer = firstTasker.sent[0]!;
    const victim = workerEnd();
    const impostor = recording();
    const [, impostorSide] = framePipe(victim.secure.frames, { open: () => {}, frame: () => {}, closed: () => {} }, ['victim', 'impostor']);
    victim.secure.start(taskerKeys);
    impostorSide.send(answer);
    expect(victim.heard.events).toEqual(['invalid:HANDSHAKE']);
    expect(victim.heard.channels).toEqual([]);
    // And the same worker's own answer, replayed on a later wire of its own, fails just the same.
    const again = framePipe(first.secure.frames, { open: () => {}, frame: () => {}, closed: () => {} });
    again[1].send(answer);
    expect(first.heard.events).toEqual(['open', 'invalid:HANDSHAKE']);
    expect(impostor.events).toEqual([]);
  });

  it('never opens for a replayed worker initiation, which fails on its timestamp', () => {
    const timestamps = new TimestampGuard();
    const w = workerEnd();
    const t = taskerEnd(timestamps);
    const [workerSide] = framePipe(w.secure.frames, t.secure.frames);
    w.secure.start(taskerKeys);
    const initiation = workerSide.sent[0]!;
    // The impostor sends the initiation it overheard to the same tasker on a wire of its own.
    const [impostorSide] = framePipe({ open: () => {}, frame: () => {}, closed: () => {} }, t.secure.frames);
    impostorSide.send(initiation);
    expect(t.heard.events).toEqual(['open', 'invalid:HANDSHAKE']);
    expect(t.heard.errors[0]!.field).toBe('ts');
    expect(t.heard.channels.length).toBe(1);
  });

  it('never opens an initiation that got past the timestamps (a restarted tasker) until the worker confirms it', () => {
    const w = workerEnd();
    const [workerSide] = framePipe(w.secure.frames, taskerEnd().secure.frames);
    w.secure.start(taskerKeys);
    const restarted = taskerEnd(new TimestampGuard());
    const [impostorSide, taskerSide] = framePipe({ open: () => {}, frame: () => {}, closed: () => {} }, restarted.secure.frames);
    impostorSide.send(workerSide.sent[0]!);
    expect(taskerSide.sent.map((f) => f[1])).toEqual([2]);
    // The impostor cannot make the confirmation: it lacks the worker's ephemeral key. Its guesses fail.
    impostorSide.send(workerSide.sent[1]!);
    impostorSide.send(Uint8Array.of(1, 3, ...new Uint8Array(16)));
    expect(restarted.heard.channels).toEqual([]);
    expect(restarted.heard.events).toEqual(['invalid:HANDSHAKE', 'invalid:HANDSHAKE']);
  });

  it('never opens for an impostor answering with keys of its own', () => {
    const impostor = Identity.generate(backend);
    const w = workerEnd();
    framePipe(w.secure.frames, taskerEnd(new TimestampGuard(), impostor).secure.frames);
    w.secure.start(taskerKeys);
    expect(w.heard.events).toEqual([]); // the impostor cannot even read the initiation
    const named = workerEnd();
    framePipe(named.secure.frames, taskerEnd(new TimestampGuard(), impostor).secure.frames);
    // A worker told the impostor's Noise key but the tasker's identity (a manifest it could not have signed) still refuses.
    named.secure.start({ key: tasker.publicKey, noise: impostor.noise.publicKey });
    expect(named.heard.events).toEqual(['invalid:HANDSHAKE']);
    expect(named.heard.errors[0]!.field).toBe('key');
  });

  it('lets a relay pass frames but not read or add to them: an injected frame ends the channel', () => {
    const w = workerEnd();
    const t = taskerEnd();
    // worker <-> relay <-> tasker: the relay forwards every frame unchanged.
    const relayLeft = { open: () => {}, frame: (_c: unknown, f: Uint8Array) => toTasker.send(f), closed: () => {} };
    const relayRight = { open: () => {}, frame: (_c: unknown, f: Uint8Array) => toWorker.send(f), closed: () => {} };
    const [, toWorker] = framePipe(w.secure.frames, relayLeft);
    const [toTasker] = framePipe(relayRight, t.secure.frames);
    w.secure.start(taskerKeys);
    expect(w.heard.events).toEqual(['open']);
    expect(t.heard.events).toEqual(['open']);
    // What the relay makes up itself: a claim of its own in a frame, or an old frame again.
    const relay = Identity.generate(backend);
    toTasker.send(Uint8Array.of(1, 3, ...sealMessage(backend, relay.exportSeed(), claim(relay)).bytes, ...new Uint8Array(16)));
    expect(t.heard.events).toEqual(['open', 'invalid:HANDSHAKE', 'closed']);
    expect(t.heard.received).toEqual([]);
  });

  it('refuses a frame out of order and closes, since nothing after it can be read', () => {
    const w = workerEnd();
    const t = taskerEnd();
    const [workerSide, taskerSide] = framePipe(w.secure.frames, t.secure.frames);
    w.secure.start(taskerKeys);
    const sealed = sealMessage(backend, w.identity.exportSeed(), claim(w.identity));
    w.heard.channels[0]!.send(sealed);
    // The last frame the worker sent, again: its nonce is spent.
    workerSide.hear(workerSide.sent.at(-1)!);
    expect(t.heard.events).toEqual(['open', 'message:claim', 'invalid:HANDSHAKE', 'closed']);
    expect(taskerSide.open).toBe(false);
    expect(t.heard.errors[0]).toBeInstanceOf(HandshakeError);
  });
});

describe('a worker engine whose claims go unanswered', () => {
  let task: TaskDir;
  let pool: UnitPool | undefined;
  let engine: WorkerEngine | undefined;
  beforeAll(async () => {
    task = await loadTaskDir(backend, new URL('../../examples/mandelbrot', import.meta.url).pathname, { tasker: tasker.publicKey });
  });
  afterEach(async () => {
    engine?.stop();
    await pool?.stop();
    engine = pool = undefined;
  });

  it('gives that channel up for another channel to the tasker, and claims there', async () => {
    const manifest = signManifest(backend, tasker.exportSeed(), task.body);
    const files = new Map([[MANIFEST_FILE, encodeManifest(manifest)], ...task.files]);
    let frames: FrameListener | undefined;
    const torrents: TorrentPort = {
      openTask(_magnet, listener) {
        frames = listener;
        return { infoHash: INFO_HASH, complete: async () => {}, read: async (path) => files.get(path), close: () => {} };
      },
      seedResults: async () => backend.randomBytes(20),
    };
    pool = nodeUnitPool(0.25);
    engine = new WorkerEngine(
      { backend, identity: Identity.generate(backend), pool, torrents, claimIntervalMs: 20, claimTimeoutMs: 300 },
      `magnet:?xt=urn:btih:${INFO_HASH}`,
    );
    const warnings: Error[] = [];
    engine.on('warning', (w) => warnings.push(w));
    await engine.ready;
    // The first channel reaches the tasker (the handshake went through), but nothing comes back on it: a relay that swallows.
    const silent = new TaskerEnd(tasker, frames!, INFO_HASH);
    await waitFor('a claim on the first channel', () => silent.received.some((s) => s.message.t === 'claim'));
    const live = new TaskerEnd(tasker, frames!, INFO_HASH);
    await waitFor('the first channel given up', () => !silent.pipe[0].open, 10_000);
    await waitFor('a claim on the second channel', () => live.received.some((s) => s.message.t === 'claim'));
    expect(warnings.some((w) => w instanceof TimeoutError)).toBe(true);
    // Answered, it keeps the channel however long it then stays quiet.
    live.deliver({
      t: 'assign',
      v: 1,
      task: fromHex(INFO_HASH),
      units: [{ unit: 0, lease: new Uint8Array(16).fill(4) }],
      deadline: Date.now() + 60_000,
      worker: (live.received[0]!.message as { worker: Uint8Array }).worker,
      tasker: tasker.publicKey,
    });
    await waitFor('the result', () => live.received.some((s) => s.message.t === 'result'), 30_000);
    expect(live.pipe[0].open).toBe(true);
  });

  it('keeps its one channel to the tasker, however quiet', async () => {
    const manifest = signManifest(backend, tasker.exportSeed(), task.body);
    const files = new Map([[MANIFEST_FILE, encodeManifest(manifest)], ...task.files]);
    let frames: FrameListener | undefined;
    const torrents: TorrentPort = {
      openTask(_magnet, listener) {
        frames = listener;
        return { infoHash: INFO_HASH, complete: async () => {}, read: async (path) => files.get(path), close: () => {} };
      },
      seedResults: async () => backend.randomBytes(20),
    };
    pool = nodeUnitPool(0.25);
    engine = new WorkerEngine({ backend, identity: Identity.generate(backend), pool, torrents, claimIntervalMs: 20, claimTimeoutMs: 100 }, `magnet:?xt=urn:btih:${INFO_HASH}`);
    await engine.ready;
    const only = new TaskerEnd(tasker, frames!, INFO_HASH);
    await waitFor('claims past the timeout', () => only.received.filter((s) => s.message.t === 'claim').length > 20, 10_000);
    expect(only.pipe[0].open).toBe(true);
  });
});

// The worker engine's side of receipts, with the test playing the tasker on
// one channel. The engine, the task (the mandelbrot example, signed), the
// messages and the unit pool are real; the channel is a stand-in on the
// engine's own seam (protocol/channel.ts) that carries sealed messages to and
// from the test (a real tasker cannot be told to send a receipt twice), and
// Earnings only counts its calls (the
// wallet's side of pay delivered twice is tested in wallet.test.ts).
// Checked: a final receipt sent again after a reconnection changes neither
// the stats nor the wallet a second time, and is acknowledged again; a
// receipt is acknowledged only once its pay is kept (or forfeited), and pay
// the wallet refuses as such (a bad proof) is forfeited and acknowledged; one that
// arrives before the engine has its task is taken once it has; and settled()
// waits for every result's final receipt and for its pay to be kept.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { encodeManifest, signManifest } from '../../protocol/manifest.ts';
import type { FrameListener } from '../../protocol/channel.ts';
import type { MessageOf, Sealed, UnsignedMessage } from '../../protocol/messages/index.ts';
import { MANIFEST_FILE } from '../../protocol/task-files.ts';
import { loadTaskDir } from '../../tasker/task-dir.ts';
import type { TaskDir } from '../../tasker/task-dir.ts';
import { NetworkError } from '../../protocol/errors.ts';
import { WorkerEngine } from '../../worker/engine.ts';
import { WalletError } from '../../worker/wallet-data.ts';
import { nodeUnitPool } from '../../units/node/node-thread.ts';
import type { UnitPool } from '../../units/pool.ts';
import type { Earnings, ReceivedPay, TorrentPort } from '../../worker/ports.ts';
import { waitFor } from '../../testnet/wait.ts';
import { TaskerEnd } from '../support/task-wire.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;
const PRICE = 5;
const INFO_HASH = 'ab'.repeat(20);
const tasker = Identity.generate(nodeCrypto);

let task: TaskDir;
beforeAll(async () => {
  task = await loadTaskDir(nodeCrypto, EXAMPLE, { tasker: tasker.publicKey });
  task.body.mint = 'http://127.0.0.1:1';
  task.body.price = PRICE;
});

/**
 * One wire to the engine, with the test as the tasker at its other end
 * (test/support/task-wire.ts): the handshake is real, what the engine sends
 * is kept in `sent`, and what the test delivers before the handshake is done
 * goes out the moment it is.
 */
class TestChannel {
  private readonly end: TaskerEnd;
  constructor(frames: FrameListener) {
    this.end = new TaskerEnd(tasker, frames, INFO_HASH);
  }
  get sent(): Sealed[] {
    return this.end.received;
  }
  close(): void {
    this.end.close();
  }
  deliver(message: UnsignedMessage): void {
    this.end.deliver(message);
  }
  results(): MessageOf<'result'>[] {
    return this.sent.map((s) => s.message).filter((m): m is MessageOf<'result'> => m.t === 'result');
  }
  /** The leases of each ack sent, in order, as hex. */
  acks(): string[][] {
    return this.sent.map((s) => s.message).filter((m): m is MessageOf<'ack'> => m.t === 'ack').map((m) => m.leases.map(toHex));
  }
}

class CountingEarnings implements Earnings {
  readonly received: string[] = [];
  readonly forfeited: string[] = [];
  /** While set, receive() waits for it: pay still being kept. */
  gate: Promise<void> | undefined;
  /** receive() calls to fail, as a mint out of reach would. */
  failures = 0;
  /** What the failing calls throw. */
  errors: Error[] = [];
  async request(): Promise<Uint8Array[]> {
    return [nodeCrypto.randomBytes(32), nodeCrypto.randomBytes(32)];
  }
  async receive(_mint: string, label: string, _pay: ReceivedPay): Promise<number> {
    this.received.push(label);
    await this.gate;
    if (this.failures > 0) {
      this.failures--;
      throw this.errors.shift() ?? new Error('the mint could not be reached');
    }
    return PRICE;
  }
  async forfeit(label: string): Promise<void> {
    this.forfeited.push(label);
  }
}

let pool: UnitPool | undefined;
let engine: WorkerEngine | undefined;
afterEach(async () => {
  engine?.stop();
  await pool?.stop();
  engine = pool = undefined;
});

/** An engine on the example task, greeted by the tasker on one wire, with `units` assigned and their results sent. */
async function engineWithResults(units: number[]) {
  const manifest = signManifest(nodeCrypto, tasker.exportSeed(), task.body);
  const files = new Map([[MANIFEST_FILE, encodeManifest(manifest)], ...task.files]);
  let listener: FrameListener | undefined;
  const torrents: TorrentPort = {
    openTask(_magnet, channels) {
      listener = channels;
      return { infoHash: INFO_HASH, complete: () => taskHere, read: async (path) => files.get(path), close: () => {} };
    },
    seedResults: async () => nodeCrypto.randomBytes(20),
  };
  const earnings = new CountingEarnings();
  const worker = Identity.generate(nodeCrypto);
  pool = nodeUnitPool(0.25);
  engine = new WorkerEngine({ backend: nodeCrypto, identity: worker, pool, torrents, earnings, claimIntervalMs: 60_000 }, `magnet:?xt=urn:btih:${INFO_HASH}`);
  await engine.ready;
  const wire = new TestChannel(listener!);
  const leases = units.map(() => nodeCrypto.randomBytes(16));
  wire.deliver({
    t: 'assign',
    v: 1,
    task: fromHex(INFO_HASH),
    units: units.map((unit, i) => ({ unit, lease: leases[i]! })),
    deadline: Date.now() + 60_000,
    worker: worker.publicKey,
    tasker: tasker.publicKey,
  });
  if (units.length > 0) await waitFor('every result sent', () => wire.results().length === units.length, 30_000);
  const receipt = (i: number, status: 'accepted' | 'rejected' | 'pending') => ({
    t: 'receipt' as const,
    v: 1 as const,
    task: fromHex(INFO_HASH),
    unit: units[i]!,
    lease: leases[i]!,
    status,
    ...(status === 'accepted'
      ? { paid: { keyset: nodeCrypto.randomBytes(8), signatures: [4, 1].map((amount) => ({ amount, C: nodeCrypto.randomBytes(32), e: nodeCrypto.randomBytes(32), s: nodeCrypto.randomBytes(32) })) } }
      : {}),
    tasker: tasker.publicKey,
  });
  const label = (i: number) => `${INFO_HASH}:${units[i]}:${toHex(leases[i]!)}`;
  return { engine, wire, earnings, receipt, label, lease: (i: number) => toHex(leases[i]!) };
}

/** When the task torrent is complete; a test may hold it back. */
let taskHere: Promise<void> = Promise.resolve();

const tick = () => new Promise((r) => setTimeout(r, 10));

describe('worker engine receipts', () => {
  it('applies a final receipt once, however often it arrives', async () => {
    const { engine, wire, earnings, receipt, label, lease } = await engineWithResults([0, 1]);
    const heard: string[] = [];
    engine.on('receipt', (r) => heard.push(`${r.unit}:${r.status}`));
    const paid: number[] = [];
    engine.on('paid', (p) => paid.push(p.unit));
    expect(engine.stats).toMatchObject({ computed: 2, pending: 2, accepted: 0, rejected: 0, credits: 0 });

    wire.deliver(receipt(0, 'pending'));
    wire.deliver(receipt(0, 'accepted'));
    wire.deliver(receipt(1, 'rejected'));
    // Sent again, as a tasker does when the worker greets on a new wire.
    wire.deliver(receipt(0, 'accepted'));
    wire.deliver(receipt(1, 'rejected'));
    await waitFor('the pay kept', () => engine.unsettled === 0);
    wire.deliver(receipt(0, 'accepted'));
    await tick();

    expect(engine.stats).toMatchObject({ pending: 0, accepted: 1, rejected: 1, credits: PRICE });
    expect(earnings.received).toEqual([label(0)]);
    expect(earnings.forfeited).toEqual([label(1)]);
    expect(paid).toEqual([0]);
    expect(heard).toEqual(['0:pending', '0:accepted', '1:rejected']);
    // The paid lease was acknowledged once its pay was kept, and again when sent after that: its earlier ack may have been lost.
    // The rejected one carries no pay, which is all the tasker holds until acknowledged: it needs no answer.
    const acked = wire.acks();
    expect(acked.flat()).toEqual([lease(0), lease(0)]);
    expect(acked.flat()).not.toContain(lease(1));
    expect(acked.at(-1)).toEqual([lease(0)]);
  });

  it('acknowledges a receipt only once its pay is kept: one that failed is tried again when it comes again', async () => {
    const { engine, wire, earnings, receipt, label, lease } = await engineWithResults([5]);
    earnings.failures = 1;
    wire.deliver(receipt(0, 'accepted'));
    await waitFor('the first try', () => engine.unsettled === 0);
    expect(wire.acks()).toEqual([]);
    expect(engine.stats).toMatchObject({ accepted: 1, credits: 0 });
    // The tasker sends it again, as it does for every receipt not acknowledged.
    wire.deliver(receipt(0, 'accepted'));
    await waitFor('the ack', () => wire.acks().length === 1);
    expect(wire.acks()).toEqual([[lease(0)]]);
    expect(earnings.received).toEqual([label(0), label(0)]);
    expect(engine.stats).toMatchObject({ accepted: 1, credits: PRICE });
  });

  it('forfeits and acknowledges pay its wallet can never keep; pay it could not keep for now is tried again', async () => {
    const { engine, wire, earnings, receipt, label, lease } = await engineWithResults([2, 3]);
    const warnings: Error[] = [];
    engine.on('warning', (w) => warnings.push(w));
    earnings.failures = 2;
    earnings.errors = [
      new WalletError('PROOF', 'signatures[0]: the DLEQ proof does not verify'),
      new NetworkError('the mint could not be reached'),
    ];
    wire.deliver(receipt(0, 'accepted'));
    await waitFor('the ack of the pay that can never be kept', () => wire.acks().length === 1);
    expect(wire.acks()).toEqual([[lease(0)]]);
    expect(earnings.forfeited).toEqual([label(0)]);
    wire.deliver(receipt(1, 'accepted'));
    await waitFor('the try at the second pay', () => earnings.received.length === 2 && engine.unsettled === 0);
    // The mint out of reach may pass: no forfeit, no ack, and the receipt sent again is tried again.
    expect(earnings.forfeited).toEqual([label(0)]);
    expect(wire.acks()).toEqual([[lease(0)]]);
    wire.deliver(receipt(1, 'accepted'));
    await waitFor('the ack of the second pay', () => wire.acks().length === 2);
    expect(wire.acks()).toEqual([[lease(0)], [lease(1)]]);
    expect(earnings.received).toEqual([label(0), label(1), label(1)]);
    expect(engine.stats).toMatchObject({ accepted: 2, credits: PRICE });
    expect(warnings.map((w) => (w as WalletError).code)).toEqual(['PROOF', 'NETWORK']);
    // The forfeited receipt sent again (its ack lost) is only acknowledged again.
    wire.deliver(receipt(0, 'accepted'));
    await waitFor('the ack sent again', () => wire.acks().length === 3);
    expect(earnings.received).toHaveLength(3);
  });

  it('takes a receipt that arrives before it has the task once it has, as a restarted worker must', async () => {
    let here!: () => void;
    taskHere = new Promise((resolve) => (here = resolve));
    try {
      const manifest = signManifest(nodeCrypto, tasker.exportSeed(), task.body);
      const files = new Map([[MANIFEST_FILE, encodeManifest(manifest)], ...task.files]);
      let listener: FrameListener | undefined;
      const torrents: TorrentPort = {
        openTask(_magnet, channels) {
          listener = channels;
          return { infoHash: INFO_HASH, complete: () => taskHere, read: async (path) => files.get(path), close: () => {} };
        },
        seedResults: async () => nodeCrypto.randomBytes(20),
      };
      const earnings = new CountingEarnings();
      const worker = Identity.generate(nodeCrypto);
      pool = nodeUnitPool(0.25);
      engine = new WorkerEngine({ backend: nodeCrypto, identity: worker, pool, torrents, earnings, claimIntervalMs: 60_000 }, `magnet:?xt=urn:btih:${INFO_HASH}`);
      // The handshake waits for the manifest, which names the tasker's Noise key; the receipt waits for the handshake.
      const wire = new TestChannel(listener!);
      // A receipt for a result an earlier run of this worker sent.
      const lease = nodeCrypto.randomBytes(16);
      wire.deliver({
        t: 'receipt', v: 1, task: fromHex(INFO_HASH), unit: 9, lease, status: 'accepted', tasker: tasker.publicKey,
        paid: { keyset: nodeCrypto.randomBytes(8), signatures: [{ amount: 4, C: nodeCrypto.randomBytes(32), e: nodeCrypto.randomBytes(32), s: nodeCrypto.randomBytes(32) }] },
      });
      await tick();
      expect(earnings.received).toEqual([]);
      here();
      await waitFor('the ack', () => wire.acks().length === 1);
      expect(earnings.received).toEqual([`${INFO_HASH}:9:${toHex(lease)}`]);
      expect(wire.acks()).toEqual([[toHex(lease)]]);
      expect(engine.stats).toMatchObject({ accepted: 1, credits: PRICE });
    } finally {
      taskHere = Promise.resolve();
    }
  });

  it('refuses a receipt for another task, and does not acknowledge it', async () => {
    const { engine, wire, earnings, receipt } = await engineWithResults([6]);
    const warnings: Error[] = [];
    engine.on('warning', (e) => warnings.push(e));
    wire.deliver({ ...receipt(0, 'accepted'), task: nodeCrypto.randomBytes(20) });
    await tick();
    expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(/another/)]);
    expect(earnings.received).toEqual([]);
    expect(wire.acks()).toEqual([]);
    expect(engine.stats.pending).toBe(1);
  });

  it('settled() waits for every final receipt and for the pay it brings, and says false on timeout', async () => {
    const { engine, wire, earnings, receipt } = await engineWithResults([2, 3]);
    expect(engine.unsettled).toBe(2);
    expect(await engine.settled(50)).toBe(false);

    let done: boolean | undefined;
    void engine.settled(30_000).then((ok) => (done = ok));
    let keep!: () => void;
    earnings.gate = new Promise((resolve) => (keep = resolve));
    wire.deliver(receipt(0, 'rejected'));
    wire.deliver(receipt(1, 'pending'));
    await tick();
    expect(done).toBeUndefined();
    wire.deliver(receipt(1, 'accepted'));
    await waitFor('the pay being kept', () => earnings.received.length === 1);
    // Every result has its verdict, but the pay is not kept yet.
    expect(engine.stats.pending).toBe(0);
    expect(engine.unsettled).toBe(1);
    await tick();
    expect(done).toBeUndefined();
    keep();
    await waitFor('settled', () => done !== undefined);
    expect(done).toBe(true);
    expect(engine.stats.credits).toBe(PRICE);
    expect(await engine.settled(0)).toBe(true);
  });

  it('settled() says false at once when the engine stops with receipts due', async () => {
    const { engine } = await engineWithResults([4]);
    const waiting = engine.settled(30_000);
    const started = Date.now();
    engine.stop();
    expect(await waiting).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

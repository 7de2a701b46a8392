// Pay that cannot be lost. An accepted receipt carries the mint's blind
// signatures, the worker's only copy of its pay, so the tasker keeps every
// final receipt until the worker acknowledges it (an `ack`, sent once the pay
// is in its wallet) and sends it again: now and then on a live channel, and
// whenever the worker comes back on a new one. Real parts on loopback (DHT,
// tracker, WebTorrent over TCP, worker threads, an in-process mint, wallet
// files). Each case ends the same way: once the tasker holds no receipt,
// every worker's wallet holds exactly what the tasker paid it, and the mint's
// ledger balances.
//
//   - a receipt whose pay the worker could not keep (so did not acknowledge)
//     is sent again on the live wire;
//   - a worker whose engine stopped after the tasker paid gets its pay when a
//     new engine with the same key and wallet file starts;
//   - a tasker whose process stopped with receipts held reads them from its
//     receipt file when it starts again on the same task, and delivers them.
//
// And what is not held: a receipt without pay is sent once and never kept,
// so keys that never acknowledge cannot crowd out anyone's pay; and the
// tasker's own faults around held pay (a send that throws, a timer tick that
// throws) are logged, never the end of its process.

import { once } from 'node:events';
import { mkdtemp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogLine } from '../../serve/log.ts';
import { toHex } from '../../protocol/bytes.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { NetworkError } from '../../protocol/errors.ts';
import type { Paid } from '../../tasker/payer.ts';
import type { DroppedListener } from '../../tasker/receipt-outbox.ts';
import { ReceiptFile, receiptFileFor } from '../../tasker/receipt-store.ts';
import type { TaskerSession } from '../../tasker/session.ts';
import type { TaskDir } from '../../tasker/task-dir.ts';
import { walletEarnings } from '../../worker/earnings.ts';
import type { Earnings } from '../../worker/ports.ts';
import { WalletFile } from '../../worker/node/wallet-file.ts';
import { Wallet } from '../../worker/wallet.ts';
import { Mesh, type MeshWorker } from '../../testnet/mesh.ts';
import { waitFor } from '../../testnet/wait.ts';
import { deferred } from '../support/deferred.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;
const PRICE = 5;
const DEPOSIT = 32 * 3 * PRICE;
/** One matching result verifies a unit: one worker is enough to finish the task. */
const ONE_WORKER = { change: (task: { body: { verify: { replication: number } } }) => void (task.body.verify.replication = 1) };

let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.stop();
  mesh = undefined;
});

/** A payer that pays the first unit at the mint at once, then holds its answer (and so the receipt) until released. */
function holdFirstPayment() {
  const held = deferred<string>();
  const release = deferred();
  let first = true;
  return {
    held: held.promise,
    release: release.resolve,
    wrapPayer: (payer: { price: number; pay(blinded: readonly Uint8Array[]): Promise<Paid> }) => ({
      price: payer.price,
      async pay(blinded: readonly Uint8Array[]): Promise<Paid> {
        const paid = await payer.pay(blinded);
        if (first) {
          first = false;
          held.resolve(toHex(blinded[0]!));
          await release.promise;
        }
        return paid;
      },
    }),
  };
}

/** Credits the tasker's 'paid' events gave each worker. */
function paidTally(...sessions: TaskerSession[]): Map<string, number> {
  const paid = new Map<string, number>();
  for (const session of sessions) session.on('paid', (p) => paid.set(p.worker, (paid.get(p.worker) ?? 0) + p.amount));
  return paid;
}

/** Stops a worker's engine and waits until the tasker has seen every wire to it close. */
async function stopWorker(session: TaskerSession, worker: MeshWorker): Promise<void> {
  const peerId = (worker.torrents.client as unknown as { peerId: string }).peerId;
  const taskerSide = session.torrent.wires.filter((w) => w.peerId === peerId);
  const closed = Promise.all(taskerSide.map((w) => once(w, 'close')));
  worker.engine.stop();
  await closed;
}

/** The task is done, no payment is in flight, and every final receipt is acknowledged. */
async function settledTasker(session: TaskerSession): Promise<void> {
  await session.done;
  await session.paymentsSettled();
  expect(await session.receiptsDelivered(60_000)).toBe(true);
  expect(session.heldReceipts).toBe(0);
}

/** The first log line of `event` throws, as a send can when its wire dies under it. */
function throwingOnce(lines: LogLine[], event: string): (line: LogLine) => void {
  let thrown = false;
  return (line) => {
    lines.push(line);
    if (line.event === event && !thrown) {
      thrown = true;
      throw new Error(`${event}: failed under the session`);
    }
  };
}

describe('pay after a disconnect', () => {
  it('a receipt whose pay could not be kept is sent again on the live wire until the worker acknowledges it', async () => {
    mesh = await Mesh.start({ mint: true, transports: 'tcp' });
    const mint = mesh.net.mint!;
    const lines: LogLine[] = [];
    const session = await mesh.publish(EXAMPLE, { pay: { price: PRICE, deposit: DEPOSIT }, log: (l) => lines.push(l), ...ONE_WORKER });
    const paid = paidTally(session);
    const wallet = await Wallet.open(new WalletFile(join(await mkdtemp(join(mesh.dir, 'w-')), 'wallet.json')));

    // The first pay to arrive cannot be kept (the mint's keyset out of reach, say): the receipt is heard but not acknowledged.
    const earnings = walletEarnings(wallet);
    let failed: string | undefined;
    const flaky: Earnings = {
      ...earnings,
      async receive(mint, label, pay) {
        if (failed === undefined) {
          failed = label;
          throw new NetworkError(`${mint}: not reachable`);
        }
        return earnings.receive(mint, label, pay);
      },
    };
    const worker = await mesh.worker(session.magnet, { pool: mesh.pool(0.25), earnings: flaky });
    const key = toHex(worker.identity.publicKey);
    const label = await waitFor('a pay that could not be kept', () => failed, 60_000);
    expect(wallet.pendingFor(label).length).toBeGreaterThan(0);
    // The wire stays up; the tasker sends the receipt again on it after a while, and this time the pay is kept.
    await waitFor('the receipt sent again and its pay kept', () => wallet.pendingFor(label).length === 0, 30_000);
    expect(lines.some((l) => l.event === 'receipts-resent')).toBe(true);
    expect(lines.some((l) => l.event === 'receipts-redelivered')).toBe(false);

    await settledTasker(session);
    await waitFor('every receipt heard', () => worker.engine.stats.pending === 0 && worker.engine.unsettled === 0, 20_000);
    expect(paid.get(key)).toBeGreaterThan(0);
    expect(wallet.balance(mint.url)).toBe(paid.get(key));
    expect(worker.engine.stats.credits).toBe(paid.get(key));
    expect(mint.mint.ledger.checkInvariants()).toEqual([]);
  }, 180_000);

  it('reaches a worker that stopped after the tasker paid, once it starts again with the same key and wallet file', async () => {
    mesh = await Mesh.start({ mint: true, transports: 'tcp' });
    const mint = mesh.net.mint!;
    const lines: LogLine[] = [];
    const hold = holdFirstPayment();
    const session = await mesh.publish(EXAMPLE, {
      pay: { price: PRICE, deposit: DEPOSIT },
      log: (l) => lines.push(l),
      wrapPayer: hold.wrapPayer,
      ...ONE_WORKER,
    });
    const paid = paidTally(session);
    const walletPath = join(await mkdtemp(join(mesh.dir, 'w-')), 'wallet.json');
    const first = await mesh.worker(session.magnet, { pool: mesh.pool(0.25), earnings: walletEarnings(await Wallet.open(new WalletFile(walletPath))) });
    const key = toHex(first.identity.publicKey);

    // Paid at the mint; before its receipt goes out, the worker's engine is gone.
    const B = await hold.held;
    const label = (await Wallet.open(new WalletFile(walletPath))).snapshot().pending.find((p) => p.B === B)!.label;
    await stopWorker(session, first);
    hold.release();
    await waitFor('the receipt held for the worker', () => lines.find((l) => l.event === 'receipt-held' && l.worker === key && l.paid === true), 20_000);
    expect(session.heldReceipts).toBeGreaterThan(0);

    // A new engine: same key, same wallet file, a new process as far as the tasker can tell.
    const wallet = await Wallet.open(new WalletFile(walletPath));
    expect(wallet.pendingFor(label).length).toBeGreaterThan(0);
    const second = await mesh.worker(session.magnet, { identity: first.identity, pool: mesh.pool(0.25), earnings: walletEarnings(wallet) });
    const paidEvents: number[] = [];
    second.engine.on('paid', (p) => paidEvents.push(p.unit));
    await waitFor('the held receipts sent on the new wire', () => lines.find((l) => l.event === 'receipts-redelivered' && l.worker === key), 60_000);
    await waitFor('the held pay in the wallet', () => wallet.pendingFor(label).length === 0, 30_000);

    await settledTasker(session);
    const heldUnit = Number(label.split(':')[1]);
    expect(paidEvents.filter((u) => u === heldUnit)).toHaveLength(1);
    const final = await Wallet.open(new WalletFile(walletPath));
    expect(final.balance(mint.url)).toBe(paid.get(key));
    expect(mint.mint.ledger.checkInvariants()).toEqual([]);
  }, 180_000);

  it('survives a restart of the tasker: held receipts are read back from disk and delivered', async () => {
    mesh = await Mesh.start({ mint: true, transports: 'tcp' });
    const mint = mesh.net.mint!;
    const receipts = join(mesh.dir, 'receipts');
    const openOutbox = (task: string, dropped: DroppedListener) => ReceiptFile.open(receiptFileFor(receipts, task), task, { dropped });
    const tasker = Identity.generate(nodeCrypto);
    // The same signed manifest both times (a manifest carries the time it was made): the same task started again.
    let times: { created: number; deadline: number } | undefined;
    const sameTask = (task: TaskDir) => {
      ONE_WORKER.change(task);
      times ??= { created: task.body.created, deadline: task.body.deadline };
      Object.assign(task.body, times);
    };
    const lines: LogLine[] = [];
    const hold = holdFirstPayment();
    const before = await mesh.publish(EXAMPLE, {
      identity: tasker,
      openOutbox,
      pay: { price: PRICE, deposit: DEPOSIT },
      log: (l) => lines.push(l),
      wrapPayer: hold.wrapPayer,
      change: sameTask,
    });
    const paidBefore = paidTally(before);
    const walletPath = join(await mkdtemp(join(mesh.dir, 'w-')), 'wallet.json');
    const first = await mesh.worker(before.magnet, { pool: mesh.pool(0.25), earnings: walletEarnings(await Wallet.open(new WalletFile(walletPath))) });
    const key = toHex(first.identity.publicKey);

    const B = await hold.held;
    const label = (await Wallet.open(new WalletFile(walletPath))).snapshot().pending.find((p) => p.B === B)!.label;
    const lease = label.split(':')[2]!;
    await stopWorker(before, first);
    hold.release();
    await waitFor('the receipt held for the worker', () => lines.find((l) => l.event === 'receipt-held' && l.worker === key && l.paid === true), 20_000);

    // The tasker's process ends: what it held is on disk.
    await before.paymentsSettled();
    await before.stop();
    before.torrent.destroy();
    const onDisk = await ReceiptFile.open(receiptFileFor(receipts, before.infoHash), before.infoHash);
    expect(onDisk.held(key).map((h) => h.lease)).toContain(lease);
    expect(onDisk.held(key).find((h) => h.lease === lease)!.sealed.message.paid).toBeDefined();

    // Started again on the same task: the same key and folder make the same task torrent.
    const after = await mesh.publish(EXAMPLE, { identity: tasker, openOutbox, pay: { price: PRICE, deposit: DEPOSIT }, log: (l) => lines.push(l), change: sameTask });
    expect(after.infoHash).toBe(before.infoHash);
    expect(after.heldReceipts).toBe(onDisk.size);
    const paidAfter = paidTally(after);
    const wallet = await Wallet.open(new WalletFile(walletPath));
    expect(wallet.pendingFor(label).length).toBeGreaterThan(0);
    await mesh.worker(after.magnet, { identity: first.identity, pool: mesh.pool(0.25), earnings: walletEarnings(wallet) });
    await waitFor('the pay held across the restart in the wallet', () => wallet.pendingFor(label).length === 0, 60_000);

    await settledTasker(after);
    // Nothing is left on disk once every receipt is acknowledged (the file follows the acks a write later).
    await waitFor('the receipt file gone', async () => (await readdir(receipts)).length === 0, 10_000);
    const final = await Wallet.open(new WalletFile(walletPath));
    expect(final.balance(mint.url)).toBe((paidBefore.get(key) ?? 0) + (paidAfter.get(key) ?? 0));
    expect(mint.mint.ledger.checkInvariants()).toEqual([]);
  }, 240_000);

  it('holds only receipts that carry pay: one without is sent once, and a worker that never acknowledges leaves only its pay held', async () => {
    mesh = await Mesh.start({ mint: true, transports: 'tcp' });
    const lines: LogLine[] = [];
    // The first payment fails (the mint out of reach): that result is accepted unpaid.
    let first = true;
    const session = await mesh.publish(EXAMPLE, {
      pay: { price: PRICE, deposit: DEPOSIT },
      log: (l) => lines.push(l),
      wrapPayer: (payer) => ({
        price: payer.price,
        async pay(blinded): Promise<Paid> {
          if (first) {
            first = false;
            throw new NetworkError('the mint could not be reached');
          }
          return payer.pay(blinded);
        },
      }),
      ...ONE_WORKER,
    });
    const paid = paidTally(session);
    // A worker that never keeps (so never acknowledges) anything: every final receipt stays unacknowledged.
    const wallet = await Wallet.open(new WalletFile(join(await mkdtemp(join(mesh.dir, 'w-')), 'wallet.json')));
    const never: Earnings = { request: walletEarnings(wallet).request, receive: () => new Promise(() => {}), forfeit: () => new Promise(() => {}) };
    const worker = await mesh.worker(session.magnet, { pool: mesh.pool(0.25), earnings: never });
    const heard: Array<{ status: string; reason?: string; paid: boolean }> = [];
    worker.engine.on('receipt', (r) => {
      if (r.status !== 'pending') heard.push({ status: r.status, ...(r.reason === undefined ? {} : { reason: r.reason }), paid: r.paid !== undefined });
    });

    await session.done;
    await session.paymentsSettled();
    expect(lines.some((l) => l.event === 'payment-failed')).toBe(true);
    // The unpaid receipt went out on the live wire, once, and is not held.
    await waitFor('the unpaid receipt heard', () => heard.find((r) => r.reason === 'unpaid: NETWORK'), 20_000);
    const payments = (paid.get(toHex(worker.identity.publicKey)) ?? 0) / PRICE;
    expect(payments).toBeGreaterThan(0);
    expect(session.heldReceipts).toBe(payments);
    expect(heard.filter((r) => !r.paid).length).toBeGreaterThan(0);
  }, 180_000);

  it('logs a send of a held receipt that throws, and still delivers the receipt', async () => {
    mesh = await Mesh.start({ mint: true, transports: 'tcp' });
    const mint = mesh.net.mint!;
    const lines: LogLine[] = [];
    const hold = holdFirstPayment();
    const session = await mesh.publish(EXAMPLE, {
      pay: { price: PRICE, deposit: DEPOSIT },
      // The send of the held receipt fails under the session (here its log line throws).
      log: throwingOnce(lines, 'receipt-held'),
      wrapPayer: hold.wrapPayer,
      ...ONE_WORKER,
    });
    const paid = paidTally(session);
    const walletPath = join(await mkdtemp(join(mesh.dir, 'w-')), 'wallet.json');
    const first = await mesh.worker(session.magnet, { pool: mesh.pool(0.25), earnings: walletEarnings(await Wallet.open(new WalletFile(walletPath))) });
    const key = toHex(first.identity.publicKey);
    const B = await hold.held;
    const label = (await Wallet.open(new WalletFile(walletPath))).snapshot().pending.find((p) => p.B === B)!.label;
    await stopWorker(session, first);
    hold.release();

    const failed = await waitFor('the failed send logged', () => lines.find((l) => l.event === 'receipt-send-failed' && l.worker === key), 20_000);
    expect(failed).toMatchObject({ level: 'error', code: 'INTERNAL' });
    expect(session.heldReceipts).toBeGreaterThan(0);
    const wallet = await Wallet.open(new WalletFile(walletPath));
    await mesh.worker(session.magnet, { identity: first.identity, pool: mesh.pool(0.25), earnings: walletEarnings(wallet) });
    await waitFor('the held pay in the wallet', () => wallet.pendingFor(label).length === 0, 60_000);
    await settledTasker(session);
    expect((await Wallet.open(new WalletFile(walletPath))).balance(mint.url)).toBe(paid.get(key));
  }, 180_000);

  it('logs a timer tick that throws, and keeps ticking', async () => {
    mesh = await Mesh.start({ transports: 'tcp' });
    const lines: LogLine[] = [];
    const session = await mesh.publish(EXAMPLE, { log: (l) => lines.push(l) });
    // A listener of the session's that throws, on every tick.
    session.on('progress', () => {
      throw new Error('a listener failed');
    });
    await waitFor('two ticks failed', () => lines.filter((l) => l.event === 'tick-failed').length >= 2, 20_000);
    expect(lines.find((l) => l.event === 'tick-failed')).toMatchObject({ level: 'error', code: 'INTERNAL', message: 'a listener failed' });
  }, 60_000);
});

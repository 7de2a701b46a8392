// An accepted unit's receipt is the only copy of its pay (the mint's blind
// signatures). Here, with real parts on loopback (DHT, tracker, WebTorrent
// over TCP, worker threads, an in-process mint), one payment is held back
// until the paid worker's wires to the tasker are gone, so its receipt falls
// due while the worker cannot hear it. WebTorrent dials the tasker again by
// itself (it re-adds a closed outgoing TCP peer after a second); when the
// worker greets on the new wire, the tasker sends what it kept, the worker
// keeps the pay and acknowledges it, and the worker's wallet ends with that
// unit's pay exactly once. (More of this in pay-after-disconnect.test.ts.)

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogLine } from '../../serve/log.ts';
import { toHex } from '../../protocol/bytes.ts';
import type { Paid } from '../../tasker/payer.ts';
import { walletEarnings } from '../../worker/earnings.ts';
import { WalletFile } from '../../worker/node/wallet-file.ts';
import { Wallet } from '../../worker/wallet.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { waitFor } from '../../testnet/wait.ts';
import { deferred } from '../support/deferred.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/mandelbrot`;
const PRICE = 5;

let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.stop();
  mesh = undefined;
});

const peerIdOf = (client: object) => (client as { peerId: string }).peerId;

describe('pay for a worker whose wire is gone', () => {
  it('reaches the worker when it reconnects, and is kept once', async () => {
    mesh = await Mesh.start({ mint: true, transports: 'tcp' });
    const mint = mesh.net.mint!;
    const lines: LogLine[] = [];
    const walletA = await Wallet.open(new WalletFile(join(await mkdtemp(join(mesh.dir, 'a-')), 'wallet.json')));
    const walletB = await Wallet.open(new WalletFile(join(await mkdtemp(join(mesh.dir, 'b-')), 'wallet.json')));

    // The first payment for one of A's results is made at the mint at once, but
    // its receipt is held until the test lets it go.
    let heldB: string | undefined;
    const held = deferred();
    const release = deferred();
    const session = await mesh.publish(EXAMPLE, {
      pay: { price: PRICE, deposit: 32 * 3 * PRICE },
      log: (line) => lines.push(line),
      wrapPayer: (payer) => ({
        price: payer.price,
        async pay(blinded): Promise<Paid> {
          const paid = await payer.pay(blinded);
          const B = toHex(blinded[0]!);
          if (heldB === undefined && walletA.snapshot().pending.some((p) => p.B === B)) {
            heldB = B;
            held.resolve();
            await release.promise;
          }
          return paid;
        },
      }),
    });
    const paidTo = new Map<string, number>();
    session.on('paid', (p) => paidTo.set(p.worker, (paidTo.get(p.worker) ?? 0) + p.amount));

    const a = await mesh.worker(session.magnet, { pool: mesh.pool(0.25), earnings: walletEarnings(walletA) });
    const b = await mesh.worker(session.magnet, { pool: mesh.pool(0.25), earnings: walletEarnings(walletB) });
    const keyA = toHex(a.identity.publicKey);
    const paidEvents: Array<{ unit: number; amount: number }> = [];
    a.engine.on('paid', (p) => paidEvents.push(p));

    await held.promise;
    const heldPending = walletA.snapshot().pending.find((p) => p.B === heldB)!;
    const heldLabel = heldPending.label;
    expect(walletA.pendingFor(heldLabel).length).toBeGreaterThan(0);

    // Every wire A has on the task (the tasker's, and B's) goes. The tasker
    // learns it from each wire's 'close', which comes a little after the
    // wire leaves torrent.wires: the receipt is let go only after that.
    const peerA = peerIdOf(a.torrents.client);
    const taskerSide = session.torrent.wires.filter((w) => w.peerId === peerA);
    expect(taskerSide.length).toBeGreaterThan(0);
    const closed = Promise.all(taskerSide.map((w) => once(w, 'close')));
    const taskOfA = a.torrents.client.torrents.find((t) => t.infoHash === session.infoHash)!;
    for (const wire of [...taskOfA.wires]) wire.destroy();
    await closed;
    expect(session.torrent.wires.some((w) => w.peerId === peerA)).toBe(false);
    release.resolve();

    // The receipt could not go out, so it was kept; then it went out on A's new wire.
    await waitFor('the receipt held for A', () => lines.find((l) => l.event === 'receipt-held' && l.worker === keyA && l.paid === true), 10_000);
    // A tasker about to exit can tell that something is held, and wait for it to be acknowledged.
    expect(session.heldReceipts).toBeGreaterThan(0);
    await waitFor('the receipt delivered on A\'s new wire', () => lines.find((l) => l.event === 'receipts-redelivered' && l.worker === keyA), 30_000);
    await waitFor('the held pay in A\'s wallet', () => walletA.pendingFor(heldLabel).length === 0, 10_000);

    await session.done;
    await session.paymentsSettled();
    expect(await session.receiptsDelivered(30_000)).toBe(true);
    expect(session.heldReceipts).toBe(0);
    // Every receipt is acknowledged, so every worker has kept the pay of each (an ack follows the keeping).
    await waitFor('every result answered and its pay kept', () => [a, b].every((w) => w.engine.stats.pending === 0 && w.engine.unsettled === 0), 20_000);

    // The held unit was paid to A once: one credit set in the wallet, one 'paid' from the engine.
    const heldUnit = Number(heldLabel.split(':')[1]);
    expect(paidEvents.filter((p) => p.unit === heldUnit)).toEqual([{ unit: heldUnit, amount: PRICE }]);
    // What the tasker paid A, what A's engine counted, and what A's wallet holds agree.
    for (const [w, wallet] of [[a, walletA], [b, walletB]] as const) {
      const key = toHex(w.identity.publicKey);
      expect(w.engine.stats.rejected).toBe(0);
      // A key's first accepted results may go unpaid (its admission warm-up): what counts is that pay made is pay kept.
      expect(paidTo.get(key) ?? 0).toBeGreaterThan(0);
      expect(w.engine.stats.credits).toBe(paidTo.get(key));
      expect(wallet.balance(mint.url)).toBe(paidTo.get(key));
    }
    expect(paidEvents.reduce((sum, p) => sum + p.amount, 0)).toBe(walletA.balance(mint.url));
    expect(mint.mint.ledger.checkInvariants()).toEqual([]);
  });
});

describe('cycles worker stopped by a signal', () => {
  it('waits for the receipts of the results it sent, and keeps their pay', async () => {
    mesh = await Mesh.start({ mint: true, transports: 'tcp' });
    // Every payment waits until the worker has been told to stop. One matching
    // result verifies a unit here, so every result sent gets its final receipt
    // as soon as payments go through (none waits for a second worker).
    const held = deferred();
    const release = deferred();
    const session = await mesh.publish(EXAMPLE, {
      pay: { price: PRICE, deposit: 32 * 2 * PRICE },
      change: (task) => void (task.body.verify.replication = 1),
      wrapPayer: (payer) => ({
        price: payer.price,
        async pay(blinded): Promise<Paid> {
          held.resolve();
          await release.promise;
          return payer.pay(blinded);
        },
      }),
    });
    const walletPath = join(mesh.dir, 'cli-wallet.json');
    const child = spawn(
      process.execPath,
      [
        `${ROOT}bin/cycles.mjs`, 'worker', '--magnet', session.magnet, '--json', '--cpu', '0.25', '--wallet', walletPath,
        '--dht-bootstrap', mesh.net.bootstrap.join(','), ...mesh.trackers.flatMap((t) => ['--tracker', t]),
      ],
      { env: { ...process.env, SPARECYCLES_HOME: join(mesh.dir, 'cli') }, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const events: Array<Record<string, unknown>> = [];
    createInterface({ input: child.stdout! }).on('line', (line) => events.push(JSON.parse(line)));
    try {
      await held.promise;
      child.kill('SIGTERM');
      const settling = await waitFor('the worker waiting for its receipts', () => events.find((e) => e.event === 'settling'), 15_000);
      expect(settling.results).toBeGreaterThanOrEqual(1);
      release.resolve();
      const [code] = await exited;
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const paid = events.filter((e) => e.event === 'paid');
    expect(paid.length).toBeGreaterThanOrEqual(1);
    expect(events.some((e) => e.event === 'unsettled')).toBe(false);
    // Every accepted result it heard was paid into the wallet file, once.
    // (A key's first accepted results may go unpaid, its admission warm-up: their receipts say so.)
    const accepted = events.filter((e) => e.event === 'receipt' && e.status === 'accepted' && !String(e.reason ?? '').startsWith('unpaid')).length;
    expect(paid.length).toBe(accepted);
    const wallet = await Wallet.open(new WalletFile(walletPath));
    expect(wallet.balance(mesh.net.mint!.url)).toBe(paid.length * PRICE);
  });
});

// The full loop of pay on a private loopback network with real parts: a
// tasker publishes a paying task, workers compute it and send blinded outputs
// with their results, the tasker pays accepted units at a real mint (SQLite
// ledger, HTTP), the workers unblind their pay into wallets, and redeeming
// those credits moves balances at the mint.

import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import { hashToCurve } from '../../protocol/credits/bdhke.ts';
import { nobleCurve } from '../../protocol/credits/curve.ts';
import { walletEarnings } from '../../worker/earnings.ts';
import { WalletFile } from '../../worker/node/wallet-file.ts';
import { Wallet } from '../../worker/wallet.ts';
import { DEFENCE } from '../../tasker/verify/defence.ts';
import { corrupting } from '../../testnet/adversaries.ts';
import { Mesh, type MeshWorker } from '../../testnet/mesh.ts';
import { waitFor } from '../../testnet/wait.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;
const PRICE = 5; // two denominations (4 + 1) per unit
/** A key's first credited results are its unpaid admission warm-up (tasker/verify/defence.ts). */
const paidUnits = (accepted: number) => Math.max(0, accepted - DEFENCE.warmupUnits);

let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.stop();
  mesh = undefined;
});

describe('paying for verified units', () => {
  it("fills each worker's wallet with exactly its accepted units' credits, and redeeming moves the balances", async () => {
    mesh = await Mesh.start({ mint: true });
    const mint = mesh.net.mint!;
    const deposit = 32 * 3 * PRICE;
    const session = await mesh.publish(EXAMPLE, { pay: { price: PRICE, deposit } });
    const paidTo = new Map<string, number>();
    session.on('paid', (p) => paidTo.set(p.worker, (paidTo.get(p.worker) ?? 0) + p.amount));

    const wallets: { wallet: Wallet; path: string }[] = [];
    const workers: MeshWorker[] = [];
    for (let i = 0; i < 3; i++) {
      const path = join(await mkdtemp(join(mesh.dir, 'wallet-')), 'wallet.json');
      const wallet = await Wallet.open(new WalletFile(path));
      wallets.push({ wallet, path });
      workers.push(await mesh.worker(session.magnet, { pool: mesh.pool(0.25), earnings: walletEarnings(wallet) }));
    }
    await session.done;
    await session.paymentsSettled();

    const verified = workers.map((w) => session.coordinator.acceptedUnits(toHex(w.identity.publicKey)).length);
    expect(verified.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * (32 - 2));
    // Every verdict has reached its worker, and the pay of every accepted one has been unblinded.
    await waitFor(
      'every worker holding the pay of every accepted result',
      () => workers.every((w) => w.engine.stats.pending === 0 && w.engine.stats.credits === paidUnits(w.engine.stats.accepted) * PRICE),
      20_000,
    );
    // Accepted results, as the workers heard them (a canary answered right is accepted too).
    const accepted = workers.map((w) => w.engine.stats.accepted);
    for (const [i, w] of workers.entries()) {
      const key = toHex(w.identity.publicKey);
      expect(w.engine.stats.rejected).toBe(0);
      expect(accepted[i]).toBeGreaterThanOrEqual(verified[i]!);
      expect(wallets[i]!.wallet.balance(mint.url)).toBe(paidUnits(accepted[i]!) * PRICE);
      // What the tasker says it paid this worker is exactly what its wallet holds.
      expect(paidTo.get(key) ?? 0).toBe(paidUnits(accepted[i]!) * PRICE);
      // Nothing is left waiting for pay that will never come.
      expect(wallets[i]!.wallet.snapshot().pending).toEqual([]);
      // The pay survives a restart: the wallet file holds it.
      const reopened = await Wallet.open(new WalletFile(wallets[i]!.path));
      expect(reopened.balance(mint.url)).toBe(paidUnits(accepted[i]!) * PRICE);
    }
    const paidTotal = accepted.reduce((a, b) => a + paidUnits(b), 0) * PRICE;
    expect(await mint.client.balance(toHex(session.identity.publicKey))).toBe(deposit - paidTotal);

    // Redeeming: the first worker to an account, the second by a swap into fresh credits.
    // An account is a key: the worker's own.
    const account = toHex(workers[0]!.identity.publicKey);
    const first = await wallets[0]!.wallet.redeem(mint.client, { to: account });
    expect(first.redeemed).toBe(paidUnits(accepted[0]!) * PRICE);
    expect(await mint.client.balance(account)).toBe(paidUnits(accepted[0]!) * PRICE);
    expect(wallets[0]!.wallet.balance()).toBe(0);

    const before = wallets[1]!.wallet.list();
    await wallets[1]!.wallet.redeem(mint.client, { swap: true });
    expect(wallets[1]!.wallet.balance()).toBe(paidUnits(accepted[1]!) * PRICE);
    const oldYs = before.map((c) => hashToCurve(nobleCurve, fromHex(c.x)));
    expect(new Set(await mint.client.state(oldYs))).toEqual(new Set(['spent']));
    const fresh = wallets[1]!.wallet.list().map((c) => hashToCurve(nobleCurve, fromHex(c.x)));
    expect(new Set(await mint.client.state(fresh))).toEqual(new Set(['unspent']));

    expect(mint.mint.ledger.checkInvariants()).toEqual([]);
  });

  it('pays nothing for rejected results: a liar ends with an empty wallet and nothing pending', async () => {
    mesh = await Mesh.start({ mint: true });
    const mint = mesh.net.mint!;
    const session = await mesh.publish(EXAMPLE, { pay: { price: PRICE, deposit: 32 * 3 * PRICE } });
    const liarWallet = await Wallet.open(new WalletFile(join(await mkdtemp(join(mesh.dir, 'liar-')), 'wallet.json')));
    const honestWallet = await Wallet.open(new WalletFile(join(await mkdtemp(join(mesh.dir, 'honest-')), 'wallet.json')));
    const liar = await mesh.worker(session.magnet, {
      pool: corrupting(mesh.pool(0.25), (unit, out) => out.map((b) => (b + unit + 1) & 255)),
      earnings: walletEarnings(liarWallet),
    });
    const honest = [
      await mesh.worker(session.magnet, { pool: mesh.pool(0.25), earnings: walletEarnings(honestWallet) }),
      await mesh.worker(session.magnet, { pool: mesh.pool(0.25) }),
    ];
    await session.done;
    await session.paymentsSettled();
    await waitFor('the liar hearing every verdict', () => liar.engine.stats.pending === 0 && liar.engine.stats.rejected > 0, 20_000);
    expect(liar.engine.stats.accepted).toBe(0);
    expect(liarWallet.balance()).toBe(0);
    expect(liarWallet.snapshot().pending).toEqual([]);
    const honestAccepted = session.coordinator.acceptedUnits(toHex(honest[0]!.identity.publicKey)).length;
    await waitFor('the honest worker holding its pay', () => honest[0]!.engine.stats.credits === paidUnits(honestAccepted) * PRICE, 20_000);
    expect(honestWallet.balance(mint.url)).toBe(paidUnits(honestAccepted) * PRICE);
    expect(mint.mint.ledger.checkInvariants()).toEqual([]);
  });
});

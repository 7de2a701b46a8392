// The tasker pays a unit once per worker, and a failed payment does not
// count: against a real mint (SQLite ledger, HTTP) with a real Payer and a
// real wallet. The tasker's deposit is short at first, so the mint refuses
// the first payment (INSUFFICIENT_FUNDS, which is not retried); once it is
// funded, a later lease of the same unit by the same worker is paid, and its
// pay unblinds into credits. A third lease of the unit is not paid again.
//
// This runs at the level of UnitPayments, which the session pays through,
// rather than over a whole task: the coordinator never gives one worker two
// accepted leases of a unit within one task (a lease lost before its result
// is in is refused when the result comes), so a session cannot be brought to
// pay the same worker's unit twice from outside; the guard matters the
// moment that changes, and a failed payment must not disarm it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.ts';
import { nobleCurve } from '../../protocol/credits/curve.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { MintError } from '../../protocol/errors.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { Payer } from '../../tasker/payer.ts';
import { UnitPayments } from '../../tasker/unit-payments.ts';
import { memoryWalletStore, Wallet } from '../../worker/wallet.ts';
import { startTestMint, type TestMint } from '../../testnet/testnet-mint.ts';

const PRICE = 5;
let m: TestMint;

beforeAll(async () => {
  m = await startTestMint();
});

afterAll(async () => {
  await m?.stop();
});

describe('paying units', () => {
  it('pays a later lease of a unit whose payment failed, and no lease of it after that', async () => {
    const tasker = Identity.generate(nodeCrypto);
    const account = toHex(tasker.publicKey);
    const payer = await Payer.connect({ backend: nodeCrypto, identity: tasker, mint: m.url, price: PRICE, client: m.client });
    const payments = new UnitPayments(payer);
    const wallet = await Wallet.open(memoryWalletStore());
    const worker = 'cd'.repeat(32);
    const lease = async (n: number) => {
      const label = `task:7:lease-${n}`;
      return { label, blinded: (await wallet.prepare(m.url, PRICE, label)).map((o) => o.B) };
    };

    await m.fund(account, PRICE - 1);
    const first = await lease(1);
    const refusal = await payments.pay(worker, 7, first.blinded).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(MintError);
    expect((refusal as MintError).code).toBe('INSUFFICIENT_FUNDS');

    await m.fund(account, 2 * PRICE + 1);
    const second = await lease(2);
    const paid = await payments.pay(worker, 7, second.blinded);
    expect(paid).toBeDefined();
    const credits = await wallet.receiveFor(m.url, await m.client.activeKeyset(nobleCurve), paid!.signatures, second.label);
    expect(credits.reduce((sum, c) => sum + c.amount, 0)).toBe(PRICE);
    expect(wallet.balance(m.url)).toBe(PRICE);

    // Paid now: neither a third lease of the unit nor two at once pay it again.
    const third = await lease(3);
    expect(await payments.pay(worker, 7, third.blinded)).toBeUndefined();
    expect(await m.client.balance(account)).toBe(2 * PRICE);
    // Another worker's lease of the same unit is that worker's pay.
    expect(await payments.pay('ef'.repeat(32), 7, (await lease(4)).blinded)).toBeDefined();
    expect(await m.client.balance(account)).toBe(PRICE);
  });

  it('pays a unit once when two of its leases settle at the same time', async () => {
    const tasker = Identity.generate(nodeCrypto);
    await m.fund(toHex(tasker.publicKey), 10 * PRICE);
    const payments = new UnitPayments(await Payer.connect({ backend: nodeCrypto, identity: tasker, mint: m.url, price: PRICE, client: m.client }));
    const wallet = await Wallet.open(memoryWalletStore());
    const blinded = async (label: string) => (await wallet.prepare(m.url, PRICE, label)).map((o) => o.B);
    const [a, b] = await Promise.all([payments.pay('01'.repeat(32), 3, await blinded('x')), payments.pay('01'.repeat(32), 3, await blinded('y'))]);
    expect([a === undefined, b === undefined].sort()).toEqual([false, true]);
    expect(await m.client.balance(toHex(tasker.publicKey))).toBe(9 * PRICE);
  });
});

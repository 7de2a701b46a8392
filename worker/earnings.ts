// Earnings over a Wallet: what the worker engine calls to ask for pay with a
// result, and to keep the pay an accepted receipt brings. The mint's keysets
// are fetched once per mint and keyset id and checked against their ids, so a
// signature is only accepted with a DLEQ proof under the key the mint
// publishes to everyone.

import { MintClient } from '../net/mint-client.ts';
import { toHex } from '../protocol/bytes.ts';
import { nobleCurve, type CreditCurve } from '../protocol/credits/curve.ts';
import type { PublicKeyset } from '../protocol/credits/keyset.ts';
import type { Earnings, ReceivedPay } from './ports.ts';
import type { Wallet } from './wallet.ts';

export interface WalletEarningsOptions {
  curve?: CreditCurve;
  /** The client for a mint; may take a while to make (a stealth client first learns the mint's keys through a route). */
  client?: (mint: string) => MintClient | Promise<MintClient>;
}

export function walletEarnings(wallet: Wallet, options: WalletEarningsOptions = {}): Earnings {
  const curve = options.curve ?? nobleCurve;
  const clientFor = options.client ?? ((mint: string) => new MintClient(mint));
  const keysets = new Map<string, Promise<PublicKeyset>>();
  const keyset = (mint: string, id: Uint8Array): Promise<PublicKeyset> => {
    const key = `${mint} ${toHex(id)}`;
    let found = keysets.get(key);
    if (!found) {
      found = Promise.resolve(clientFor(mint)).then((client) => client.keyset(curve, id));
      // A failed fetch is not remembered: the next pay tries again.
      found.catch(() => keysets.delete(key));
      keysets.set(key, found);
    }
    return found;
  };
  return {
    async request(mint, amount, label) {
      return (await wallet.prepare(mint, amount, label)).map((o) => o.B);
    },
    async receive(mint, label, pay: ReceivedPay) {
      // Pay for a label already received (a receipt delivered twice) is worth nothing more, and is no error.
      if (wallet.pendingFor(label).length === 0) return 0;
      const credits = await wallet.receiveFor(mint, await keyset(mint, pay.keyset), pay.signatures, label);
      return credits.reduce((sum, c) => sum + c.amount, 0);
    },
    async forfeit(label) {
      await wallet.forget(label);
    },
  };
}

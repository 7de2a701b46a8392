// Earnings for the offscreen document's engine, kept in the background's
// wallet: each call becomes a `wallet` runtime message (lib/wallet-messages.ts)
// and its answer. The background answers with walletEarnings over its
// Wallet, so the outputs are in storage before request() resolves, exactly as
// in `cycles worker`.

import type { Earnings } from '../../worker/ports.ts';
import { outputsFromJson, payToJson, unwrapReply } from './wallet-messages.ts';
import type { ToWallet, WalletAnswers } from './wallet-messages.ts';
import { UsageError } from '../../protocol/errors.ts';

/** Sends one message to the background and resolves with its reply (browser.runtime.sendMessage). */
export type SendToWallet = (message: ToWallet) => Promise<unknown>;

export function remoteEarnings(send: SendToWallet): Earnings {
  return {
    async request(mint, amount, label) {
      const reply = await send({ target: 'wallet', kind: 'earnings-request', mint, amount, label });
      return outputsFromJson(unwrapReply<WalletAnswers['earnings-request']>(reply, 'earnings-request').outputs);
    },
    async receive(mint, label, pay) {
      const reply = await send({ target: 'wallet', kind: 'earnings-receive', mint, label, pay: payToJson(pay) });
      const { credits } = unwrapReply<WalletAnswers['earnings-receive']>(reply, 'earnings-receive');
      if (typeof credits !== 'number' || !Number.isSafeInteger(credits) || credits < 0) throw new UsageError(`credits: expected a whole number, got ${String(credits)}`);
      return credits;
    },
    async forfeit(label) {
      unwrapReply(await send({ target: 'wallet', kind: 'earnings-forfeit', label }), 'earnings-forfeit');
    },
  };
}

// The background's wallet: one Wallet over storage.local, opened on first
// use, answering `wallet` messages (lib/wallet-messages.ts). The offscreen
// engine's Earnings calls are answered by walletEarnings(wallet) (an engine
// in the background page itself calls `earnings()` directly), the
// popup's by a summary, a redeem of every mint's credits to the account in
// the settings, and an export of every mint's credits as tokens. Everything
// platform-specific comes in as `deps`, so tests hand in a memory store and a
// fake mint.

import { MintClient } from '../../net/mint-client.ts';
import { decodeToken } from '../../protocol/credits/token.ts';
import { walletEarnings } from '../../worker/earnings.ts';
import type { Earnings } from '../../worker/ports.ts';
import type { Wallet } from '../../worker/wallet.ts';
import {
  outputsToJson,
  payFromJson,
  readWalletRequest,
  refusal,
  WalletRefusedError,
  type ExportOutcome,
  type MintBalance,
  type RedeemOutcome,
  type ToWallet,
  type WalletAnswers,
  type WalletReply,
  type WalletSummary,
} from './wallet-messages.ts';
import type { ExportedToken } from './wallet-store.ts';

export interface WalletServiceDeps {
  /** Opens the stored wallet (Wallet.open over lib/wallet-store.ts); rejects when it does not read. */
  openWallet(): Promise<Wallet>;
  /** The account "Redeem to account" pays into, from the settings; '' when none is set. */
  redeemAccount(): Promise<string>;
  /**
   * How to reach a mint: for the engine's pay ('earnings', the mint's public
   * keys) or for redeeming. In stealth mode both go through onion routes, and
   * a redeem goes in batches of `batch` credits. Directly over HTTP without it.
   */
  mintAccess?(url: string, purpose: MintPurpose): MintAccess | Promise<MintAccess>;
  /** Keeps tokens just exported until the volunteer clears them. */
  keepExport?(tokens: ExportedToken[]): Promise<void>;
  log?(message: string, error?: unknown): void;
}

export type MintPurpose = 'earnings' | 'redeem';

export interface MintAccess {
  client: MintClient;
  /** Credits per redeem request, where fewer than the protocol allows must go at once. */
  batch?: number;
}

export function summarize(credits: readonly { mint: string; amount: number }[]): Omit<WalletSummary, 'error'> {
  const byMint = new Map<string, MintBalance>();
  for (const c of credits) {
    const entry = byMint.get(c.mint) ?? { mint: c.mint, amount: 0, count: 0 };
    entry.amount += c.amount;
    entry.count++;
    byMint.set(c.mint, entry);
  }
  const mints = [...byMint.values()].sort((a, b) => b.amount - a.amount || a.mint.localeCompare(b.mint));
  return { total: mints.reduce((s, m) => s + m.amount, 0), count: credits.length, mints };
}

export class WalletService {
  private opening: Promise<{ wallet: Wallet; earnings: Earnings }> | undefined;
  private readonly mintAccess: (url: string, purpose: MintPurpose) => Promise<MintAccess>;

  constructor(private readonly deps: WalletServiceDeps) {
    this.mintAccess = async (url, purpose) => (deps.mintAccess ? deps.mintAccess(url, purpose) : { client: new MintClient(url) });
  }

  /** The wallet, opened once. A wallet that did not open is tried again on the next call: nothing is ever written over it. */
  private open(): Promise<{ wallet: Wallet; earnings: Earnings }> {
    if (!this.opening) {
      const opening = this.deps.openWallet().then((wallet) => ({ wallet, earnings: walletEarnings(wallet, { curve: wallet.curve, client: async (url) => (await this.mintAccess(url, 'earnings')).client }) }));
      this.opening = opening;
      opening.catch((error: unknown) => {
        if (this.opening === opening) this.opening = undefined;
        this.deps.log?.('the wallet in storage could not be opened; it is left as it is', error);
      });
    }
    return this.opening;
  }

  /**
   * Earnings for an engine in the same context as the wallet (Firefox's
   * background page): the calls lib/remote-earnings.ts sends as messages,
   * made directly, with the same wallet behind them.
   */
  earnings(): Earnings {
    return {
      request: async (mint, amount, label) => (await this.open()).earnings.request(mint, amount, label),
      receive: async (mint, label, pay) => (await this.open()).earnings.receive(mint, label, pay),
      forfeit: async (label) => (await this.open()).earnings.forfeit(label),
    };
  }

  /** Answers one runtime message for the wallet. Never rejects: a refusal is a reply too. */
  async handle(message: unknown): Promise<WalletReply<unknown>> {
    let request: ToWallet;
    try {
      request = readWalletRequest(message);
    } catch (error) {
      return refusal(error);
    }
    try {
      return { ok: true, value: await this.answer(request) };
    } catch (error) {
      return refusal(error);
    }
  }

  private async answer(request: ToWallet): Promise<WalletAnswers[ToWallet['kind']]> {
    switch (request.kind) {
      case 'summary':
        return this.summary();
      case 'redeem':
        return this.redeem();
      case 'export':
        return this.export();
      case 'earnings-request': {
        const { earnings } = await this.open();
        return { outputs: outputsToJson(await earnings.request(request.mint, request.amount, request.label)) };
      }
      case 'earnings-receive': {
        const { earnings } = await this.open();
        return { credits: await earnings.receive(request.mint, request.label, payFromJson(request.pay)) };
      }
      case 'earnings-forfeit': {
        const { earnings } = await this.open();
        await earnings.forfeit(request.label);
        return null;
      }
    }
  }

  async summary(): Promise<WalletSummary> {
    try {
      const { wallet } = await this.open();
      return summarize(wallet.list());
    } catch (error) {
      return { total: 0, count: 0, mints: [], error: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Every credit of every mint to the account in the settings, one mint after another; a mint that fails does not stop the rest. */
  async redeem(): Promise<RedeemOutcome> {
    const account = await this.deps.redeemAccount();
    if (account === '') throw new WalletRefusedError('no account to redeem to: set one in the settings', 'NO_ACCOUNT');
    const { wallet } = await this.open();
    const outcome: RedeemOutcome = { account, mints: [] };
    for (const mint of wallet.mints()) {
      try {
        const { client, batch } = await this.mintAccess(mint, 'redeem');
        const report = await wallet.redeem(client, { to: account }, batch === undefined ? {} : { batch });
        outcome.mints.push({ mint, redeemed: report.redeemed, dropped: report.spent.length + report.invalid.length });
      } catch (error) {
        outcome.mints.push({ mint, redeemed: 0, dropped: 0, error: error instanceof Error ? error.message : String(error) });
      }
    }
    return outcome;
  }

  /** Every mint's credits as one token each. The credits leave the wallet, and the tokens are kept for the popup. */
  async export(): Promise<ExportOutcome> {
    const { wallet } = await this.open();
    const outcome: ExportOutcome = { tokens: [], errors: [] };
    for (const mint of wallet.mints()) {
      try {
        const token = await wallet.exportToken({ mint });
        const amount = decodeToken(token).credits.reduce((sum, c) => sum + c.amount, 0);
        outcome.tokens.push({ mint, amount, token });
      } catch (error) {
        outcome.errors.push({ mint, error: error instanceof Error ? error.message : String(error) });
      }
    }
    if (outcome.tokens.length > 0) {
      // The credits are already out of the wallet: a failure to keep the copy must not hide the tokens.
      await this.deps.keepExport?.(outcome.tokens).catch((error: unknown) => this.deps.log?.('could not keep the exported tokens', error));
    }
    return outcome;
  }
}

// A worker's wallet: the blinded outputs it hands out to be paid, the credits
// their signatures turn into, and the ways credits leave it (a token for
// someone else, a redeem to an account, a swap for fresh credits).
//
// Every change is computed on a copy of the data, saved, and only then made
// the wallet's state, one change at a time: a failed save or a refused
// signature leaves the wallet as it was, and what was handed out (a B, a
// request) is on disk before anyone else sees it. Credits leave only once
// the mint confirmed. Platform-neutral: runs in Node and the extension.

import type { MintClient } from '../net/mint-client.ts';
import { fromHex, toHex } from '../protocol/bytes.ts';
import { MESSAGE_LIMITS, PAY_LIMITS } from '../protocol/constants.ts';
import { blind, hashToCurve, scalarFromRandom, unblind, verifyDleq } from '../protocol/credits/bdhke.ts';
import { nobleCurve, type CreditCurve } from '../protocol/credits/curve.ts';
import { DENOMINATIONS, splitAmount, type PublicKeyset } from '../protocol/credits/keyset.ts';
import { TOKEN_MAX_CREDITS, decodeToken, encodeToken } from '../protocol/credits/token.ts';
import { KeyError, SpareCyclesError, UsageError } from '../protocol/errors.ts';
import { decodeMessage, encodeMessage, type BlindedOutput, type BlindSignature, type Redeem, type RedeemOk } from '../protocol/messages/index.ts';
import {
  emptyWallet,
  mintKey,
  readWalletData,
  WalletError,
  type PendingOutput,
  type StoredCredit,
  type WalletData,
  type WalletStore,
} from './wallet-data.ts';

export { memoryWalletStore, WalletError } from './wallet-data.ts';
export type { PendingOutput, PendingRedeem, StoredCredit, WalletData, WalletErrorCode, WalletStore } from './wallet-data.ts';

/** `length` random bytes. */
export type Random = (length: number) => Uint8Array;

const systemRandom: Random = (length) => globalThis.crypto.getRandomValues(new Uint8Array(length));

/** Where redeemed credits go: an account at the mint, or fresh credits into this wallet. */
export type RedeemTarget = { to: string } | { swap: true };

export interface RedeemReport {
  /** The amount the mint confirmed taking in. */
  redeemed: number;
  /** The amount of fresh credits a swap brought into the wallet. */
  received: number;
  /** Requests the mint confirmed, resumed ones included. */
  requests: number;
  /** Credits the mint reported spent already (by someone else holding the same token): dropped. */
  spent: StoredCredit[];
  /** Credits the mint found invalid (C is not k·H(x)): dropped. */
  invalid: StoredCredit[];
}

const sum = (items: readonly { amount: number }[]) => items.reduce((a, i) => a + i.amount, 0);
const LARGEST = DENOMINATIONS.at(-1)!;

/** Denominations for `amount`, largest first: splitAmount, with the largest denomination repeated beyond its range. */
export function splitOutputs(amount: number): number[] {
  if (!Number.isSafeInteger(amount) || amount < 1) throw new UsageError(`expected a positive whole amount, got ${amount}`);
  const parts = [...Array<number>(Math.floor(amount / LARGEST)).fill(LARGEST), ...splitAmount(amount % LARGEST)];
  if (parts.length > MESSAGE_LIMITS.outputs) {
    throw new UsageError(`${amount} needs ${parts.length} outputs; one request carries at most ${MESSAGE_LIMITS.outputs}`);
  }
  return parts;
}

/**
 * Credits from `credits` that make `amount`: exactly when any subset does
 * (greedy largest-first is exact for powers of two: if a subset makes the
 * rest, one containing the largest credit that fits does too); else a set
 * that covers it with little left over: the greedy part plus the smallest
 * credit covering the rest, less any credits it can do without, or a single
 * larger credit if that leaves less.
 */
export function selectCredits(credits: readonly StoredCredit[], amount: number): { credits: StoredCredit[]; exact: boolean } | undefined {
  if (!Number.isSafeInteger(amount) || amount < 1) throw new UsageError(`expected a positive whole amount, got ${amount}`);
  const sorted = [...credits].sort((a, b) => b.amount - a.amount);
  const chosen: StoredCredit[] = [];
  let rest = amount;
  const unused: StoredCredit[] = [];
  for (const c of sorted) {
    if (c.amount <= rest) {
      chosen.push(c);
      rest -= c.amount;
    } else unused.push(c);
  }
  if (rest === 0) return { credits: chosen, exact: true };
  // Every unused credit is larger than what is left: the smallest of them covers it.
  const cover = unused.at(-1);
  if (!cover) return undefined;
  const covering = [cover, ...chosen];
  let total = sum(covering);
  for (let i = covering.length - 1; i >= 1; i--) {
    if (total - covering[i]!.amount >= amount) total -= covering.splice(i, 1)[0]!.amount;
  }
  const single = sorted.findLast((c) => c.amount >= amount);
  if (single && single.amount <= total) return { credits: [single], exact: false };
  return { credits: covering, exact: false };
}

/** How a wallet tells time, and how long a pending output waits for its pay. */
export interface WalletClock {
  now?: () => number;
  /** Default PAY_LIMITS.pendingOutputMs. */
  pendingTtlMs?: number;
}

export class Wallet {
  readonly #store: WalletStore;
  readonly curve: CreditCurve;
  readonly #random: Random;
  readonly #now: () => number;
  readonly #pendingTtlMs: number;
  #data: WalletData;
  /** Changes run one at a time, each on the state the previous one left. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(store: WalletStore, data: WalletData, curve: CreditCurve, random: Random, clock: WalletClock) {
    this.#store = store;
    this.#data = data;
    this.curve = curve;
    this.#random = random;
    this.#now = clock.now ?? Date.now;
    this.#pendingTtlMs = clock.pendingTtlMs ?? PAY_LIMITS.pendingOutputMs;
  }

  /**
   * Opens the wallet in `store` (empty when there is none yet), migrating
   * data of an older version (written back in the current one with the next
   * change). WalletError FORMAT or VERSION if it does not read.
   */
  static async open(store: WalletStore, curve: CreditCurve = nobleCurve, random: Random = systemRandom, clock: WalletClock = {}): Promise<Wallet> {
    const stored = await store.load();
    const now = (clock.now ?? Date.now)();
    return new Wallet(store, stored === undefined ? emptyWallet() : readWalletData(stored, now), curve, random, clock);
  }

  /**
   * Applies `change` to a copy, saves the copy, then makes it the state. A
   * throw or a failed save changes nothing. A store that other processes
   * share is locked for the change and read again first, so the change is
   * made to what is stored now, not to what this process saw last.
   * Pending outputs past their time go first; `change` is told how many.
   */
  #update<T>(change: (data: WalletData, expired: number) => T | Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      const release = await this.#store.lock?.();
      try {
        if (release) {
          const stored = await this.#store.load();
          this.#data = stored === undefined ? emptyWallet() : readWalletData(stored, this.#now());
        }
        const next = structuredClone(this.#data);
        const expired = this.#expire(next);
        const out = await change(next, expired);
        await this.#store.save(next);
        this.#data = next;
        return out;
      } finally {
        await release?.();
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  // ---- Reading ---------------------------------------------------------------------------------

  /** What the credits (of one mint, if named) add up to, including any in a redeem not yet confirmed. */
  balance(mint?: string): number {
    return sum(this.#creditsOf(mint));
  }

  list(): StoredCredit[] {
    return this.#data.credits.map((c) => ({ ...c }));
  }

  /** The mints the wallet holds credits of. */
  mints(): string[] {
    return [...new Set(this.#data.credits.map((c) => c.mint))];
  }

  /** Outputs handed out under `label` and not yet signed. */
  pendingFor(label: string): PendingOutput[] {
    return this.#data.pending.filter((p) => p.label === label).map((p) => ({ ...p }));
  }

  /** A copy of everything the wallet holds, as stored. */
  snapshot(): WalletData {
    return structuredClone(this.#data);
  }

  #creditsOf(mint: string | undefined): StoredCredit[] {
    const key = mint === undefined ? undefined : mintKey(mint);
    return this.#data.credits.filter((c) => key === undefined || c.mint === key);
  }

  /** Credits in a redeem request not yet answered: committed to it, so not to be handed out. */
  #locked(data: WalletData): Set<string> {
    return new Set(data.redeems.flatMap((r) => (decodeMessage(fromHex(r.message)) as Redeem).proofs.map((p) => toHex(p.x))));
  }

  // ---- Being paid ----------------------------------------------------------------------------------

  /**
   * Fresh blinded outputs for `amount` at `mint` (largest denomination first),
   * saved as pending under `label` before they are returned, so a crash after
   * they were handed out loses nothing.
   */
  async prepare(mint: string, amount: number, label: string): Promise<BlindedOutput[]> {
    const fresh = this.#newOutputs(mintKey(mint), amount, label);
    await this.#update((d) => void d.pending.push(...fresh));
    return fresh.map((p) => ({ amount: p.amount, B: fromHex(p.B) }));
  }

  #newOutputs(mint: string, amount: number, label: string): PendingOutput[] {
    return splitOutputs(amount).map((a) => {
      const x = this.#random(32);
      const r = scalarFromRandom(this.#random(64));
      return { mint, amount: a, x: toHex(x), r: toHex(r), B: toHex(blind(this.curve, x, r).B), label, created: this.#now() };
    });
  }

  /**
   * Turns the mint's blind signatures on `outputs` (the Bs, in the order they
   * were signed) into credits. Every DLEQ proof is checked against the
   * keyset's key for its amount first; one that fails, an amount that is not
   * the output's, or an output not pending refuses the lot, wallet unchanged.
   */
  receive(mint: string, keyset: PublicKeyset, signatures: readonly BlindSignature[], outputs: readonly Uint8Array[]): Promise<StoredCredit[]> {
    const key = mintKey(mint);
    return this.#update((d) => this.#receiveInto(d, key, keyset, signatures, outputs));
  }

  /**
   * receive() for the outputs pending under `label`, found in the same change
   * that takes them, so pay delivered twice for one label (a receipt sent
   * again after a reconnection) adds nothing the second time instead of
   * failing. Resolves with no credits when nothing is pending under the
   * label: paid already, or forgotten.
   */
  async receiveFor(mint: string, keyset: PublicKeyset, signatures: readonly BlindSignature[], label: string): Promise<StoredCredit[]> {
    // Nothing to take: no need to write the wallet again.
    if (this.pendingFor(label).length === 0) return [];
    const key = mintKey(mint);
    return this.#update((d) => {
      const outputs = d.pending.filter((p) => p.label === label).map((p) => fromHex(p.B));
      return outputs.length === 0 ? [] : this.#receiveInto(d, key, keyset, signatures, outputs);
    });
  }

  #receiveInto(
    d: WalletData,
    mint: string,
    keyset: PublicKeyset,
    signatures: readonly BlindSignature[],
    outputs: readonly Uint8Array[],
  ): StoredCredit[] {
    if (signatures.length !== outputs.length) {
      throw new WalletError('MISMATCH', `${signatures.length} signatures for ${outputs.length} outputs`, { field: 'signatures' });
    }
    const used = new Set<PendingOutput>();
    const credits = signatures.map((sig, i): StoredCredit => {
      const B = outputs[i]!;
      const p = d.pending.find((o) => o.mint === mint && o.B === toHex(B));
      if (!p || used.has(p)) {
        throw new WalletError('UNKNOWN_OUTPUT', `outputs[${i}]: not an output this wallet has pending at ${mint}`, { field: `outputs[${i}]` });
      }
      used.add(p);
      if (sig.amount !== p.amount) {
        throw new WalletError('MISMATCH', `signatures[${i}]: signed for ${sig.amount}, the output was for ${p.amount}`, { field: `signatures[${i}].amount` });
      }
      const K = keyset.keys.get(sig.amount);
      if (!K) throw new WalletError('MISMATCH', `signatures[${i}]: the keyset has no key for ${sig.amount}`, { field: `signatures[${i}].amount` });
      if (!verifyDleq(this.curve, K, B, sig.C, sig)) {
        throw new WalletError('PROOF', `signatures[${i}]: the DLEQ proof does not verify against keyset ${toHex(keyset.id)}`, { field: `signatures[${i}]` });
      }
      let C: Uint8Array;
      try {
        C = unblind(this.curve, sig.C, fromHex(p.r), K);
      } catch (cause) {
        throw new WalletError('PROOF', `signatures[${i}]: does not unblind to a point`, { field: `signatures[${i}]`, cause });
      }
      return { mint, keyset: toHex(keyset.id), amount: p.amount, x: p.x, C: toHex(C) };
    });
    d.pending = d.pending.filter((o) => !used.has(o));
    d.credits.push(...credits);
    return credits.map((c) => ({ ...c }));
  }

  /**
   * Pending outputs no pay answered within the wallet's time for them go
   * with any change (its secrets are no use once the tasker stopped sending
   * the pay). Outputs of a swap still in a redeem request stay: the mint may
   * yet answer it.
   */
  #expire(d: WalletData): number {
    const before = this.#now() - this.#pendingTtlMs;
    const swaps = new Set(d.redeems.map((r) => `swap:${toHex((decodeMessage(fromHex(r.message)) as Redeem).id)}`));
    const kept = d.pending.filter((p) => p.created >= before || swaps.has(p.label));
    const dropped = d.pending.length - kept.length;
    d.pending = kept;
    return dropped;
  }

  /** Drops the pending outputs that have waited too long for their pay now; returns how many. */
  expirePending(): Promise<number> {
    return this.#update((_, expired) => expired);
  }

  /**
   * Drops the outputs pending under `label`: they will never be signed (the
   * work was rejected, the tasker went away). Returns how many were dropped.
   */
  forget(label: string): Promise<number> {
    return this.#update((d) => {
      const before = d.pending.length;
      d.pending = d.pending.filter((p) => p.label !== label);
      return before - d.pending.length;
    });
  }

  // ---- Handing credits over ----------------------------------------------------------------

  /**
   * Chooses credits of one mint that make `amount` exactly when any do, else
   * that cover it with little left over. Does not remove them. The mint
   * may be left out when the wallet holds credits of one mint only.
   */
  take(amount: number, mint?: string): StoredCredit[] {
    const key = this.#oneMint(mint);
    const locked = this.#locked(this.#data);
    const free = this.#data.credits.filter((c) => c.mint === key && !locked.has(c.x));
    const chosen = selectCredits(free, amount);
    if (!chosen) throw new WalletError('FUNDS', `${amount} wanted; the wallet holds ${sum(free)} at ${key}`, { field: 'amount' });
    return chosen.credits.map((c) => ({ ...c }));
  }

  #oneMint(mint: string | undefined): string {
    if (mint !== undefined) return mintKey(mint);
    const mints = this.mints();
    if (mints.length > 1) throw new WalletError('MINT', `the wallet holds credits of ${mints.length} mints (${mints.join(', ')}); name one`, { field: 'mint' });
    if (mints.length === 0) throw new WalletError('FUNDS', 'the wallet holds no credits', { field: 'amount' });
    return mints[0]!;
  }

  /**
   * A token for credits of one mint: exactly `amount`, or all of them. The
   * credits leave the wallet (they were handed over); CHANGE if no set of
   * credits makes the amount exactly (swap first for finer change).
   */
  exportToken(options: { amount?: number; mint?: string } = {}): Promise<string> {
    return this.#update((d) => {
      const key = this.#oneMint(options.mint);
      const locked = this.#locked(d);
      const free = d.credits.filter((c) => c.mint === key && !locked.has(c.x));
      let chosen = free;
      if (options.amount !== undefined) {
        const picked = selectCredits(free, options.amount);
        if (!picked) throw new WalletError('FUNDS', `${options.amount} wanted; the wallet holds ${sum(free)} at ${key}`, { field: 'amount' });
        if (!picked.exact) {
          const nearest = sum(picked.credits);
          throw new WalletError('CHANGE', `no set of credits makes exactly ${options.amount}; the nearest above is ${nearest}; swap for change first`, { field: 'amount' });
        }
        chosen = picked.credits;
      }
      if (chosen.length === 0) throw new WalletError('FUNDS', `the wallet holds no credits at ${key} to export`, { field: 'amount' });
      if (chosen.length > TOKEN_MAX_CREDITS) {
        throw new WalletError('FUNDS', `${chosen.length} credits; a token holds at most ${TOKEN_MAX_CREDITS} (name a smaller amount)`, { field: 'amount' });
      }
      const token = encodeToken(key, chosen.map((c) => ({ keyset: fromHex(c.keyset), amount: c.amount, x: fromHex(c.x), C: fromHex(c.C) })));
      const gone = new Set(chosen.map((c) => c.x));
      d.credits = d.credits.filter((c) => !gone.has(c.x));
      return token;
    });
  }

  /** Adds a token's credits, skipping any the wallet already holds (by x). Decode errors and KeyError leave the wallet unchanged. */
  async importToken(text: string): Promise<{ mint: string; added: StoredCredit[]; duplicates: number }> {
    const token = decodeToken(text);
    const mint = mintKey(token.mint, 'token.m');
    token.credits.forEach((c, i) => {
      if (!this.curve.isPoint(c.C)) throw new KeyError(`token.p[${i}].C: expected a ristretto255 point`, { field: `token.p[${i}].C` });
    });
    return this.#update((d) => {
      const held = new Set(d.credits.map((c) => c.x));
      const added = token.credits
        .map((c): StoredCredit => ({ mint, keyset: toHex(c.keyset), amount: c.amount, x: toHex(c.x), C: toHex(c.C) }))
        .filter((c) => !held.has(c.x));
      d.credits.push(...added);
      return { mint, added, duplicates: token.credits.length - added.length };
    });
  }

  // ---- Redeeming -----------------------------------------------------------------------------

  /**
   * Spends every credit of `client`'s mint: to an account, or for fresh
   * credits (a swap), in requests of at most `batch` (MESSAGE_LIMITS.outputs
   * unless given: a request through an onion route must fit one packet)
   * credits of one keyset each. First sends again any request a crash or a lost
   * answer left unanswered. A credit leaves only once the mint confirmed;
   * credits the mint reports spent already, or invalid, are dropped and
   * reported. A transport failure throws and keeps the request for the next
   * call. `only` narrows the credits redeemed (say, a token just imported).
   */
  async redeem(client: MintClient, target: RedeemTarget, options: { only?: readonly { x: string }[]; batch?: number } = {}): Promise<RedeemReport> {
    const most = Math.max(1, Math.min(options.batch ?? MESSAGE_LIMITS.outputs, MESSAGE_LIMITS.outputs));
    const mint = mintKey(client.url);
    const report: RedeemReport = { redeemed: 0, received: 0, requests: 0, spent: [], invalid: [] };
    // The credits to redeem are those held now: a swap's fresh credits are not redeemed again.
    const only = options.only && new Set(options.only.map((c) => c.x));
    const todo = new Set(this.#data.credits.filter((c) => c.mint === mint && (!only || only.has(c.x))).map((c) => c.x));

    for (const r of this.#data.redeems.filter((r) => r.mint === mint)) await this.#send(client, mint, r.message, report);
    for (;;) {
      // Written down before it is sent, so a retry after a crash sends these very bytes.
      const message = await this.#update((d) => {
        // Credits another call has in a request of its own are left to it.
        const locked = this.#locked(d);
        const left = d.credits.filter((c) => todo.has(c.x) && !locked.has(c.x));
        if (left.length === 0) return undefined;
        const batch = left.filter((c) => c.keyset === left[0]!.keyset).slice(0, most);
        const id = this.#random(16);
        const outputs = 'swap' in target ? this.#newOutputs(mint, sum(batch), `swap:${toHex(id)}`) : [];
        const bytes = encodeMessage({
          t: 'redeem',
          v: 1,
          id,
          keyset: fromHex(batch[0]!.keyset),
          proofs: batch.map((c) => ({ amount: c.amount, x: fromHex(c.x), C: fromHex(c.C) })),
          ...('swap' in target ? { outputs: outputs.map((o) => ({ amount: o.amount, B: fromHex(o.B) })) } : { to: target.to }),
        });
        d.redeems.push({ mint, message: toHex(bytes) });
        d.pending.push(...outputs);
        return toHex(bytes);
      });
      if (message === undefined) break;
      await this.#send(client, mint, message, report);
    }
    return report;
  }

  /** Sends one written-down request and settles it. Each settled request removes at least one credit, or throws. */
  async #send(client: MintClient, mint: string, message: string, report: RedeemReport): Promise<void> {
    const msg = decodeMessage(fromHex(message)) as Redeem;
    const xs = new Set(msg.proofs.map((p) => toHex(p.x)));
    const label = `swap:${toHex(msg.id)}`;
    /** Drops the request (and its swap outputs) and the credits `gone` names. */
    const settle = (d: WalletData, gone: Set<string>) => {
      d.redeems = d.redeems.filter((r) => r.message !== message);
      d.pending = d.pending.filter((p) => p.label !== label);
      const dropped = d.credits.filter((c) => gone.has(c.x));
      d.credits = d.credits.filter((c) => !gone.has(c.x));
      return dropped;
    };

    let answer: RedeemOk;
    try {
      answer = await client.redeem(msg);
    } catch (error) {
      // The mint's own refusals; a transport failure or a timeout leaves the request written down for a retry.
      const code = error instanceof SpareCyclesError && error.code !== 'NETWORK' && error.code !== 'TIMEOUT' ? error.code : undefined;
      if (code === 'ALREADY_SPENT') {
        const states = await client.state(msg.proofs.map((p) => hashToCurve(this.curve, p.x)));
        const spent = new Set(msg.proofs.filter((_, i) => states[i] === 'spent').map((p) => toHex(p.x)));
        report.spent.push(...(await this.#update((d) => settle(d, spent))));
        if (spent.size === 0) throw new WalletError('MISMATCH', `${mint} refused a redeem as ALREADY_SPENT but reports none of its credits spent`, { cause: error });
        return;
      }
      const at = code === 'INVALID_CREDIT' ? /^proofs\[(\d+)\]$/.exec((error as SpareCyclesError).field ?? '') : null;
      if (at && msg.proofs[Number(at[1])]) {
        report.invalid.push(...(await this.#update((d) => settle(d, new Set([toHex(msg.proofs[Number(at[1])]!.x)])))));
        return;
      }
      // A refusal the mint will repeat for these bytes (it changed nothing): forget the request, keep the credits.
      if (code !== undefined && code !== 'INTERNAL' && code !== 'RATE_LIMITED') await this.#update((d) => void settle(d, new Set()));
      throw error;
    }

    const amount = sum(msg.proofs);
    if (answer.amount !== amount || toHex(answer.id) !== toHex(msg.id) || answer.to !== msg.to) {
      throw new WalletError('MISMATCH', `${mint} answered request ${toHex(msg.id)} (${amount} to ${msg.to ?? 'a swap'}) with another request's answer`);
    }
    if (msg.outputs) {
      if (!answer.signatures || !answer.keyset) throw new WalletError('MISMATCH', `${mint} answered a swap without signatures`);
      const keyset = await client.keyset(this.curve, answer.keyset);
      const signatures = answer.signatures;
      const outputs = msg.outputs.map((o) => o.B);
      const fresh = await this.#update((d) => {
        const fresh = this.#receiveInto(d, mint, keyset, signatures, outputs);
        settle(d, xs);
        return fresh;
      });
      report.received += sum(fresh);
    } else {
      await this.#update((d) => void settle(d, xs));
    }
    report.redeemed += amount;
    report.requests++;
  }
}

// The tasker's side of paying: for each accepted result, a signed payment
// asking the task's mint to sign the blinded outputs the worker sent with it.
// The mint debits the tasker's deposit; the signatures go back to the worker
// in its accepted receipt, and only the worker can unblind them.
//
// A payment keeps its request id across retries, so a mint that committed
// but whose answer was lost pays once and answers the same again.

import { toHex } from '../protocol/bytes.ts';
import { nobleCurve } from '../protocol/credits/curve.ts';
import { splitAmount, type PublicKeyset } from '../protocol/credits/keyset.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { NetworkError, SchemaError, SpareCyclesError, UsageError } from '../protocol/errors.ts';
import { signMessage, type BlindSignature } from '../protocol/messages/index.ts';
import { MintClient } from '../net/mint-client.ts';

export interface Paid {
  keyset: Uint8Array;
  signatures: BlindSignature[];
}

export interface PayerOptions {
  backend: CryptoBackend;
  identity: Identity;
  mint: string;
  /** Credits per accepted unit (the manifest's price). */
  price: number;
  /** Attempts per payment; the mint's own refusals are not retried. */
  attempts?: number;
  retryMs?: number;
  client?: MintClient;
}

export class Payer {
  readonly mint: string;
  readonly price: number;
  readonly #options: PayerOptions;
  readonly #client: MintClient;
  readonly #amounts: number[];
  readonly #keyset: PublicKeyset;
  /** Units paid so far and credits spent on them. */
  readonly stats = { payments: 0, credits: 0, failures: 0 };

  private constructor(options: PayerOptions, client: MintClient, keyset: PublicKeyset) {
    this.#options = options;
    this.mint = options.mint;
    this.price = options.price;
    this.#client = client;
    this.#keyset = keyset;
    this.#amounts = splitAmount(options.price);
  }

  /** Fetches the mint's active keyset; RangeError for a price no keyset can pay. */
  static async connect(options: PayerOptions): Promise<Payer> {
    if (options.price < 1) throw new UsageError('a task that pays nothing needs no payer');
    splitAmount(options.price);
    const client = options.client ?? new MintClient(options.mint);
    return new Payer(options, client, await client.activeKeyset(nobleCurve));
  }

  get account(): string {
    return toHex(this.#options.identity.publicKey);
  }

  /** The tasker's deposit left at the mint. */
  balance(): Promise<number | undefined> {
    return this.#client.balance(this.account);
  }

  /** How many blinded outputs a result must carry to be paid. */
  get outputsPerUnit(): number {
    return this.#amounts.length;
  }

  /**
   * Pays one accepted unit: the worker's blinded outputs, one per
   * denomination of the price, largest first. Throws SchemaError for outputs
   * of the wrong count, or the mint's typed refusal.
   */
  async pay(blinded: readonly Uint8Array[]): Promise<Paid> {
    if (blinded.length !== this.#amounts.length) {
      throw new SchemaError(`blinded: expected ${this.#amounts.length} outputs for a price of ${this.price}, got ${blinded.length}`, { field: 'blinded' });
    }
    const { backend, identity } = this.#options;
    const payment = signMessage(backend, identity.exportSeed(), {
      t: 'payment',
      v: 1,
      id: backend.randomBytes(16),
      keyset: this.#keyset.id,
      outputs: blinded.map((B, i) => ({ amount: this.#amounts[i]!, B })),
      tasker: identity.publicKey,
      ts: Date.now(),
    });
    const attempts = this.#options.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      try {
        const ok = await this.#client.pay(payment);
        this.stats.payments++;
        this.stats.credits += this.price;
        return { keyset: ok.keyset, signatures: ok.signatures };
      } catch (error) {
        if (!retriable(error) || attempt >= attempts) {
          this.stats.failures++;
          throw error;
        }
        await new Promise((r) => setTimeout(r, (this.#options.retryMs ?? 250) * 2 ** (attempt - 1)));
      }
    }
  }
}

/**
 * A refusal is final; a transport failure, a timeout or the mint's own fault is
 * retried with the same id. An HTTP 4xx without a typed refusal (a proxy in the
 * way, say) will not change on a retry either.
 */
function retriable(error: unknown): boolean {
  if (error instanceof NetworkError) return error.status === undefined || error.status < 400 || error.status >= 500;
  if (!(error instanceof SpareCyclesError)) return true;
  return error.code === 'TIMEOUT' || error.code === 'INTERNAL' || error.code === 'RATE_LIMITED';
}

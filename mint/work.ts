// What a request costs the mint, and how much of that one client may spend.
//
// Requests are not alike: a redeem of 64 forged credits is 7.7 KB and asks
// for 64 scalar multiplications (about 9 ms of the mint's CPU) before it can
// be refused, while a balance query costs next to nothing. Counting requests
// either lets the first starve everyone or forbids the second, so each client
// IP holds a budget of work units and every request is charged what it asks
// for: its bytes when they arrive, then, once decoded, its signatures, credits
// and outputs, before any of them is checked. A request the budget cannot pay
// for is refused with RATE_LIMITED and a Retry-After, and costs the mint no
// more than reading it.

import { MintError, UsageError } from '../protocol/errors.ts';
import { ipKey } from '../serve/rate-limit.ts';

/**
 * The unit is one ristretto255 scalar multiplication, about 0.14 ms on the
 * libsodium backend (64 of them were the 9 ms above); the other prices are
 * what each step costs next to one.
 */
export const WORK = {
  /** Any request: the HTTP exchange, routing, a small JSON body. */
  request: 1,
  /** Each KiB of body beyond that: JSON, base64 and bencode decoding. */
  perKiB: 0.25,
  /** An ed25519 signature to verify (a deposit's, a payment's). */
  signature: 1,
  /** A credit to check: hash to the curve, one multiplication, a comparison. */
  proof: 1,
  /** A blinded output to sign: C′ = k·B and the two multiplications of its DLEQ proof. */
  output: 3,
  /** A sealed request (POST /v1/oblivious) to open and its answer to seal: one X25519 and a few hashes. */
  sealed: 1,
  /** /health and /metrics: sums over every account and every spent credit. */
  report: 20,
} as const;

/**
 * The default budget per client IP. 500 units a second is about 70 ms of
 * CPU a second, 7% of one core: it takes some fourteen addresses flooding at
 * once to fill a core, and each of them gets a redeem of 64 forged credits
 * through about seven times a second instead of 130. The burst of 5,000
 * units (ten seconds' worth) lets a worker redeem some 4,700 credits, or a
 * tasker make some 900 one-output payments, at once; sustained, a tasker pays
 * about 90 one-output payments a second. A mint whose clients share
 * addresses (NAT) or pay at a higher rate raises it (`cycles mint
 * --work-per-minute`).
 */
export const DEFAULT_BUDGET = { perMinute: 30_000, burst: 5_000 } as const;

export interface BudgetOptions {
  /** Work units one client IP earns a minute. */
  perMinute: number;
  /** Most units one client IP may hold (and so spend at once). */
  burst: number;
}

/** A RATE_LIMITED refusal that says when to come back. */
export class RateLimitedError extends MintError {
  /** Seconds until the request's cost is earned back; the HTTP Retry-After. */
  readonly retryAfterS: number;
  constructor(units: number, retryAfterS: number) {
    super('RATE_LIMITED', `this request costs ${Math.ceil(units)} work units and this address has spent its budget; retry in ${retryAfterS} s`);
    this.retryAfterS = retryAfterS;
  }
}

interface Account {
  units: number;
  last: number;
}

/** One work budget per client IP (IPv6 per /64), created full and forgotten once full again. */
export class WorkBudget {
  readonly perMinute: number;
  readonly burst: number;
  readonly #perMs: number;
  readonly #accounts = new Map<string, Account>();

  constructor(options: BudgetOptions = DEFAULT_BUDGET) {
    for (const [name, value] of Object.entries(options)) {
      if (!Number.isFinite(value) || value < 1) throw new UsageError(`budget.${name}: expected a number ≥ 1, got ${value}`);
    }
    this.perMinute = options.perMinute;
    this.burst = options.burst;
    this.#perMs = options.perMinute / 60_000;
  }

  #account(key: string, now: number): Account {
    let a = this.#accounts.get(key);
    if (!a) {
      a = { units: this.burst, last: now };
      this.#accounts.set(key, a);
    }
    // A clock that steps back earns nothing and loses nothing.
    a.units = Math.min(this.burst, a.units + Math.max(0, now - a.last) * this.#perMs);
    a.last = Math.max(a.last, now);
    return a;
  }

  /** Takes `units` from the budget of `address`, or throws RateLimitedError and takes nothing. */
  charge(address: string | undefined, units: number, now = Date.now()): void {
    const a = this.#account(ipKey(address), now);
    if (a.units >= units) {
      a.units -= units;
      return;
    }
    throw new RateLimitedError(units, Math.max(1, Math.ceil((units - a.units) / this.#perMs / 1000)));
  }

  /** The charge for one client, for code that must not know about addresses. */
  chargerFor(address: string | undefined): (units: number) => void {
    return (units) => this.charge(address, units);
  }

  /** Drops the budgets that are full: a new one would be just the same. */
  sweep(now = Date.now()): void {
    for (const [key, a] of this.#accounts) {
      if (a.units + Math.max(0, now - a.last) * this.#perMs >= this.burst) this.#accounts.delete(key);
    }
  }

  get size(): number {
    return this.#accounts.size;
  }
}

/** The work units of a body of `bytes`. */
export function bodyWork(bytes: number): number {
  return (bytes / 1024) * WORK.perKiB;
}

// Token buckets for the relay: one per WebSocket and one per client IP, both
// of which a request must find a token in. A bucket holds a minute's worth of
// requests, so a client may spend its budget in one burst and then gets one
// request back every 60 s / rate. IPv6 clients are counted per /64, the block
// one subscriber usually holds, so that rotating addresses inside it buys
// nothing.

import { UsageError } from '../protocol/errors.ts';

export interface RateLimits {
  /** Requests one WebSocket may make per minute (all of them at once, if it likes). */
  perConnectionPerMinute: number;
  /** WebSockets one IP may hold open at once. */
  perIpConnections: number;
  /** Requests per minute from one IP, over all its WebSockets. */
  perIpPerMinute: number;
}

/**
 * A browser asks for offers every half minute or so and fetches a few items:
 * 120 a minute per connection leaves plenty of room. Several browsers may
 * share one address behind NAT, hence the larger per-IP numbers.
 */
export const DEFAULT_LIMITS: RateLimits = { perConnectionPerMinute: 120, perIpConnections: 16, perIpPerMinute: 600 };

export function checkLimits(limits: RateLimits): RateLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`limits.${name}: expected a positive integer, got ${value}`);
  }
  return limits;
}

export class TokenBucket {
  readonly capacity: number;
  readonly #perMs: number;
  #tokens: number;
  #last: number;

  /** A full bucket of `perMinute` tokens that refills at `perMinute` a minute. */
  constructor(perMinute: number, now = Date.now()) {
    this.capacity = perMinute;
    this.#perMs = perMinute / 60_000;
    this.#tokens = perMinute;
    this.#last = now;
  }

  available(now = Date.now()): number {
    // A clock that steps back refills nothing and takes nothing away.
    const elapsed = Math.max(0, now - this.#last);
    this.#tokens = Math.min(this.capacity, this.#tokens + elapsed * this.#perMs);
    this.#last = Math.max(this.#last, now);
    return this.#tokens;
  }

  take(now = Date.now()): boolean {
    if (this.available(now) < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  full(now = Date.now()): boolean {
    return this.available(now) >= this.capacity;
  }

  /** Milliseconds until one token is back. */
  msUntilToken(now = Date.now()): number {
    return Math.max(0, Math.ceil((1 - this.available(now)) / this.#perMs));
  }
}

/** Takes one token from every bucket, or from none if any is empty. */
export function takeAll(buckets: TokenBucket[], now = Date.now()): boolean {
  if (buckets.some((b) => b.available(now) < 1)) return false;
  for (const b of buckets) b.take(now);
  return true;
}

/** One bucket per key, created full on first use and forgotten once full again (sweep). */
export class BucketMap {
  readonly #perMinute: number;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(perMinute: number) {
    this.#perMinute = perMinute;
  }

  get(key: string, now = Date.now()): TokenBucket {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.#perMinute, now);
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Drops buckets that have refilled: a new one would be just the same. */
  sweep(now = Date.now()): void {
    for (const [key, bucket] of this.#buckets) if (bucket.full(now)) this.#buckets.delete(key);
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/** Open connections per key, for the per-IP cap. */
export class Counter {
  readonly #counts = new Map<string, number>();

  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.#counts.set(key, this.get(key) + 1);
  }

  remove(key: string): void {
    const n = this.get(key) - 1;
    if (n > 0) this.#counts.set(key, n);
    else this.#counts.delete(key);
  }
}

/**
 * The key a client's address is counted under: IPv4 as is (also when mapped
 * into IPv6), IPv6 by its /64.
 */
export function ipKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const bare = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (!bare.includes(':')) return bare;
  const [head = '', tail] = bare.split('::');
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  const prefix = groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16));
  while (prefix.length < 4) prefix.push('0');
  return `${prefix.join(':')}::/64`;
}

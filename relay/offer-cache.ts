// The relay's view of the market: the verified offers findOffers returns,
// refreshed refreshMs after the last refresh ended, and on demand when a
// browser asks and the view is older than that (before the first refresh, or
// when refreshes fail or take longer than the period). One refresh runs at a time; everyone who asks while it
// runs waits for that same refresh (bounded), so a crowd of browsers costs
// one DHT lookup, not one each.
//
// Each offer is kept as the bytes its tasker signed: findOffers has verified
// the signature, so encodeMessage gives back exactly those bytes, and they
// are what the relay hands on.

import type DHT from 'bittorrent-dht';
import type { Logger } from '../serve/log.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { encodeMessage, type Offer } from '../protocol/messages/index.ts';
import { findOffers, type RejectReason } from '../net/offer-finder.ts';
import { DHT_READY_WAIT_MS, onceReady } from './dht-ready.ts';

export interface CachedOffer {
  offer: Offer;
  /** The encoded offer message, exactly as its tasker signed it. */
  bytes: Uint8Array;
}

export interface OfferCacheOptions {
  backend: CryptoBackend;
  dht: DHT;
  refreshMs: number;
  log: Logger;
  /** Called after each refresh, for metrics. */
  onRefresh?: (outcome: { ok: boolean; ms: number; offers: number }) => void;
  onRejected?: (reason: RejectReason) => void;
}

export class OfferCache {
  readonly #options: OfferCacheOptions;
  #offers: CachedOffer[] = [];
  /** When the last successful refresh finished; 0 before the first. */
  #refreshedAt = 0;
  #inflight: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #unwait: (() => void) | undefined;
  /** Ends a refresh in flight when the cache stops: its lookup would otherwise hold the process until its own deadline. */
  readonly #abort = new AbortController();

  constructor(options: OfferCacheOptions) {
    this.#options = options;
  }

  /** Refreshes once the DHT has joined, and again refreshMs after each refresh ends. */
  start(): void {
    // A browser asking before then starts a refresh of its own (the cache is empty and so stale).
    this.#unwait = onceReady(this.#options.dht, DHT_READY_WAIT_MS, () => void this.refresh());
  }

  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
    this.#unwait?.();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  get size(): number {
    return this.#offers.length;
  }

  /** Milliseconds since the last successful refresh; Infinity before the first. */
  ageMs(now = Date.now()): number {
    return this.#refreshedAt ? now - this.#refreshedAt : Infinity;
  }

  /**
   * The offers, best paid first, without those past their deadline. If the
   * view is stale, waits up to `waitMs` for the (single) refresh it starts or
   * joins; on a slow DHT the caller gets what is held.
   */
  async current(waitMs: number): Promise<CachedOffer[]> {
    if (this.ageMs() >= this.#options.refreshMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.refresh(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    }
    const nowS = Date.now() / 1000;
    return this.#offers.filter(({ offer }) => offer.deadline >= nowS);
  }

  /** Starts a refresh, or joins the one running. Never rejects. */
  refresh(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#inflight ??= this.#run().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  /** The periodic refresh, counted from the end of the last one, whatever started it. */
  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.refresh(), this.#options.refreshMs);
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    const { backend, dht, log } = this.#options;
    const started = performance.now();
    let ok = false;
    try {
      const found = await findOffers({
        backend,
        dht,
        signal: this.#abort.signal,
        onRejected: (r) => {
          // Another peer's fault, not ours: worth a debug line and a metric, no more.
          log({ level: 'debug', event: 'relay-offer-rejected', reason: r.reason, source: r.source, endpoint: r.endpoint, detail: r.detail });
          this.#options.onRejected?.(r.reason);
        },
      });
      if (this.#stopped) return;
      this.#offers = found.map(({ offer }) => ({ offer, bytes: encodeMessage(offer) }));
      this.#refreshedAt = Date.now();
      ok = true;
    } catch (error) {
      log({ level: 'warn', event: 'relay-refresh-failed', message: (error as Error).message });
    } finally {
      const ms = performance.now() - started;
      if (ok) log({ level: 'debug', event: 'relay-offers-refreshed', offers: this.#offers.length, ms: Math.round(ms) });
      this.#options.onRefresh?.({ ok, ms, offers: this.#offers.length });
      this.#schedule();
    }
  }
}

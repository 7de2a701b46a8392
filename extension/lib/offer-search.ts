// Where a volunteer's browser looks for offers when it was told no relay:
// the shipped relays (lib/shipped-network.ts), and every relay they name in
// their signed descriptors (net/relay-view.ts), asked best first. A relay
// that does not answer is put aside, the longer the more it fails in a row,
// and one that answers moves up, so a dead or lying shipped relay costs one
// try, not every search. With a relay set in the options, only that relay is
// asked, as before.

import { chooseOffer, fetchOffersFromRelay } from '../../net/relay-client.ts';
import type { SocketConstructor } from '../../net/relay-client.ts';
import { knownRelaysSource, relayDescriptorsSource } from '../../net/relay-http-sources.ts';
import { RelayView } from '../../net/relay-view.ts';
import type { CryptoBackend } from '../../protocol/crypto/backend.ts';
import type { Offer } from '../../protocol/messages/index.ts';

/** How often the view of relays is asked again. */
const REFRESH_MS = 10 * 60_000;
/** Relays asked for offers in one search, best first. */
const ASKED_PER_SEARCH = 4;

export interface OfferSearchOptions {
  backend: CryptoBackend;
  /** The relays to start from: the one in the options, or the shipped list. */
  relays: readonly string[];
  /** Whether to grow the list from the relays' descriptors (not for a relay the volunteer chose alone). */
  grow: boolean;
  WebSocket?: SocketConstructor;
  now?: () => number;
}

export interface FoundOffer {
  offer: Offer;
  /** The relay that handed it out: the tasker announces at its signalling endpoint too. */
  relay: string;
}

export class OfferSearch {
  readonly #o: OfferSearchOptions;
  readonly #view: RelayView | undefined;
  /** Failures in a row and when a relay may be asked again, by URL: the shipped relays have no descriptor to rank them by. */
  readonly #standing = new Map<string, { failures: number; asideUntil: number }>();
  #refreshedAt = Number.NEGATIVE_INFINITY;

  constructor(options: OfferSearchOptions) {
    this.#o = options;
    if (options.grow && options.relays.length > 0) {
      const view = new RelayView({ backend: options.backend, sources: options.relays.map((url) => relayDescriptorsSource(url)) });
      view.addSource(knownRelaysSource(view));
      this.#view = view;
    }
  }

  /** The relays known now, best first: those not put aside, then those the view ranks higher. */
  relays(): string[] {
    const now = this.#now();
    const fromView = this.#view?.ranking().map((e) => e.descriptor.ws) ?? [];
    const all = [...new Set([...this.#o.relays.map(normalise), ...fromView.map(normalise)])];
    const aside = (url: string) => ((this.#standing.get(url)?.asideUntil ?? 0) > now ? 1 : 0);
    const failures = (url: string) => this.#standing.get(url)?.failures ?? 0;
    return all.sort((a, b) => aside(a) - aside(b) || failures(a) - failures(b));
  }

  /** Asks the best relays in turn until one hands out an offer worth taking; undefined if none does. `accept` narrows the offers (stealth mode wants a rendezvous). */
  async find(accept: (offer: Offer) => boolean = () => true): Promise<FoundOffer | undefined> {
    await this.#maybeRefresh();
    let lastError: unknown;
    let answered = false;
    for (const relay of this.relays().slice(0, ASKED_PER_SEARCH)) {
      try {
        const { offers } = await fetchOffersFromRelay({
          url: relay,
          backend: this.#o.backend,
          ...(this.#o.WebSocket ? { WebSocket: this.#o.WebSocket } : {}),
        });
        this.#answered(relay);
        answered = true;
        const offer = chooseOffer(offers.filter(accept));
        if (offer) return { offer, relay };
      } catch (error) {
        lastError = error;
        this.#failed(relay);
      }
    }
    // No relay answered: say why, so the volunteer sees more than silence.
    if (!answered && lastError !== undefined) throw lastError;
    return undefined;
  }

  async #maybeRefresh(): Promise<void> {
    if (!this.#view || this.#now() - this.#refreshedAt < REFRESH_MS) return;
    this.#refreshedAt = this.#now();
    // Twice: the second pass asks the relays the first one named.
    await this.#view.refresh(AbortSignal.timeout(10_000)).catch(() => {});
    await this.#view.refresh(AbortSignal.timeout(10_000)).catch(() => {});
  }

  #answered(url: string): void {
    this.#standing.set(url, { failures: 0, asideUntil: 0 });
    const entry = this.#entryOf(url);
    if (entry) this.#view!.reportSuccess(entry);
  }

  #failed(url: string): void {
    const s = this.#standing.get(url) ?? { failures: 0, asideUntil: 0 };
    s.failures++;
    s.asideUntil = this.#now() + Math.min(30_000 * 2 ** (s.failures - 1), 30 * 60_000);
    this.#standing.set(url, s);
    const entry = this.#entryOf(url);
    if (entry) this.#view!.reportFailure(entry);
  }

  #entryOf(url: string): string | undefined {
    return this.#view?.relays().find((e) => normalise(e.descriptor.ws) === url)?.id;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }
}

function normalise(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

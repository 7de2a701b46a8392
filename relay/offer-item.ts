// A live BEP 44 get of a tasker's offer, for relay-get. bittorrent-dht checks
// the item's BEP 44 signature; this checks that what the item holds is an
// offer signed by the very key it is stored under, with the item's seq, so
// the relay hands on nothing a browser would refuse. Lookups of one key share
// one DHT query, each has a deadline, and only so many run at once.

import { createHash } from 'node:crypto';
import type DHT from 'bittorrent-dht';
import type { DhtItem } from 'bittorrent-dht';
import { bep44Verify } from '../net/dht.ts';
import type { Logger } from '../serve/log.ts';
import type { BValue } from '../protocol/bencode.ts';
import { equalBytes, toHex } from '../protocol/bytes.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { NetworkError, SpareCyclesError, TimeoutError, type ErrorDetails } from '../protocol/errors.ts';
import { encodeMessage, readMessage, verifyMessage } from '../protocol/messages/index.ts';

export interface OfferItem {
  /** The encoded offer message, exactly as its tasker signed it (and as BEP 44's `v`). */
  offer: Uint8Array;
  seq: number;
  /** The BEP 44 signature over `3:seqi<seq>e1:v` ‖ offer. */
  sig: Uint8Array;
}

export interface OfferItemsOptions {
  backend: CryptoBackend;
  dht: DHT;
  timeoutMs: number;
  /** DHT lookups in flight at once, over all connections. */
  maxInFlight: number;
  log: Logger;
}

/** Too many lookups in flight already. */
export class LookupBusyError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('BUSY', message, details);
  }
}

/** The DHT gave no answer within the deadline. */
export class LookupTimeoutError extends TimeoutError {}

export class OfferItems {
  readonly #options: OfferItemsOptions;
  readonly #inflight = new Map<string, Promise<OfferItem | null>>();
  /** Ends the lookups in flight at stop(), with their deadlines' timers. */
  readonly #abort = new AbortController();

  constructor(options: OfferItemsOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#inflight.size;
  }

  /** Ends every lookup in flight (each rejects) and refuses new ones. */
  stop(): void {
    this.#abort.abort();
  }

  /** The offer under `key`, null if the DHT holds none (or none valid); rejects on busy, timeout, stop or a DHT error. */
  get(key: Uint8Array): Promise<OfferItem | null> {
    if (this.#abort.signal.aborted) return Promise.reject(new NetworkError('the relay is stopping'));
    const id = toHex(key);
    const running = this.#inflight.get(id);
    if (running) return running;
    if (this.#inflight.size >= this.#options.maxInFlight) {
      return Promise.reject(new LookupBusyError(`${this.#options.maxInFlight} DHT lookups are in flight already`));
    }
    const lookup = this.#lookup(key).finally(() => this.#inflight.delete(id));
    this.#inflight.set(id, lookup);
    return lookup;
  }

  #lookup(key: Uint8Array): Promise<OfferItem | null> {
    const { backend, dht, timeoutMs } = this.#options;
    // BEP 44 target of a mutable item without salt: sha1(k).
    const target = createHash('sha1').update(key).digest();
    const signal = this.#abort.signal;
    return new Promise((resolve, reject) => {
      // A destroyed node drops its queries' callbacks: its close ends the lookup too.
      const end = (error: Error) => {
        settle();
        reject(error);
      };
      const onTimeout = () => end(new LookupTimeoutError(`expected an answer from the DHT within ${timeoutMs} ms, got none`));
      const onStop = () => end(new NetworkError('the relay is stopping'));
      const onClose = () => end(new NetworkError('the DHT node was destroyed'));
      const settle = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onStop);
        dht.off('close', onClose);
      };
      const timer = setTimeout(onTimeout, timeoutMs);
      signal.addEventListener('abort', onStop, { once: true });
      dht.once('close', onClose);
      try {
        dht.get(target, { verify: bep44Verify(backend), cache: false }, (error, item) => {
          settle();
          if (error) return reject(error);
          resolve(item ? this.#check(key, item) : null);
        });
      } catch (error) {
        end(error as Error);
      }
    });
  }

  #check(key: Uint8Array, item: DhtItem): OfferItem | null {
    const { backend, log } = this.#options;
    const drop = (reason: string) => {
      // The item's author's business, not a fault of ours or the browser's.
      log({ level: 'debug', event: 'relay-item-dropped', key: toHex(key), reason });
      return null;
    };
    if (!(item.k instanceof Uint8Array) || !equalBytes(item.k, key)) return drop('item k is not the key asked for');
    if (!(item.sig instanceof Uint8Array) || item.sig.length !== 64) return drop('item has no 64-byte sig');
    if (typeof item.seq !== 'number') return drop('item has no seq');
    let message;
    try {
      message = readMessage(item.v as BValue);
    } catch (error) {
      return drop(`not a message: ${(error as Error).message}`);
    }
    if (message.t !== 'offer') return drop(`expected an offer, got ${message.t}`);
    try {
      verifyMessage(backend, message);
    } catch (error) {
      return drop((error as Error).message);
    }
    if (!equalBytes(message.tasker, key)) return drop(`holds an offer by ${toHex(message.tasker)}`);
    if (message.seq !== item.seq) return drop(`offer seq ${message.seq} differs from the item's seq ${item.seq}`);
    return { offer: encodeMessage(message), seq: item.seq, sig: Uint8Array.from(item.sig) };
  }
}

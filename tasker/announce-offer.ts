// Puts a running task's offer on the DHT (tasker/offer-publisher.ts). A
// task still runs by its magnet if this fails, so failure is a warning.

import type DHT from 'bittorrent-dht';
import { dhtReady } from '../net/dht.ts';
import type { Logger } from '../serve/log.ts';
import { fromHex } from '../protocol/bytes.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Rendezvous } from '../protocol/messages/offer.ts';
import { SpareCyclesError, TimeoutError } from '../protocol/errors.ts';
import { OfferPublisher } from './offer-publisher.ts';
import type { TaskerSession } from './session.ts';

/**
 * Starts an offer publisher for the session; undefined if it could not, or if
 * `signal` aborted first. `rendezvous`, when the tasker's mailbox is open
 * already, goes into the first offer; one opened later goes in through the
 * publisher's setRendezvous().
 */
export async function announceOffer(
  backend: CryptoBackend,
  session: TaskerSession,
  dht: DHT | false | null,
  host: string,
  log: Logger,
  signal?: AbortSignal,
  rendezvous?: Rendezvous,
): Promise<OfferPublisher | undefined> {
  if (!dht) return undefined;
  const { manifest } = session;
  const publisher = new OfferPublisher({ backend, identity: session.identity, dht, host, log, rendezvous });
  try {
    if (!(await dhtReady(dht, 10_000, signal))) {
      if (signal?.aborted) throw new SpareCyclesError('NETWORK', 'stopped before the offer was published');
      throw new TimeoutError('expected the DHT to bootstrap, got no node to join through');
    }
    const started = publisher.start({
      task: fromHex(session.infoHash),
      name: manifest.name,
      price: manifest.price,
      left: manifest.units,
      units: manifest.units,
      deadline: manifest.deadline,
      mode: manifest.mode,
      ...(manifest.mint ? { mint: manifest.mint } : {}),
    });
    // A put or an announce on a node that is destroyed under it never calls back: a stop must not wait for it.
    started.catch(() => {});
    await (signal ? Promise.race([started, abortion(signal)]) : started);
    return publisher;
  } catch (error) {
    if (!signal?.aborted) log({ level: 'warn', event: 'offer-failed', message: (error as Error).message });
    await publisher.stop();
    return undefined;
  }
}

/** Rejects when `signal` aborts; never settles otherwise. */
function abortion(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    const stopped = () => reject(new SpareCyclesError('NETWORK', 'stopped before the offer was published'));
    if (signal.aborted) stopped();
    else signal.addEventListener('abort', stopped, { once: true });
  });
}

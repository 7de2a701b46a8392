// Puts a running task's offer on the DHT (tasker/offer-publisher.ts). A
// task still runs by its magnet if this fails, so failure is a warning.

import type DHT from 'bittorrent-dht';
import { dhtReady } from '../net/dht.ts';
import type { Logger } from '../serve/log.ts';
import { fromHex } from '../protocol/bytes.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { OfferPublisher } from './offer-publisher.ts';
import type { TaskerSession } from './session.ts';

export async function announceOffer(
  backend: CryptoBackend,
  session: TaskerSession,
  dht: DHT | false | null,
  host: string,
  log: Logger,
): Promise<OfferPublisher | undefined> {
  if (!dht) return undefined;
  const { manifest } = session;
  const publisher = new OfferPublisher({ backend, identity: session.identity, dht, host, log });
  try {
    if (!(await dhtReady(dht))) throw new Error('the DHT did not bootstrap');
    await publisher.start({
      task: fromHex(session.infoHash),
      name: manifest.name,
      price: manifest.price,
      left: manifest.units,
      units: manifest.units,
      deadline: manifest.deadline,
      mode: manifest.mode,
      ...(manifest.mint ? { mint: manifest.mint } : {}),
    });
    return publisher;
  } catch (error) {
    log({ level: 'warn', event: 'offer-failed', message: (error as Error).message });
    await publisher.stop();
    return undefined;
  }
}

// Fetches a torrent by magnet and waits until it is complete, with a bound on
// how long that may take, and a way to give up early.

import type WebTorrent from 'webtorrent';
import type { Torrent, TorrentOptions, Wire } from 'webtorrent';
import { NetworkError, TimeoutError } from '../protocol/errors.ts';
import { sendWithoutDelay } from './torrent-files.ts';
import { sparingOffers } from './webrtc-offers.ts';

/** A torrent that was not complete within its deadline. */
export class FetchTimeoutError extends TimeoutError {}

export function addTorrent(
  client: WebTorrent,
  torrentId: string | Uint8Array,
  options: TorrentOptions & {
    onWire?: (wire: Wire) => void;
    /**
     * Make WebRTC offers from the first announce (net/webrtc-offers.ts): for a
     * torrent a browser may be seeding, whose own offers went out before we
     * joined. Otherwise offers wait until nothing else has connected us.
     */
    offerAtOnce?: boolean;
  },
): Torrent {
  const { onWire, offerAtOnce, ...rest } = options;
  // The policy looks the torrent up when it announces.
  let torrent: Torrent | undefined;
  torrent = client.add(torrentId, offerAtOnce ? rest : { getAnnounceOpts: sparingOffers(() => torrent), ...rest });
  torrent.on('wire', (wire: Wire) => {
    sendWithoutDelay(torrent, wire);
    onWire?.(wire);
  });
  return torrent;
}

export function whenDone(torrent: Torrent, timeoutMs: number): Promise<Torrent> {
  if (torrent.done) return Promise.resolve(torrent);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new FetchTimeoutError(`torrent ${torrent.infoHash} not complete after ${timeoutMs} ms (${Math.round(torrent.progress * 100)}%)`));
    }, timeoutMs);
    const onDone = () => {
      cleanup();
      resolve(torrent);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    // A torrent destroyed before it completes (its client stopping, say) never says done: end the wait, and its timer, now.
    const onClose = () => {
      cleanup();
      reject(new NetworkError(`torrent ${torrent.infoHash} was closed before it was complete`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      torrent.off('done', onDone);
      torrent.off('error', onError);
      torrent.off('close', onClose);
    };
    torrent.once('done', onDone);
    torrent.once('error', onError);
    torrent.once('close', onClose);
  });
}

export { magnetFor } from '../protocol/magnet.ts';

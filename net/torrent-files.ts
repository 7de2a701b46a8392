// Seeding from memory and reading files back, for any Node role.

import type WebTorrent from 'webtorrent';
import type { Torrent, Wire } from 'webtorrent';
import { sparingOffers } from './webrtc-offers.ts';

export type NamedBuffer = Buffer & { name: string };

/** A buffer WebTorrent will seed under `name`, which may contain folders. */
export function namedFile(name: string, bytes: Uint8Array): NamedBuffer {
  return Object.assign(Buffer.from(bytes), { name });
}

export interface SeedOptions {
  trackers: string[];
  /** Storage folder for this torrent's pieces. */
  path: string;
  /** Attach BEP 10 extensions here: WebTorrent wants them before the first wire. */
  onWire?: (wire: Wire) => void;
}

export function seedBuffers(
  client: WebTorrent,
  name: string,
  input: NamedBuffer[],
  options: SeedOptions,
): Promise<Torrent> {
  return new Promise((resolve, reject) => {
    let torrent: Torrent | undefined;
    torrent = client.seed(input, {
      getAnnounceOpts: sparingOffers(() => torrent),
      // A one-file torrent is named after its file; keep that name the file's own.
      name: input.length === 1 ? input[0]!.name : name,
      announce: options.trackers,
      path: options.path,
      createdBy: 'SpareCycles/0.1',
    });
    torrent.on('wire', (wire: Wire) => {
      sendWithoutDelay(torrent, wire);
      options.onWire?.(wire);
    });
    torrent.once('error', reject);
    torrent.once('seed', () => {
      torrent.off('error', reject);
      resolve(torrent);
    });
  });
}


/** Reads one file of a complete torrent by its path inside the torrent. */
export async function readTorrentFile(torrent: Torrent, path: string): Promise<Uint8Array | undefined> {
  const file = torrent.files.find((f) => f.path === `${torrent.name}/${path}` || (torrent.files.length === 1 && f.name === path));
  return file ? new Uint8Array(await file.arrayBuffer()) : undefined;
}

interface PeerLike {
  wire?: Wire | null;
  conn?: { setNoDelay?: (on: boolean) => void } | null;
}

/**
 * Our messages on a task wire are small and conversational (claim, assign,
 * result, receipt). Over TCP, Nagle's algorithm and delayed ACKs hold such
 * messages back about 40 ms each, which starves workers between units, so
 * every TCP wire of a task sends at once.
 */
export function sendWithoutDelay(torrent: Torrent, wire: Wire): void {
  const peers = (torrent as unknown as { _peers?: Map<string, PeerLike> })._peers;
  for (const peer of peers?.values() ?? []) {
    if (peer.wire === wire) peer.conn?.setNoDelay?.(true);
  }
}

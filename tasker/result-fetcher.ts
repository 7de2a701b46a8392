// Fetches the result torrents workers publish for outputs too large to ride
// inline. One torrent may carry a worker's whole batch, so each is fetched
// once and read per unit; a torrent larger than the batch could honestly be
// is dropped as soon as its metadata says so. Its files are sealed under the
// key the result carries (protocol/result-cipher.ts); one that does not open
// is the worker's fault, like an output that does not match its hash.

import type WebTorrent from 'webtorrent';
import type { Torrent } from 'webtorrent';
import { addTorrent, magnetFor, whenDone } from '../net/fetch-torrent.ts';
import { readTorrentFile } from '../net/torrent-files.ts';
import { toHex } from '../protocol/bytes.ts';
import { LIMITS } from '../protocol/constants.ts';
import { HashMismatchError, SchemaError } from '../protocol/errors.ts';
import { openResultFile, RESULT_CIPHER } from '../protocol/result-cipher.ts';
import { resultFileName } from '../protocol/task-files.ts';

const FETCH_TIMEOUT_MS = 60_000;

export class ResultFetcher {
  private readonly torrents = new Map<string, Promise<Torrent>>();

  constructor(
    private readonly client: WebTorrent,
    private readonly trackers: string[],
    private readonly storage: string,
    /** The most output bytes one batch could hold; the files' seals come on top. */
    private readonly maxBytes: number,
  ) {}

  /** The output of `unit` in the result torrent `infoHash`, opened with `key`; a HashMismatchError if it is missing or does not open. */
  async fetch(task: Uint8Array, infoHash: Uint8Array, key: Uint8Array, unit: number): Promise<Uint8Array> {
    const hex = toHex(infoHash);
    let pending = this.torrents.get(hex);
    if (!pending) {
      pending = this.start(hex);
      this.torrents.set(hex, pending);
      pending.catch(() => this.torrents.delete(hex));
    }
    const torrent = await pending;
    const sealed = await readTorrentFile(torrent, resultFileName(unit));
    if (!sealed) throw new HashMismatchError(`result torrent ${hex} has no output for unit ${unit}`, { field: 'torrent' });
    return openResultFile(key, task, unit, sealed);
  }

  stop(): void {
    for (const pending of this.torrents.values()) pending.then((t) => t.destroy(), () => {});
    this.torrents.clear();
  }

  private start(hex: string): Promise<Torrent> {
    // A browser worker seeds its results over WebRTC only, and its announce may have gone out before ours.
    const torrent = addTorrent(this.client, magnetFor(hex, this.trackers), { path: this.storage, offerAtOnce: true });
    // Each sealed file carries a tag besides its output, and one batch holds at most LIMITS.unitsPerMessage.
    const maxBytes = this.maxBytes + LIMITS.unitsPerMessage * RESULT_CIPHER.tagBytes;
    torrent.once('metadata', () => {
      if (torrent.length > maxBytes) {
        torrent.destroy();
        torrent.emit('error', new SchemaError(`result torrent ${hex}: expected at most ${maxBytes} bytes, got ${torrent.length}`, { field: 'torrent' }));
      }
    });
    return whenDone(torrent, FETCH_TIMEOUT_MS);
  }
}

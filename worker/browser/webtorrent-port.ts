// worker/ports.ts in the browser: a WebTorrent client from
// webtorrent/dist/webtorrent.min.js (WebRTC peers only). Same semantics as
// worker/node/torrent-port.ts: wires are handed over the moment they appear,
// `complete` waits for 'done', files are read by their path inside the
// torrent, and results are seeded from memory.

import { fromHex } from '../../protocol/bytes.ts';
import { TASK_EXTENSION } from '../../protocol/constants.ts';
import { NetworkError, TimeoutError } from '../../protocol/errors.ts';
import { attachChannel, type TaskWire } from '../../protocol/wire.ts';
import type { TaskHandle, TorrentPort } from '../ports.ts';

/** The parts of a browser WebTorrent client this port uses (the bundle ships no types). */
export interface BrowserTorrentFile {
  name: string;
  path: string;
  length: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface BrowserTorrent {
  infoHash: string;
  name: string;
  files: BrowserTorrentFile[];
  done: boolean;
  progress: number;
  numPeers: number;
  on(event: 'wire', listener: (wire: TaskWire) => void): unknown;
  once(event: 'done' | 'seed' | 'ready', listener: () => void): unknown;
  once(event: 'error', listener: (error: Error | string) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  destroy(options?: { destroyStore?: boolean }, callback?: (error?: Error) => void): void;
}

export interface BrowserTorrentClient {
  readonly torrents: BrowserTorrent[];
  add(magnet: string, options?: { announce?: string[] }): BrowserTorrent;
  seed(input: Array<Uint8Array & { name: string }>, options?: { name?: string; announce?: string[]; createdBy?: string }): BrowserTorrent;
  on(event: 'error' | 'warning', listener: (error: Error | string) => void): unknown;
  destroy(callback?: (error?: Error) => void): void;
}

/** A torrent that was not complete within its deadline. */
export class TorrentTimeoutError extends TimeoutError {}

/** WebTorrent reports some failures as bare strings. */
function asError(error: Error | string): Error {
  return typeof error === 'string' ? new NetworkError(error) : error;
}

export function whenComplete(torrent: BrowserTorrent, timeoutMs: number): Promise<void> {
  if (torrent.done) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      torrent.removeListener('done', onDone);
      torrent.removeListener('error', onError);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new TorrentTimeoutError(`torrent ${torrent.infoHash} not complete after ${timeoutMs} ms`));
    }, timeoutMs);
    const onDone = () => {
      cleanup();
      resolve();
    };
    const onError = (error: Error | string) => {
      cleanup();
      reject(asError(error));
    };
    torrent.once('done', onDone);
    torrent.once('error', onError);
  });
}

/** One file of a complete torrent, by its path inside the torrent (as worker/node reads it). */
export async function readFile(torrent: BrowserTorrent, path: string): Promise<Uint8Array | undefined> {
  const file = torrent.files.find(
    (f) => f.path === `${torrent.name}/${path}` || (torrent.files.length === 1 && f.name === path),
  );
  return file ? new Uint8Array(await file.arrayBuffer()) : undefined;
}

export function webTorrentPort(client: BrowserTorrentClient, trackers: string[]): TorrentPort {
  return {
    openTask(magnet, channels): TaskHandle {
      const torrent = client.add(magnet, { announce: trackers });
      // At once, not in 'ready': extensions must be on the wire before its handshake.
      torrent.on('wire', (wire) => attachChannel(wire, TASK_EXTENSION, channels));
      return {
        get infoHash() {
          return torrent.infoHash;
        },
        complete: (timeoutMs) => whenComplete(torrent, timeoutMs),
        read: (path) => readFile(torrent, path),
        close: () => torrent.destroy(),
      };
    },
    seedResults(name, files) {
      return new Promise((resolve, reject) => {
        const input = files.map((f) => Object.assign(new Uint8Array(f.bytes), { name: f.name }));
        const torrent = client.seed(input, {
          // A one-file torrent is named after its file, as on Node.
          name: input.length === 1 ? input[0]!.name : name,
          announce: trackers,
          createdBy: 'SpareCycles/0.1',
        });
        const onError = (error: Error | string) => reject(asError(error));
        torrent.once('error', onError);
        torrent.once('seed', () => {
          torrent.removeListener('error', onError);
          resolve(fromHex(torrent.infoHash));
        });
      });
    },
  };
}

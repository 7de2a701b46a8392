// worker/ports.ts on Node: WebTorrent over TCP and WebRTC.

import type WebTorrent from 'webtorrent';
import { addTorrent, whenDone } from '../../net/fetch-torrent.ts';
import { TaskChunkStore } from '../../net/task-store.ts';
import { namedFile, readTorrentFile, seedBuffers } from '../../net/torrent-files.ts';
import { fromHex } from '../../protocol/bytes.ts';
import { TASK_EXTENSION } from '../../protocol/constants.ts';
import { attachChannel, type TaskWire } from '../../protocol/wire.ts';
import type { TaskHandle, TorrentPort } from '../ports.ts';

export function nodeTorrentPort(client: WebTorrent, trackers: string[], storage: string): TorrentPort {
  return {
    openTask(magnet, channels): TaskHandle {
      const torrent = addTorrent(client, magnet, {
        path: storage,
        store: TaskChunkStore,
        announce: trackers,
        onWire: (wire) => attachChannel(wire as unknown as TaskWire, TASK_EXTENSION, channels),
      });
      return {
        get infoHash() {
          return torrent.infoHash;
        },
        complete: async (timeoutMs) => void (await whenDone(torrent, timeoutMs)),
        read: (path) => readTorrentFile(torrent, path),
        close: () => torrent.destroy(),
      };
    },
    async seedResults(name, files) {
      const torrent = await seedBuffers(
        client,
        name,
        files.map((f) => namedFile(f.name, f.bytes)),
        { trackers, path: storage },
      );
      return fromHex(torrent.infoHash);
    },
  };
}

// Builds and seeds the task torrent: the signed manifest plus every file it
// names. The torrent's info-hash is the task's identity on the wire.

import type WebTorrent from 'webtorrent';
import type { Torrent } from 'webtorrent';
import { namedFile, seedBuffers } from '../net/torrent-files.ts';
import type { SeedOptions } from '../net/torrent-files.ts';
import { SchemaError } from '../protocol/errors.ts';
import { encodeManifest } from '../protocol/manifest.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { MANIFEST_FILE, taskFilePaths } from '../protocol/task-files.ts';
import { SuperSeed } from './super-seed.ts';
import type { SuperSeedOptions } from './super-seed.ts';

export interface TaskSeedOptions extends SeedOptions {
  /**
   * Super-seed (tasker/super-seed.ts) so each piece leaves the tasker about
   * once however many workers fetch the task; on unless false.
   */
  superSeed?: boolean | SuperSeedOptions;
}

export function seedTask(
  client: WebTorrent,
  manifest: Manifest,
  files: Map<string, Uint8Array>,
  options: TaskSeedOptions,
): Promise<Torrent> {
  const input = [namedFile(MANIFEST_FILE, encodeManifest(manifest))];
  for (const path of taskFilePaths(manifest)) {
    const bytes = files.get(path);
    if (!bytes) throw new SchemaError(`task folder: expected ${path}, got no such file`, { field: path });
    input.push(namedFile(path, bytes));
  }
  const { superSeed = true, onWire, ...seed } = options;
  const seeder = superSeed === false ? undefined : new SuperSeed(client, superSeed === true ? {} : superSeed);
  return seedBuffers(client, `sc-${manifest.name}`, input, {
    ...seed,
    onWire: (wire) => {
      seeder?.attach(wire);
      onWire?.(wire);
    },
  });
}

// The layout of a task torrent, shared by the tasker that builds it and every
// worker that reads it: the signed manifest under a fixed name, then every
// file the manifest names, at the path it names.

import type { ManifestBody } from './manifest.ts';

export const MANIFEST_FILE = 'manifest.sc';

/** The manifest paths a task torrent carries besides the manifest itself. */
export function taskFilePaths(manifest: ManifestBody): string[] {
  const paths = [manifest.module.path];
  if (manifest.input) paths.push(manifest.input.path);
  for (const ref of manifest.inputs ?? []) paths.push(ref.path);
  return [...new Set(paths)];
}

/** The file name a unit's output has inside a result torrent. */
export function resultFileName(unit: number): string {
  return `unit-${unit}.out`;
}

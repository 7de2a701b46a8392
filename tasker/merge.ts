// Merges verified unit outputs, in unit order, by the manifest's rule.

import { concatBytes } from '../protocol/bytes.ts';
import { SchemaError, UsageError } from '../protocol/errors.ts';
import type { ManifestBody } from '../protocol/manifest.ts';
import { encodePng } from './png.ts';

export function mergeOutputs(manifest: ManifestBody, outputs: readonly Uint8Array[]): Uint8Array {
  if (outputs.length !== manifest.units) {
    throw new UsageError(`expected ${manifest.units} unit outputs, got ${outputs.length}`);
  }
  const joined = concatBytes(...outputs);
  const { kind, width, height, channels } = manifest.merge;
  if (kind === 'concat') return joined;
  if (width === undefined || height === undefined || channels === undefined) {
    throw new SchemaError('merge: a png merge needs width, height and channels', { field: 'merge' });
  }
  return encodePng(joined, width, height, channels as 1 | 2 | 3 | 4);
}

/** The file name a merged output is written under by default. */
export function mergedFileName(manifest: ManifestBody): string {
  return `${manifest.name.replace(/[^A-Za-z0-9._-]/g, '_')}.${manifest.merge.kind === 'png' ? 'png' : 'bin'}`;
}

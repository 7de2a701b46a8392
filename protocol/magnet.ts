// Magnet links for task and result torrents. The info-hash is the identity;
// trackers and a display name are hints for whoever opens the link.

import { UsageError } from './errors.ts';

export function magnetFor(infoHashHex: string, trackers: readonly string[], name?: string): string {
  if (!/^[0-9a-f]{40}$/.test(infoHashHex)) throw new UsageError(`expected a 40-digit hex info-hash, got ${infoHashHex}`);
  const params = [`xt=urn:btih:${infoHashHex}`];
  if (name) params.push(`dn=${encodeURIComponent(name)}`);
  for (const tracker of trackers) params.push(`tr=${encodeURIComponent(tracker)}`);
  return `magnet:?${params.join('&')}`;
}

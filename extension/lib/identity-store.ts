// The volunteer's ed25519 identity: a 32-byte seed in storage.local, made on
// first use. Versioned like the settings; a record that does not read is
// replaced by a fresh identity. No credits go with the old key: they are
// bearer credits in the wallet (lib/wallet-store.ts), not bound to any key.

import { fromHex, toHex } from '../../protocol/bytes.ts';
import type { KeyValueArea } from './settings.ts';

export const IDENTITY_KEY = 'identity';

export interface StoredIdentity {
  version: 1;
  seed: string;
}

export function readSeed(stored: unknown): Uint8Array | undefined {
  const record = stored as Partial<StoredIdentity> | undefined;
  if (!record || record.version !== 1 || typeof record.seed !== 'string' || !/^[0-9a-f]{64}$/.test(record.seed)) return undefined;
  return fromHex(record.seed);
}

export async function loadOrCreateSeed(area: KeyValueArea, random: (n: number) => Uint8Array): Promise<Uint8Array> {
  const existing = readSeed((await area.get(IDENTITY_KEY))[IDENTITY_KEY]);
  if (existing) return existing;
  const seed = random(32);
  const record: StoredIdentity = { version: 1, seed: toHex(seed) };
  await area.set({ [IDENTITY_KEY]: record });
  return seed;
}

// Where the extension keeps its wallet: one record in storage.local under
// `wallet`, the very WalletData the CLI's wallet file holds (worker/wallet-
// data.ts), version field `v` included. Only the background reads and writes
// it: the offscreen document has no storage API.
//
// Saves go to storage one at a time, in the order they were asked for, and a
// load waits for the saves before it. Wallet already runs its changes one at
// a time (each save awaited before the next change starts), so this only
// matters to a second writer; it costs nothing and makes the store safe on
// its own. A record of an older version is migrated as it is read
// (readWalletData, the same steps the CLI's file takes) and written back in
// the current version with the wallet's next change. Nothing here ever
// replaces a record it cannot read: Wallet.open refuses it (WalletError
// FORMAT or VERSION), the background reports that, and the credits stay in
// storage for a version that can read them.
//
// Also here: the last export, kept in storage (`exported`) until the
// volunteer clears it, so a token is not lost when the popup closes before
// it was copied.

import type { WalletData, WalletStore } from '../../worker/wallet-data.ts';
import type { KeyValueArea } from './settings.ts';

export const WALLET_KEY = 'wallet';
export const EXPORTED_KEY = 'exported';
export const EXPORTED_VERSION = 1;

export interface StorageWalletStore extends WalletStore {
  /** Resolves once every save asked for so far has been written (or has failed). */
  flushed(): Promise<void>;
}

/** A WalletStore over a storage area (browser.storage.local in the background; a Map in tests). */
export function storageWalletStore(area: KeyValueArea, key = WALLET_KEY): StorageWalletStore {
  /** The last save asked for; the next one starts after it settles. */
  let last: Promise<unknown> = Promise.resolve();
  const settled = () => last.then(
    () => {},
    () => {},
  );
  return {
    async load() {
      await settled();
      return (await area.get(key))[key];
    },
    save(data: WalletData) {
      // Copied now: the caller may go on changing its object while this save waits its turn.
      const copy = structuredClone(data);
      const run = settled().then(() => area.set({ [key]: copy }));
      last = run;
      return run;
    },
    flushed: settled,
  };
}

// ---- the last export ------------------------------------------------------------------

export interface ExportedToken {
  /** The mint the credits are spendable at. */
  mint: string;
  amount: number;
  /** The token text (protocol/credits/token.ts), to hand to someone or import elsewhere. */
  token: string;
}

export interface StoredExport {
  version: typeof EXPORTED_VERSION;
  /** Unix time in milliseconds. */
  at: number;
  tokens: ExportedToken[];
}

/** The stored last export, or undefined when there is none or it does not read. */
export function readExported(stored: unknown): StoredExport | undefined {
  const r = stored as Partial<StoredExport> | undefined;
  if (!r || typeof r !== 'object' || r.version !== EXPORTED_VERSION || typeof r.at !== 'number' || !Array.isArray(r.tokens)) return undefined;
  const tokens = r.tokens.filter(
    (t): t is ExportedToken =>
      typeof t === 'object' && t !== null && typeof t.mint === 'string' && typeof t.token === 'string' && Number.isSafeInteger(t.amount),
  );
  return tokens.length === r.tokens.length ? { version: EXPORTED_VERSION, at: r.at, tokens } : undefined;
}

/** Adds tokens to the stored last export (kept until cleared), after any not cleared yet. */
export async function keepExported(area: KeyValueArea, tokens: readonly ExportedToken[], now = Date.now()): Promise<void> {
  const earlier = readExported((await area.get(EXPORTED_KEY))[EXPORTED_KEY]);
  const record: StoredExport = { version: EXPORTED_VERSION, at: now, tokens: [...(earlier?.tokens ?? []), ...tokens] };
  await area.set({ [EXPORTED_KEY]: record });
}

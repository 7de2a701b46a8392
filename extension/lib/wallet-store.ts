// Where the extension keeps its wallet: one record in storage.local under
// `wallet`, the very WalletData the CLI's wallet file holds (worker/wallet-
// data.ts), version field `v` included. Only the background reads and writes
// it: the offscreen document has no storage API.
//
// Saves go to storage one at a time, in the order they were asked for, and a
// load waits for the saves before it. Wallet already runs its changes one at
// a time (each save awaited before the next change starts), so this only
// matters to a second writer; it costs nothing and makes the store safe on
// its own. Nothing here ever replaces a record it cannot read: Wallet.open
// refuses it (WalletError FORMAT or VERSION), the background reports that,
// and the credits stay in storage for a version that can read them.
//
// Also here: the last export, kept in storage (`exported`) until the
// volunteer clears it, so a token is not lost when the popup closes before
// it was copied.

import { WALLET_VERSION, type WalletData, type WalletStore } from '../../worker/wallet-data.ts';
import type { KeyValueArea } from './settings.ts';

export const WALLET_KEY = 'wallet';
export const EXPORTED_KEY = 'exported';
export const EXPORTED_VERSION = 1;

/**
 * Steps from older stored versions to the next one, as in settings.ts. The
 * first stored version is WalletData's own v1, so there are none yet; a
 * version without a step is handed on as it is and refused by
 * readWalletData, never rewritten.
 */
const MIGRATIONS: Record<number, (raw: Record<string, unknown>) => Record<string, unknown>> = {};

/** A stored record brought up to WALLET_VERSION where a step exists; anything else as it was. */
export function migrateWalletRecord(stored: unknown): unknown {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return stored;
  let raw = stored as Record<string, unknown>;
  while (typeof raw.v === 'number' && raw.v < WALLET_VERSION) {
    const step = MIGRATIONS[raw.v];
    if (!step) return raw;
    raw = step(raw);
  }
  return raw;
}

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
      return migrateWalletRecord((await area.get(key))[key]);
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

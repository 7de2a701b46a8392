// Keysets: one mint key per denomination, as in Cashu (NUT-01/02). Amounts are
// powers of two, so any amount splits into at most one credit of each, and a
// credit's denomination tells nothing about the payment it came from beyond
// that bit. Keys derive from one seed, so a keyset is restored from 32 bytes.

import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex, utf8 } from '../bytes.ts';
import { CREDIT_DOMAINS, CREDIT_LIMITS } from '../constants.ts';
import { KeyError, UsageError } from '../errors.ts';
import { scalarFromRandom } from './bdhke.ts';
import type { CreditCurve } from './curve.ts';

/** 1, 2, 4, … 2^(denominations−1). */
export const DENOMINATIONS: readonly number[] = Array.from({ length: CREDIT_LIMITS.denominations }, (_, i) => 2 ** i);

export function isDenomination(amount: number): boolean {
  return Number.isSafeInteger(amount) && amount > 0 && (amount & (amount - 1)) === 0 && amount <= DENOMINATIONS.at(-1)!;
}

/** The denominations an amount splits into, largest first. Throws RangeError beyond the largest sum. */
export function splitAmount(amount: number): number[] {
  if (!Number.isSafeInteger(amount) || amount < 0) throw new UsageError(`expected a whole amount, got ${amount}`);
  const max = 2 * DENOMINATIONS.at(-1)! - 1;
  if (amount > max) throw new UsageError(`expected an amount of at most ${max}, got ${amount}`);
  return [...DENOMINATIONS].reverse().filter((d) => Math.floor(amount / d) % 2 === 1);
}

export interface PublicKeyset {
  /** 8 bytes: a version byte, then the start of SHA-256 over the keys in denomination order. */
  id: Uint8Array;
  /** Denomination → K = k·G. */
  keys: ReadonlyMap<number, Uint8Array>;
}

export interface Keyset extends PublicKeyset {
  /** Denomination → k. Never leaves the mint. */
  secrets: ReadonlyMap<number, Uint8Array>;
}

const KEYSET_VERSION = 0;

export function keysetIdOf(keys: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const ordered = DENOMINATIONS.map((d) => {
    const K = keys.get(d);
    if (!K) throw new KeyError(`keyset: missing the key for denomination ${d}`, { field: `keys.${d}` });
    return K;
  });
  return concatBytes(Uint8Array.of(KEYSET_VERSION), sha256(concatBytes(...ordered)).subarray(0, 7));
}

export function deriveKeyset(curve: CreditCurve, seed: Uint8Array): Keyset {
  if (seed.length !== 32) throw new KeyError(`keyset seed: expected 32 bytes, got ${seed.length}`);
  const secrets = new Map<number, Uint8Array>();
  const keys = new Map<number, Uint8Array>();
  DENOMINATIONS.forEach((d, i) => {
    const k = scalarFromRandom(sha512(concatBytes(utf8(CREDIT_DOMAINS.keyset), seed, Uint8Array.of(i))));
    secrets.set(d, k);
    keys.set(d, curve.mulBase(k));
  });
  return { id: keysetIdOf(keys), keys, secrets };
}

/** A published keyset as JSON: `{ id, keys: { "1": hex, … } }`. */
export interface KeysetJson {
  id: string;
  keys: Record<string, string>;
}

export function keysetToJson(keyset: PublicKeyset): KeysetJson {
  return { id: toHex(keyset.id), keys: Object.fromEntries([...keyset.keys].map(([d, K]) => [String(d), toHex(K)])) };
}

/** Reads a keyset a mint published, refusing one whose id does not match its keys. */
export function keysetFromJson(curve: CreditCurve, json: unknown): PublicKeyset {
  const j = json as Partial<KeysetJson> | null;
  if (!j || typeof j.id !== 'string' || !/^[0-9a-f]{16}$/.test(j.id) || typeof j.keys !== 'object' || j.keys === null) {
    throw new KeyError('keyset: expected { id: 16 hex digits, keys: { amount: hex } }', { field: 'keyset' });
  }
  const keys = new Map<number, Uint8Array>();
  for (const d of DENOMINATIONS) {
    const hex = (j.keys as Record<string, unknown>)[String(d)];
    const K = typeof hex === 'string' && /^[0-9a-f]{64}$/.test(hex) ? fromHex(hex) : undefined;
    if (!K || !curve.isPoint(K)) throw new KeyError(`keyset: expected a point for denomination ${d}`, { field: `keys.${d}` });
    keys.set(d, K);
  }
  const id = keysetIdOf(keys);
  if (toHex(id) !== j.id) throw new KeyError(`keyset: id ${j.id} does not match its keys (${toHex(id)})`, { field: 'id' });
  return { id, keys };
}

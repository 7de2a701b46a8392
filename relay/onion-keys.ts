// A relay's onion keys: a fresh random X25519 secret for every network-wide
// epoch (ONION.epochMs long). The relay publishes the public keys of the
// current epoch and the next, so a route built just before a boundary finds
// the next key already listed; it accepts packets for the current epoch and
// the previous one, so a packet built just before a boundary still goes
// through; and it deletes a secret once the epoch after its own is over, so a
// relay seized later cannot open packets it passed before (forward secrecy).
//
// The secrets of the epochs it has published are kept in the relay's state
// folder (written whole, owner-only), so a relay that restarts keeps
// serving routes built on its descriptor; without a folder they live in
// memory and a restart begins afresh.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHex, toHex } from '../protocol/bytes.ts';
import { ONION } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { epochAt, epochStartMs, MAX_ONION_EPOCH, type OnionKeyEntry } from '../protocol/messages/relay.ts';
import type { OnionKeyring } from '../protocol/onion/index.ts';
import { removeFileDurably, writeFileAtomic } from '../store/atomic-file.ts';

export interface OnionKeysOptions {
  backend: CryptoBackend;
  /** The relay's state folder; the secrets go to `onion-keys.json` in it. Without one they live in memory only. */
  dir?: string;
  /** Unix milliseconds; tests move it. */
  now?: () => number;
}

/** The file's own version: what it holds is secret and local, never on the wire. */
const FILE_VERSION = 1;
export const ONION_KEYS_FILE = 'onion-keys.json';

interface Held {
  secret: Uint8Array;
  publicKey: Uint8Array;
}

export class OnionKeys implements OnionKeyring {
  readonly #backend: CryptoBackend;
  readonly #path: string | undefined;
  readonly #now: () => number;
  readonly #held = new Map<number, Held>();
  readonly #forgetListeners = new Set<(before: number) => void>();
  #rotating: Promise<boolean> = Promise.resolve(false);

  private constructor(options: OnionKeysOptions) {
    this.#backend = options.backend;
    this.#path = options.dir === undefined ? undefined : join(options.dir, ONION_KEYS_FILE);
    this.#now = options.now ?? Date.now;
  }

  /** Loads the secrets kept in `dir` (if any), drops the expired ones and makes sure the current and next epochs have keys. */
  static async open(options: OnionKeysOptions): Promise<OnionKeys> {
    const keys = new OnionKeys(options);
    await keys.#load();
    await keys.rotate();
    return keys;
  }

  /** The epoch now. */
  get epoch(): number {
    return epochAt(this.#now());
  }

  /** Epochs whose secrets are held, ascending. */
  get epochs(): number[] {
    return [...this.#held.keys()].sort((a, b) => a - b);
  }

  /** The secret for a packet of `epoch`: only the current epoch and the previous one are accepted. */
  secretFor(epoch: number): Uint8Array | undefined {
    const now = this.epoch;
    if (epoch !== now && epoch !== now - 1) {
      // A secret past its time is dropped at once, whether or not rotate() has run yet.
      if (epoch < now - 1) this.#drop(epoch);
      return undefined;
    }
    return this.#held.get(epoch)?.secret;
  }

  /** What the descriptor lists: the public keys of the current epoch and the next, ascending. */
  published(): OnionKeyEntry[] {
    const now = this.epoch;
    return [now, now + 1].flatMap((epoch) => {
      const held = this.#held.get(epoch);
      return held ? [{ epoch, key: held.publicKey.slice() }] : [];
    });
  }

  /** Milliseconds until the next epoch begins: when rotate() has something to do. */
  msUntilRotation(): number {
    return epochStartMs(this.epoch + 1) - this.#now();
  }

  /** Calls `listener(epoch)` whenever the secrets of every epoch before `epoch` are gone (a replay store forgets their tags). */
  onForget(listener: (before: number) => void): () => void {
    this.#forgetListeners.add(listener);
    return () => this.#forgetListeners.delete(listener);
  }

  /**
   * Makes keys for the current and the next epoch if they are missing,
   * deletes those whose time is over, and writes the folder's file when
   * anything changed, before resolving: a key is on disk before any
   * descriptor lists it. Resolves true when anything changed.
   */
  rotate(): Promise<boolean> {
    const run = this.#rotating.catch(() => false).then(() => this.#rotate());
    this.#rotating = run;
    return run;
  }

  async #rotate(): Promise<boolean> {
    const now = this.epoch;
    if (now + 1 > MAX_ONION_EPOCH) throw new SpareCyclesError('INTERNAL', `onion keys: epoch ${now + 1} does not fit 32 bits`);
    let changed = false;
    for (const epoch of this.epochs) {
      if (epoch < now - 1 || epoch > now + 1) {
        this.#drop(epoch);
        changed = true;
      }
    }
    for (const epoch of [now, now + 1]) {
      if (this.#held.has(epoch)) continue;
      const secret = this.#backend.randomBytes(32);
      this.#held.set(epoch, { secret, publicKey: this.#backend.x25519PublicKey(secret) });
      changed = true;
    }
    if (changed) await this.#save();
    for (const listener of this.#forgetListeners) listener(now - 1);
    return changed;
  }

  #drop(epoch: number): void {
    const held = this.#held.get(epoch);
    if (!held) return;
    held.secret.fill(0);
    this.#held.delete(epoch);
  }

  async #load(): Promise<void> {
    if (!this.#path) return;
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const { epoch, secret } of parseFile(text, this.#path)) {
      this.#held.set(epoch, { secret, publicKey: this.#backend.x25519PublicKey(secret) });
    }
  }

  async #save(): Promise<void> {
    if (!this.#path) return;
    if (this.#held.size === 0) return removeFileDurably(this.#path);
    const keys = this.epochs.map((epoch) => ({ epoch, secret: toHex(this.#held.get(epoch)!.secret) }));
    await writeFileAtomic(this.#path, `${JSON.stringify({ v: FILE_VERSION, epochMs: ONION.epochMs, keys })}\n`);
  }
}

function parseFile(text: string, path: string): { epoch: number; secret: Uint8Array }[] {
  const bad = (why: string) => new SpareCyclesError('FORMAT', `${path}: ${why}; move the file aside to start with fresh onion keys`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw bad('expected JSON');
  }
  const file = data as { v?: unknown; epochMs?: unknown; keys?: unknown };
  if (typeof file !== 'object' || file === null || file.v !== FILE_VERSION) throw bad(`expected version ${FILE_VERSION}`);
  // Keys made under another epoch length would be filed under the wrong epochs.
  if (file.epochMs !== ONION.epochMs) throw bad(`expected epochs of ${ONION.epochMs} ms, got ${String(file.epochMs)}`);
  if (!Array.isArray(file.keys) || file.keys.length > 8) throw bad('expected a short list of keys');
  return file.keys.map((entry: { epoch?: unknown; secret?: unknown }, i: number) => {
    const { epoch, secret } = entry ?? {};
    if (!Number.isInteger(epoch) || (epoch as number) < 0 || (epoch as number) > MAX_ONION_EPOCH) throw bad(`keys[${i}].epoch: expected an epoch`);
    if (typeof secret !== 'string' || !/^[0-9a-f]{64}$/.test(secret)) throw bad(`keys[${i}].secret: expected 64 hex digits`);
    return { epoch: epoch as number, secret: fromHex(secret) };
  });
}

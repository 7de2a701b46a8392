// A wallet in a JSON file, readable by its owner only. Each save replaces the
// file atomically (store/atomic-file.ts), so after a crash the file holds
// either the old wallet or the new one, never half of either.
//
// Several processes may use one wallet (`cycles worker` earning while
// `cycles wallet` exports), so each change holds a lock file beside it,
// created exclusively and naming its process. A lock whose process is gone
// (it crashed holding it) is taken over.

import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../store/atomic-file.ts';
import { sparecyclesHome } from '../../store/keys.ts';
import { WalletError, type WalletData, type WalletStore } from '../wallet-data.ts';

export function defaultWalletFile(): string {
  return join(sparecyclesHome(), 'wallet.json');
}

export class WalletFile implements WalletStore {
  readonly path: string;

  constructor(path: string = defaultWalletFile()) {
    this.path = path;
  }

  async load(): Promise<unknown | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new WalletError('FORMAT', `${this.path}: not JSON`, { field: this.path, cause });
    }
  }

  /** Takes the lock file, waiting up to `waitMs` for another process to let go; WalletError BUSY after that. */
  async lock(waitMs = LOCK_WAIT_MS): Promise<() => Promise<void>> {
    const path = `${this.path}.lock`;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const mine = JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() });
    const deadline = Date.now() + waitMs;
    for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
      try {
        const file = await open(path, 'wx', 0o600);
        try {
          await file.writeFile(mine);
        } finally {
          await file.close();
        }
        return async () => {
          // Only our own lock: a lock taken over from us (we looked dead) is not ours to remove.
          if ((await readFile(path, 'utf8').catch(() => '')) === mine) await rm(path, { force: true });
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const held = await readFile(path, 'utf8').catch(() => undefined);
      if (held !== undefined && (await isAbandoned(path, held))) {
        // Removed only if it is still the same abandoned lock, so two takers cannot both win.
        if ((await readFile(path, 'utf8').catch(() => '')) === held) await rm(path, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new WalletError('BUSY', `${this.path}: another process holds the wallet (${path})`, { field: this.path });
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  async save(data: WalletData): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 1)}\n`);
  }
}

/** How long a change waits for another process's change: a save takes milliseconds. */
const LOCK_WAIT_MS = 10_000;

/** How old a lock that names no process must be to count as abandoned (a taker crashed between creating and writing it). */
const UNNAMED_LOCK_MS = 60_000;

/** A lock written by a process of this machine that no longer runs, or one that names no process and is old. */
async function isAbandoned(path: string, text: string): Promise<boolean> {
  let lock: { pid?: unknown; host?: unknown };
  try {
    lock = JSON.parse(text);
  } catch {
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
    return age > UNNAMED_LOCK_MS;
  }
  if (lock.host !== hostname() || !Number.isInteger(lock.pid)) return false;
  try {
    process.kill(lock.pid as number, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

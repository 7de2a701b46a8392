// A wallet in a JSON file, readable by its owner only. Each save replaces the
// file atomically: the new contents go to a temporary file in the same
// directory, which is synced, renamed over the old file, and the directory
// synced, so after a crash the file holds either the old wallet or the new
// one, never half of either.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sparecyclesHome } from '../../net/identity-store.ts';
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

  async save(data: WalletData): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = join(dir, `.${basename(this.path)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const file = await open(temp, 'wx', 0o600);
      try {
        await file.writeFile(`${JSON.stringify(data, null, 1)}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, this.path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    // The rename itself is durable once the directory is synced (not possible on Windows).
    if (process.platform === 'win32') return;
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

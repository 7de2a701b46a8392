// Files replaced whole (store/atomic-file.ts), as the wallet file and the
// tasker's receipt file are: the folder is made if need be, the file is its
// owner's only, nothing but the file is left beside it, and a write that
// fails leaves the old file as it was. (Killing a writer mid-write is in
// receipt-store.test.ts.)

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeFileDurably, writeFileAtomic } from '../../store/atomic-file.ts';
import { WalletFile } from '../../worker/node/wallet-file.ts';
import { emptyWallet } from '../../worker/wallet-data.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-atomic-'));
  dirs.push(dir);
  return dir;
}

describe('atomic file', () => {
  it('writes a new file in a new folder, its owner\'s only, and replaces it whole', async () => {
    const dir = join(await tempDir(), 'deep', 'er');
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, '{"a":1}\n');
    expect(await readFile(path, 'utf8')).toBe('{"a":1}\n');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o077).toBe(0);
    await writeFileAtomic(path, new TextEncoder().encode('{"a":2}\n'));
    expect(await readFile(path, 'utf8')).toBe('{"a":2}\n');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('leaves the old contents and no temporary file when a write fails', async () => {
    const dir = await tempDir();
    // A folder where the file should be: the rename over it fails.
    const path = join(dir, 'taken');
    await mkdir(path);
    await writeFile(join(path, 'inside'), 'kept');
    const error = await writeFileAtomic(path, 'new').then(() => undefined, (e: NodeJS.ErrnoException) => e);
    expect(error?.code).toMatch(/^(EISDIR|ENOTEMPTY|EEXIST|EPERM)$/);
    expect(await readdir(dir)).toEqual(['taken']);
    expect(await readFile(join(path, 'inside'), 'utf8')).toBe('kept');
  });

  it('removes a file, and a file that is not there is no error', async () => {
    const dir = await tempDir();
    const path = join(dir, 'gone.json');
    await writeFileAtomic(path, 'x');
    await removeFileDurably(path);
    expect(await readdir(dir)).toEqual([]);
    await removeFileDurably(path);
    await removeFileDurably(join(dir, 'no-such-folder', 'gone.json'));
  });

  it('is how a wallet file is saved', async () => {
    const path = join(await tempDir(), 'w', 'wallet.json');
    const wallet = new WalletFile(path);
    await wallet.save(emptyWallet());
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(emptyWallet());
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(path, '..'))).toEqual(['wallet.json']);
  });
});

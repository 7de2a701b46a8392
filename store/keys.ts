// Long-term keys on disk: one hex ed25519 seed per file, readable by its owner
// only. A missing file is created with a fresh key, so a first `cycles publish`
// or `cycles worker` needs no setup.

import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fromHex, toHex } from '../protocol/bytes.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { KeyError } from '../protocol/errors.ts';

export function sparecyclesHome(): string {
  return process.env.SPARECYCLES_HOME ?? join(homedir(), '.sparecycles');
}

export function defaultKeyFile(role: 'tasker' | 'worker' | 'relay'): string {
  return join(sparecyclesHome(), `${role}.key`);
}

export async function loadOrCreateIdentity(backend: CryptoBackend, file: string): Promise<Identity> {
  let text: string | undefined;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text === undefined) {
    const identity = Identity.generate(backend);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, `${toHex(identity.exportSeed())}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(file, 0o600);
    return identity;
  }
  if (!/^[0-9a-f]{64}$/.test(text)) throw new KeyError(`${file}: expected a 64-digit hex seed`, { field: file });
  return Identity.fromSeed(backend, fromHex(text));
}

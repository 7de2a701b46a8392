// A relay's onion keys on a clock the test moves: what is published, what is
// accepted (the current epoch and the previous one), what is deleted, and
// what survives a restart from the state folder.

import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.ts';
import { ONION } from '../../protocol/constants.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { OnionKeys, ONION_KEYS_FILE } from '../../relay/onion-keys.ts';

const E = ONION.epochMs;
const START = 472_222 * E + 123;
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'onion-keys-'));
  dirs.push(dir);
  return dir;
};
const clock = (t: number) => {
  const c = { t, now: () => c.t };
  return c;
};

describe('onion keys', () => {
  it('publishes the current and the next epoch, each public key matching its secret', async () => {
    const c = clock(START);
    const keys = await OnionKeys.open({ backend, now: c.now });
    const published = keys.published();
    expect(published.map((k) => k.epoch)).toEqual([472_222, 472_223]);
    expect(toHex(published[0]!.key)).toBe(toHex(backend.x25519PublicKey(keys.secretFor(472_222)!)));
    expect(toHex(published[0]!.key)).not.toBe(toHex(published[1]!.key));
    expect(keys.msUntilRotation()).toBe(E - 123);
  });

  it('accepts the current and the previous epoch only, and never the next one early', async () => {
    const c = clock(START);
    const keys = await OnionKeys.open({ backend, now: c.now });
    expect(keys.secretFor(472_222)).toBeDefined();
    expect(keys.secretFor(472_223)).toBeUndefined();
    expect(keys.secretFor(472_221)).toBeUndefined();
    const next = keys.published()[1]!.key;

    c.t += E;
    // Before rotate() runs: the grace epoch is still served, the new one already held.
    expect(keys.secretFor(472_222)).toBeDefined();
    expect(toHex(backend.x25519PublicKey(keys.secretFor(472_223)!))).toBe(toHex(next));
    expect(await keys.rotate()).toBe(true);
    expect(keys.epochs).toEqual([472_222, 472_223, 472_224]);
    expect(keys.published().map((k) => k.epoch)).toEqual([472_223, 472_224]);
    expect(keys.secretFor(472_222)).toBeDefined();
  });

  it('deletes a secret once the epoch after its own is over, and says so', async () => {
    const c = clock(START);
    const keys = await OnionKeys.open({ backend, now: c.now });
    const forgotten: number[] = [];
    keys.onForget((before) => forgotten.push(before));
    const old = keys.secretFor(472_222)!;
    c.t += 2 * E;
    // Refused at once, even before the rotation runs, and wiped.
    expect(keys.secretFor(472_222)).toBeUndefined();
    expect(old.every((b) => b === 0)).toBe(true);
    await keys.rotate();
    expect(keys.epochs).toEqual([472_223, 472_224, 472_225]);
    expect(forgotten.at(-1)).toBe(472_223);
    // Nothing to do within the same epoch.
    expect(await keys.rotate()).toBe(false);
  });

  it('after a long sleep holds only the epochs of now', async () => {
    const c = clock(START);
    const keys = await OnionKeys.open({ backend, now: c.now });
    c.t += 50 * E;
    await keys.rotate();
    expect(keys.epochs).toEqual([472_272, 472_273]);
  });

  it('keeps the published secrets across a restart, in an owner-only file, and drops the expired ones on the way in', async () => {
    const dir = await tempDir();
    const c = clock(START);
    const first = await OnionKeys.open({ backend, dir, now: c.now });
    const published = first.published();
    const file = join(dir, ONION_KEYS_FILE);
    expect((await stat(file)).mode & 0o077).toBe(0);

    const again = await OnionKeys.open({ backend, dir, now: c.now });
    expect(again.published()).toEqual(published);
    expect(toHex(again.secretFor(472_222)!)).toBe(toHex(first.secretFor(472_222)!));

    // Restarted an epoch and a half later: the previous epoch still served, the one before gone from the file too.
    c.t += E + E / 2;
    const later = await OnionKeys.open({ backend, dir, now: c.now });
    expect(toHex(backend.x25519PublicKey(later.secretFor(472_223)!))).toBe(toHex(published[1]!.key));
    c.t += E;
    const latest = await OnionKeys.open({ backend, dir, now: c.now });
    expect(latest.epochs).toEqual([472_223, 472_224, 472_225]);
    expect(JSON.parse(await readFile(file, 'utf8')).keys.map((k: { epoch: number }) => k.epoch)).toEqual([472_223, 472_224, 472_225]);
  });

  it('without a folder, a restart begins afresh', async () => {
    const c = clock(START);
    const a = await OnionKeys.open({ backend, now: c.now });
    const b = await OnionKeys.open({ backend, now: c.now });
    expect(toHex(a.published()[0]!.key)).not.toBe(toHex(b.published()[0]!.key));
  });

  it('refuses a damaged file with FORMAT and leaves it as it was', async () => {
    const dir = await tempDir();
    const file = join(dir, ONION_KEYS_FILE);
    for (const text of ['not json', '{"v":2,"keys":[]}', `{"v":1,"epochMs":60000,"keys":[]}`, `{"v":1,"epochMs":${E},"keys":[{"epoch":1,"secret":"zz"}]}`]) {
      await writeFile(file, text);
      await expect(OnionKeys.open({ backend, dir })).rejects.toMatchObject({ code: 'FORMAT' });
      expect(await readFile(file, 'utf8')).toBe(text);
    }
  });
});

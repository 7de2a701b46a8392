// A relay's replay tags on disk (relay/onion-replay-store.ts), in a real
// folder: a tag once synced is refused after the store is reopened, and
// after a crash (the files copied as they are, never closed); an epoch's
// file goes when its key does; a file that does not read is a typed error
// naming it; and the router sends no packet before its tag is synced.

import { copyFile, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { createPacket, MemoryReplayStore } from '../../protocol/onion/index.ts';
import { RelayMetrics } from '../../relay/metrics.ts';
import { Mailboxes, type Mail } from '../../relay/onion-mailboxes.ts';
import { ExitRegistry, OnionRouter, type RouterReplay } from '../../relay/onion-router.ts';
import { DiskReplayStore, ReplayStoreError } from '../../relay/onion-replay-store.ts';
import type { LogLine } from '../../serve/log.ts';

const E = 480_000;
const dirs: string[] = [];
const stores: DiskReplayStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-replay-'));
  dirs.push(dir);
  return dir;
}
async function openStore(dir: string, from = E - 1): Promise<DiskReplayStore> {
  const store = await DiskReplayStore.open({ dir, from });
  stores.push(store);
  return store;
}
const tag = () => backend.randomBytes(32);
const exists = (path: string) => stat(path).then(() => true, () => false);

describe('replay tags on disk', () => {
  it('refuses a tag again once reopened, and takes a new one', async () => {
    const dir = await tempDir();
    const t = tag();
    const first = await openStore(dir);
    expect(first.durable()).toBeUndefined();
    expect(first.add(E, t)).toBe(true);
    expect(first.add(E, t)).toBe(false);
    await first.durable();
    await first.close();

    const again = await openStore(dir);
    expect(again.size).toBe(1);
    expect(again.add(E, t)).toBe(false);
    expect(again.add(E, tag())).toBe(true);
    // A tag is filed under its epoch: the same bytes under the next epoch are another packet's.
    expect(again.add(E + 1, t)).toBe(true);
  });

  it('keeps what was synced across a crash: the files as they are, never closed', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const tags = Array.from({ length: 300 }, tag);
    for (const t of tags.slice(0, 200)) store.add(E, t);
    await store.durable();
    // Three groups: the second waits for the first's sync.
    for (const t of tags.slice(200, 250)) store.add(E, t);
    const second = store.durable()!;
    await new Promise((r) => setImmediate(r));
    for (const t of tags.slice(250)) store.add(E, t);
    await second;
    await store.durable();

    const copy = await tempDir();
    for (const name of await readdir(dir)) await copyFile(join(dir, name), join(copy, name));
    const after = await openStore(copy);
    expect(after.size).toBe(300);
    for (const t of tags) expect(after.add(E, t)).toBe(false);
  });

  it('drops an epoch’s tags and file when its key goes, and refuses to make it again', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const old = tag();
    store.add(E, old);
    store.add(E + 1, tag());
    await store.durable();
    expect(store.epochs).toEqual([E, E + 1]);
    expect(await exists(join(dir, `${E}.sqlite`))).toBe(true);

    store.forgetBefore(E + 1);
    expect(store.epochs).toEqual([E + 1]);
    expect(store.size).toBe(1);
    expect(await exists(join(dir, `${E}.sqlite`))).toBe(false);
    // Its key is gone, so no packet of it peels; the store still never takes a tag of it, nor makes its file again.
    expect(store.add(E, tag())).toBe(false);
    expect(await exists(join(dir, `${E}.sqlite`))).toBe(false);
    await store.close();

    // Opened after a long stop, from a later epoch: older files are deleted unread.
    await writeFile(join(dir, `${E - 5}.sqlite`), 'whatever was here');
    const later = await openStore(dir, E + 2);
    expect(later.size).toBe(0);
    expect((await readdir(dir)).filter((n) => n.endsWith('.sqlite'))).toEqual([]);
  });

  it('refuses to start on a file that does not read, naming it', async () => {
    const dir = await tempDir();
    const path = join(dir, `${E}.sqlite`);
    await writeFile(path, 'not a database, though it has a name like one');
    const error = await DiskReplayStore.open({ dir, from: E - 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplayStoreError);
    expect(error).toMatchObject({ code: 'FORMAT', file: path });
    expect((error as Error).message).toContain(path);
  });

  it('refuses a group whose tags changed on disk', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    store.add(E, tag());
    store.add(E, tag());
    await store.close();
    const path = join(dir, `${E}.sqlite`);
    const db = new Database(path);
    db.prepare('UPDATE groups SET tags = ? WHERE seq = 1').run(Buffer.alloc(64, 7));
    db.close();
    await expect(DiskReplayStore.open({ dir, from: E - 1 })).rejects.toMatchObject({
      name: 'ReplayStoreError',
      code: 'FORMAT',
      file: path,
      message: expect.stringContaining('checksum'),
    });
  });

  it('drops a file without tables, which a crash while making it leaves', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, `${E}.sqlite`), '');
    const store = await openStore(dir);
    expect(store.size).toBe(0);
    expect(store.add(E, tag())).toBe(true);
    await store.durable();
  });
});

describe('the router and a replay store on disk', () => {
  function router(replay: RouterReplay, lines: LogLine[] = []) {
    const identity = Identity.generate(backend);
    const secret = backend.randomBytes(32);
    const metrics = new RelayMetrics();
    const mailboxes = new Mailboxes(backend);
    const got: Mail[] = [];
    const box = mailboxes.open(backend.randomBytes(32), (_id, mail) => (got.push(mail), true))!;
    const r = new OnionRouter({
      backend,
      id: identity.publicKey,
      keys: { secretFor: (e) => (e === E ? secret : undefined) },
      epoch: () => E,
      send: () => false,
      mailboxes,
      exits: new ExitRegistry(),
      metrics,
      log: (line) => void lines.push(line),
      replay,
    });
    const packet = () =>
      createPacket(backend, {
        epoch: E,
        route: [{ id: identity.publicKey, onionKey: backend.x25519PublicKey(secret) }],
        destination: box,
        message: Uint8Array.of(1),
      }).packet;
    return { router: r, metrics, got, packet };
  }

  it('delivers a packet only once its tag is synced, and refuses its replay', async () => {
    const store = await openStore(await tempDir());
    const { router: r, metrics, got, packet } = router(store);
    const p = packet();
    r.receive(p, 'client');
    // Peeled, its tag added, but nothing has left: the sync runs on a later turn.
    expect(store.size).toBe(1);
    expect(got).toHaveLength(0);
    await store.durable();
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toHaveLength(1);
    r.receive(p, 'client');
    expect(metrics.onionRefused.get('ONION_REPLAY')).toBe(1);
    r.stop();
  });

  it('drops, counts and logs once the packets whose tags failed to sync', async () => {
    const memory = new MemoryReplayStore();
    const failure = new ReplayStoreError('INTERNAL', '/state/onion-replay/1.sqlite', 'writing replay tags failed (EIO)');
    const failing: RouterReplay = {
      add: (epoch, t) => memory.add(epoch, t),
      forgetBefore: (epoch) => memory.forgetBefore(epoch),
      get size() {
        return memory.size;
      },
      durable: () => Promise.reject(failure),
    };
    const lines: LogLine[] = [];
    const { router: r, metrics, got, packet } = router(failing, lines);
    r.receive(packet(), 'client');
    r.receive(packet(), 'client');
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toHaveLength(0);
    expect(metrics.onionRefused.get('INTERNAL')).toBe(2);
    expect(lines.filter((l) => l.event === 'relay-onion-fault')).toHaveLength(1);
    r.stop();
  });
});

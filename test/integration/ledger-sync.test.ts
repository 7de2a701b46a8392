// The ledger syncs the WAL itself, off the request thread (mint/ledger.ts):
// no answer and no read may leave before a sync that began after the commit
// it rests on. The real ledger and SQLite; only the timing of the fsync is
// held back, through FileHandle.datasync, to watch what waits for it.

import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Ledger } from '../../mint/ledger.ts';

const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function ledger(): Promise<Ledger> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-ledger-'));
  dirs.push(dir);
  return new Ledger(join(dir, 'ledger.db'));
}

/** node:fs/promises does not export FileHandle, so its prototype comes from a handle. */
async function fileHandlePrototype(): Promise<{ datasync: () => Promise<void> }> {
  const path = join(dirs.at(-1)!, 'probe');
  const probe = await open(path, 'w');
  await probe.close();
  return Object.getPrototypeOf(probe);
}

/** Holds every datasync until released; the held syncs run for real when let go. */
async function holdSyncs(): Promise<{ held: () => number; release: () => void }> {
  const proto = await fileHandlePrototype();
  const real = proto.datasync;
  const waiting: (() => void)[] = [];
  vi.spyOn(proto, 'datasync').mockImplementation(function (this: unknown) {
    return new Promise<void>((resolve, reject) => waiting.push(() => real.call(this).then(resolve, reject)));
  });
  return { held: () => waiting.length, release: () => waiting.splice(0).forEach((go) => go()) };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('the ledger answers only after its WAL sync', () => {
  it('holds a committed answer, and a read of it, until the sync after the commit is done', async () => {
    const l = await ledger();
    const syncs = await holdSyncs();
    let answered = false;
    const submitted = l.submit((s) => Ledger.credit(s, 'alice', 5)).then(() => (answered = true));
    await tick();
    // Committed (a reader on the same connection sees it), but not released.
    expect(l.balance('alice')).toBe(5);
    expect(syncs.held()).toBe(1);
    expect(answered).toBe(false);
    let read: number | undefined;
    const reading = l.read(() => l.balance('alice')).then((b) => (read = b));
    await tick();
    expect(read).toBeUndefined();
    syncs.release();
    await tick();
    // The read came after the first sync had started, so it needs one of its own.
    expect(answered).toBe(true);
    expect(read).toBeUndefined();
    expect(syncs.held()).toBe(1);
    syncs.release();
    await Promise.all([submitted, reading]);
    expect(read).toBe(5);
    expect(l.stats.syncs).toBe(2);
    // With nothing committed since, a read needs no sync of its own (none is let go here).
    await expect(l.read(() => l.balance('alice'))).resolves.toBe(5);
    expect(syncs.held()).toBe(0);
    expect(l.stats.syncs).toBe(2);
    await l.close();
  });

  it('holds requests that arrive during a sync, then commits them as one group under one more sync', async () => {
    const l = await ledger();
    const syncs = await holdSyncs();
    const first = l.submit((s) => Ledger.credit(s, 'a', 1));
    await tick();
    expect(syncs.held()).toBe(1);
    const order: string[] = [];
    void first.then(() => order.push('first'));
    const later = [l.submit((s) => Ledger.credit(s, 'b', 1)), l.submit((s) => Ledger.credit(s, 'c', 1))];
    for (const p of later) void p.then(() => order.push('later'));
    await tick();
    // Not committed yet: they wait for the running sync, and then share a commit.
    expect(l.balance('b')).toBeUndefined();
    syncs.release();
    await first;
    await tick();
    expect(order).toEqual(['first']);
    // One more sync carries both later requests.
    expect(syncs.held()).toBe(1);
    syncs.release();
    await Promise.all(later);
    expect(order).toEqual(['first', 'later', 'later']);
    expect(l.balance('c')).toBe(1);
    expect(l.stats.syncs).toBe(2);
    expect(l.stats.groups).toBe(2);
    await l.close();
  });

  it('refuses the answers of a group whose sync fails, and a retry finds the commit', async () => {
    const l = await ledger();
    vi.spyOn(await fileHandlePrototype(), 'datasync').mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await expect(l.submit((s) => Ledger.credit(s, 'alice', 5))).rejects.toThrow(/EIO/);
    // The commit stands; the next answer waits for a sync that works.
    await expect(l.read(() => l.balance('alice'))).resolves.toBe(5);
    await l.close();
  });
});

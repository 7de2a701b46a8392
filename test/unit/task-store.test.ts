// Where a worker keeps its task torrent: memory up to a bound, disk above it.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import FSChunkStore from 'fs-chunk-store';
import MemoryChunkStore from 'memory-chunk-store';
import { describe, expect, it } from 'vitest';
import { MEMORY_STORE_MAX_BYTES, TaskChunkStore } from '../../net/task-store.ts';

type Store = { put(i: number, b: Uint8Array, cb: (e?: Error) => void): void; get(i: number, cb: (e: Error | null, b?: Uint8Array) => void): void; destroy(cb: () => void): void };
const call = <T>(fn: (cb: (e?: Error | null, v?: T) => void) => void) =>
  new Promise<T | undefined>((resolve, reject) => fn((e, v) => (e ? reject(e) : resolve(v))));

const CHUNK = 16 * 1024;

describe('task chunk store', () => {
  it('keeps a task torrent of up to 64 MiB in memory and a larger one on disk, with the same answers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sc-store-'));
    try {
      const small = new (TaskChunkStore as unknown as new (n: number, o: object) => Store)(CHUNK, { length: MEMORY_STORE_MAX_BYTES });
      const large = new (TaskChunkStore as unknown as new (n: number, o: object) => Store)(CHUNK, {
        length: MEMORY_STORE_MAX_BYTES + CHUNK,
        path: join(dir, 'large'),
      });
      expect(small).toBeInstanceOf(MemoryChunkStore);
      expect(large).toBeInstanceOf(FSChunkStore);
      const chunk = Uint8Array.from({ length: CHUNK }, (_, i) => i * 7);
      for (const store of [small, large]) {
        await call<void>((cb) => store.put(1, chunk, cb));
        expect(Array.from((await call<Uint8Array>((cb) => store.get(1, cb)))!)).toEqual(Array.from(chunk));
        await new Promise<void>((resolve) => store.destroy(() => resolve()));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// A worker must refuse a task it cannot trust before it runs a byte of it: a
// manifest signed by someone other than the offer's tasker, a manifest whose
// signature is broken, and a module that is not the one the manifest names.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedFile, seedBuffers } from '../../net/torrent-files.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { HashMismatchError, SignatureError } from '../../protocol/errors.ts';
import { encodeManifest, signManifest } from '../../protocol/manifest.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { MANIFEST_FILE } from '../../protocol/task-files.ts';
import { loadTaskDir } from '../../tasker/task-dir.ts';
import type { TaskDir } from '../../tasker/task-dir.ts';
import { Mesh } from '../../testnet/mesh.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;

let mesh: Mesh;
let tasker: Identity;
let task: TaskDir;
let manifest: Manifest;
beforeAll(async () => {
  mesh = await Mesh.start();
  tasker = Identity.generate(nodeCrypto);
  task = await loadTaskDir(nodeCrypto, EXAMPLE, { tasker: tasker.publicKey });
  manifest = signManifest(nodeCrypto, tasker.exportSeed(), task.body);
});
afterAll(() => mesh.stop());

/** Seeds a task torrent built by hand, the way a forger would. */
async function seedForged(manifestBytes: Uint8Array, files: Map<string, Uint8Array>): Promise<string> {
  const seeder = await mesh.client();
  const input = [namedFile(MANIFEST_FILE, manifestBytes), ...[...files].map(([path, bytes]) => namedFile(path, bytes))];
  const torrent = await seedBuffers(seeder.client, `forged-${Math.random()}`, input, {
    trackers: mesh.trackers,
    path: seeder.path,
  });
  return torrent.magnetURI;
}

describe('a worker refuses forged tasks', () => {
  it('refuses a manifest signed by another key than the offer named', async () => {
    const magnet = await seedForged(encodeManifest(manifest), task.files);
    const impostor = Identity.generate(nodeCrypto);
    const worker = await mesh.worker(magnet, { expectTasker: impostor.publicKey });
    const error = await worker.engine.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignatureError);
    expect(worker.engine.stats.assigned).toBe(0);
  });

  it('refuses a manifest whose signature is broken', async () => {
    const bytes = encodeManifest({ ...manifest, price: manifest.price + 100 });
    const worker = await mesh.worker(await seedForged(bytes, task.files));
    await expect(worker.engine.ready).rejects.toBeInstanceOf(SignatureError);
  });

  it('refuses a module that is not the one the manifest names', async () => {
    const files = new Map(task.files);
    const wasm = Uint8Array.from(files.get('unit.wasm')!);
    wasm[wasm.length - 1]! ^= 1;
    files.set('unit.wasm', wasm);
    const worker = await mesh.worker(await seedForged(encodeManifest(manifest), files));
    const error = await worker.engine.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HashMismatchError);
    expect((error as HashMismatchError).field).toBe('unit.wasm');
  });
});

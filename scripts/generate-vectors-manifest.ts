// Regenerates test/vectors/manifest.json: the Mandelbrot example signed by a
// fixed key at a fixed time, so any implementation can check its manifest
// bytes and signature against ours.

import { writeFile } from 'node:fs/promises';
import { toHex } from '../protocol/bytes.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { naclCrypto } from '../protocol/crypto/nacl.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { encodeManifest, signManifest } from '../protocol/manifest.ts';
import { loadTaskDir } from '../tasker/task-dir.ts';
import { SpareCyclesError } from '../protocol/errors.ts';

const SEED = new Uint8Array(32).fill(7);
const CREATED = 1_800_000_000;

const identity = Identity.fromSeed(nodeCrypto, SEED);
const task = await loadTaskDir(nodeCrypto, new URL('../examples/mandelbrot', import.meta.url).pathname, {
  tasker: identity.publicKey,
  nowSeconds: CREATED,
});
const manifest = signManifest(nodeCrypto, SEED, task.body);
const bytes = encodeManifest(manifest);
const again = encodeManifest(signManifest(naclCrypto, SEED, task.body));
if (toHex(again) !== toHex(bytes)) throw new SpareCyclesError('INTERNAL', 'backends disagree on the manifest signature');
if (toHex(manifest.noise) !== toHex(identity.noise.publicKey)) throw new SpareCyclesError('INTERNAL', 'the manifest names another Noise key than its seed yields');

const vectors = {
  description: 'The examples/mandelbrot manifest, signed by seed 0707…07 at unix time 1800000000 with deadline "+24h".',
  seed: toHex(SEED),
  tasker: toHex(identity.publicKey),
  /** The tasker's Noise static key, derived from the seed (protocol/crypto/identity.ts) and signed in as `noise`. */
  noise: toHex(identity.noise.publicKey),
  created: CREATED,
  bytes: toHex(bytes),
  sig: toHex(manifest.sig),
};
await writeFile(new URL('../test/vectors/manifest.json', import.meta.url), `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`manifest vector: ${bytes.length} bytes`);

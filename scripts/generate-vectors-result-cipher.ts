// Regenerates test/vectors/result-cipher.json: result torrent files sealed
// with protocol/result-cipher.ts, with their nonce, associated data and
// exact sealed bytes, and files that must not open, each with the error it
// must raise. Deterministic: every key and value comes from fixed labels.
// Every valid vector is also sealed by Node's own ChaCha20-Poly1305 and must
// come out byte for byte, or nothing is written.
//
//   npx tsx scripts/generate-vectors-result-cipher.ts

import { createCipheriv } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { concatBytes, equalBytes, toHex, utf8 } from '../protocol/bytes.ts';
import { LIMITS, RESULT_CIPHER } from '../protocol/constants.ts';
import { openResultFile, resultFileAad, resultFileNonce, sealResultFile } from '../protocol/result-cipher.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { det } from './vector-kit.ts';


function nodeSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: RESULT_CIPHER.tagBytes });
  cipher.setAAD(aad, { plaintextLength: plain.length });
  return new Uint8Array(concatBytes(cipher.update(plain), cipher.final(), cipher.getAuthTag()));
}

const task = det('result-cipher/task', 20);
const key = det('result-cipher/key', 32);

const cases = [
  { name: 'unit 0, empty output', key, task, unit: 0, output: new Uint8Array(0) },
  { name: 'unit 7, short output', key, task, unit: 7, output: utf8('unit 7: 0x1f 0x2e 0x3d') },
  { name: 'unit 8, same key, several ChaCha20 blocks', key, task, unit: 8, output: det('result-cipher/output/8', 1000) },
  { name: 'the last unit a task may have', key: det('result-cipher/key2', 32), task, unit: LIMITS.unitsPerTask - 1, output: det('result-cipher/output/last', 65) },
];

const valid = cases.map((c) => {
  const nonce = resultFileNonce(c.unit);
  const aad = resultFileAad(c.task, c.unit);
  const sealed = sealResultFile(c.key, c.task, c.unit, c.output);
  if (!equalBytes(sealed, nodeSeal(c.key, nonce, aad, c.output))) throw new SpareCyclesError('INTERNAL', `${c.name}: node:crypto seals it otherwise`);
  if (!equalBytes(openResultFile(c.key, c.task, c.unit, sealed), c.output)) throw new SpareCyclesError('INTERNAL', `${c.name}: does not open`);
  return {
    name: c.name,
    key: toHex(c.key),
    task: toHex(c.task),
    unit: c.unit,
    nonce: toHex(nonce),
    aad: toHex(aad),
    output: toHex(c.output),
    sealed: toHex(sealed),
  };
});

const base = cases[1]!;
const sealed = sealResultFile(base.key, base.task, base.unit, base.output);
const flipped = (bytes: Uint8Array, at: number) => bytes.map((b, i) => (i === at ? b ^ 1 : b));
const invalid = [
  { name: 'another key', key: det('result-cipher/wrong-key', 32), task: base.task, unit: base.unit, sealed, error: 'HashMismatchError', field: 'key' },
  { name: 'another unit', key: base.key, task: base.task, unit: 8, sealed, error: 'HashMismatchError', field: 'key' },
  { name: 'another task', key: base.key, task: det('result-cipher/other-task', 20), unit: base.unit, sealed, error: 'HashMismatchError', field: 'key' },
  { name: 'a ciphertext byte flipped', key: base.key, task: base.task, unit: base.unit, sealed: flipped(sealed, 0), error: 'HashMismatchError', field: 'key' },
  { name: 'a tag byte flipped', key: base.key, task: base.task, unit: base.unit, sealed: flipped(sealed, sealed.length - 1), error: 'HashMismatchError', field: 'key' },
  { name: 'cut short by one byte', key: base.key, task: base.task, unit: base.unit, sealed: sealed.subarray(0, sealed.length - 1), error: 'HashMismatchError', field: 'key' },
  { name: 'shorter than a tag', key: base.key, task: base.task, unit: base.unit, sealed: sealed.subarray(0, 15), error: 'HashMismatchError', field: 'key' },
  { name: 'the output unsealed', key: base.key, task: base.task, unit: base.unit, sealed: base.output, error: 'HashMismatchError', field: 'key' },
  { name: 'key of 31 bytes', key: base.key.subarray(0, 31), task: base.task, unit: base.unit, sealed, error: 'KeyError', field: 'key' },
  { name: 'key of 33 bytes', key: det('result-cipher/key', 33), task: base.task, unit: base.unit, sealed, error: 'KeyError', field: 'key' },
].map((c) => {
  try {
    openResultFile(c.key, c.task, c.unit, c.sealed);
  } catch (error) {
    if ((error as Error).name !== c.error) throw new SpareCyclesError('INTERNAL', `${c.name}: expected ${c.error}, got ${String(error)}`);
    return { name: c.name, key: toHex(c.key), task: toHex(c.task), unit: c.unit, sealed: toHex(c.sealed), error: c.error, field: c.field };
  }
  throw new SpareCyclesError('INTERNAL', `${c.name}: opened`);
});

const file = {
  description:
    'SpareCycles result torrent files (protocol/result-cipher.ts): ChaCha20-Poly1305 under a per-torrent key; ' +
    '`nonce` is 4 zero bytes then the unit as a little-endian 64-bit integer; `aad` is the label, the task info-hash ' +
    'and the unit as a big-endian 32-bit integer; `sealed` is ciphertext ‖ 16-byte tag. `invalid` files must raise `error` on `field`.',
  generatedBy: 'npx tsx scripts/generate-vectors-result-cipher.ts',
  version: RESULT_CIPHER.version,
  label: RESULT_CIPHER.label,
  valid,
  invalid,
};

const path = fileURLToPath(new URL('../test/vectors/result-cipher.json', import.meta.url));
writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
console.log(`wrote ${valid.length} valid and ${invalid.length} invalid vectors to ${path}`);

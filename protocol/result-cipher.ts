// The encryption of a result torrent's files. A result torrent is public:
// anyone who learns its info-hash can fetch it, and could hand its outputs in
// under its own key as an independent replica. So a worker draws a fresh
// random key for each result torrent, seals every output file with
// ChaCha20-Poly1305 under it, and sends the key only inside the result
// message, which travels in the task wire's Noise session.
//
// One key seals the files of one torrent and nothing else, so the nonce can
// be the file's place in it: its unit, which also names the file
// (`unit-<n>.out`, protocol/task-files.ts) and is unique within a torrent.
// The associated data binds the task and the unit, so a file cannot be
// passed off as another unit's or another task's.

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { concatBytes, utf8 } from './bytes.ts';
import { LIMITS, RESULT_CIPHER } from './constants.ts';
import { HashMismatchError, KeyError, SchemaError } from './errors.ts';

// Its label and sizes live in the constants table with every other label.
export { RESULT_CIPHER };

/** ChaChaPoly's 96-bit nonce: 32 zero bits, then the unit as a little-endian 64-bit integer (as Noise lays out its counter). */
export function resultFileNonce(unit: number): Uint8Array {
  checkUnit(unit);
  const out = new Uint8Array(12);
  new DataView(out.buffer).setUint32(4, unit, true);
  return out;
}

/** label ‖ task info-hash (20 bytes) ‖ unit (big-endian 32 bits). */
export function resultFileAad(task: Uint8Array, unit: number): Uint8Array {
  if (task.length !== 20) throw new SchemaError(`task: expected a 20-byte info-hash, got ${task.length} bytes`, { field: 'task' });
  checkUnit(unit);
  const be = new Uint8Array(4);
  new DataView(be.buffer).setUint32(0, unit, false);
  return concatBytes(utf8(RESULT_CIPHER.label), task, be);
}

/** A unit's output as it is stored in the result torrent: ciphertext ‖ 16-byte tag. */
export function sealResultFile(key: Uint8Array, task: Uint8Array, unit: number, output: Uint8Array): Uint8Array {
  checkKey(key);
  return chacha20poly1305(key, resultFileNonce(unit), resultFileAad(task, unit)).encrypt(output);
}

/**
 * The output a result file holds. A file that does not open under the key
 * the worker sent (another key, another unit's or task's file, altered or
 * cut short) is a HashMismatchError: the worker's fault, like an output that
 * does not match its hash.
 */
export function openResultFile(key: Uint8Array, task: Uint8Array, unit: number, sealed: Uint8Array): Uint8Array {
  checkKey(key);
  const nonce = resultFileNonce(unit);
  const aad = resultFileAad(task, unit);
  if (sealed.length < RESULT_CIPHER.tagBytes) {
    throw new HashMismatchError(`result file for unit ${unit}: expected at least ${RESULT_CIPHER.tagBytes} bytes, got ${sealed.length}`, { field: 'key' });
  }
  try {
    return chacha20poly1305(key, nonce, aad).decrypt(sealed);
  } catch (cause) {
    throw new HashMismatchError(`result file for unit ${unit} does not decrypt under the result's key`, { field: 'key', cause });
  }
}

function checkKey(key: Uint8Array): void {
  if (key.length !== RESULT_CIPHER.keyBytes) throw new KeyError(`expected a ${RESULT_CIPHER.keyBytes}-byte result key, got ${key.length} bytes`, { field: 'key' });
}

function checkUnit(unit: number): void {
  if (!Number.isSafeInteger(unit) || unit < 0 || unit >= LIMITS.unitsPerTask) {
    throw new SchemaError(`unit: expected an integer from 0 to ${LIMITS.unitsPerTask - 1}, got ${unit}`, { field: 'unit' });
  }
}

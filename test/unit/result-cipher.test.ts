// Result torrent files (protocol/result-cipher.ts): the vectors in
// test/vectors/result-cipher.json byte for byte, and every file that must
// not open refused as the worker's fault, never as a crash.

import { describe, expect, it } from 'vitest';
import vectors from '../vectors/result-cipher.json' with { type: 'json' };
import { equalBytes, fromHex, toHex } from '../../protocol/bytes.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { blamesPeer, HashMismatchError, KeyError } from '../../protocol/errors.ts';
import { openResultFile, RESULT_CIPHER, resultFileAad, resultFileNonce, sealResultFile } from '../../protocol/result-cipher.ts';
import { caught } from '../support/caught.ts';

describe('result torrent files', () => {
  it('uses the label the vectors were made with', () => {
    expect(vectors.version).toBe(RESULT_CIPHER.version);
    expect(vectors.label).toBe(RESULT_CIPHER.label);
  });

  it.each(vectors.valid)('seals and opens $name byte for byte', (v) => {
    const key = fromHex(v.key);
    const task = fromHex(v.task);
    expect(toHex(resultFileNonce(v.unit))).toBe(v.nonce);
    expect(toHex(resultFileAad(task, v.unit))).toBe(v.aad);
    expect(toHex(sealResultFile(key, task, v.unit, fromHex(v.output)))).toBe(v.sealed);
    expect(toHex(openResultFile(key, task, v.unit, fromHex(v.sealed)))).toBe(v.output);
  });

  it.each(vectors.invalid)('refuses $name with $error', (v) => {
    const error = caught(() => openResultFile(fromHex(v.key), fromHex(v.task), v.unit, fromHex(v.sealed)));
    expect(error).toBeInstanceOf(v.error === 'KeyError' ? KeyError : HashMismatchError);
    expect((error as HashMismatchError).field).toBe(v.field);
    // A file that does not open is the worker's fault, like an output that does not match its hash.
    expect(blamesPeer(error)).toBe(true);
  });

  it('stores no output in the clear, and a fresh key seals the same output otherwise', () => {
    const task = nodeCrypto.randomBytes(20);
    const output = new Uint8Array(4096).fill(0x5a);
    const a = sealResultFile(nodeCrypto.randomBytes(32), task, 3, output);
    const b = sealResultFile(nodeCrypto.randomBytes(32), task, 3, output);
    expect(a.length).toBe(output.length + RESULT_CIPHER.tagBytes);
    expect(equalBytes(a.subarray(0, output.length), output)).toBe(false);
    expect(equalBytes(a, b)).toBe(false);
  });

  it('never reuses a nonce within a torrent: each unit has its own', () => {
    const nonces = new Set([0, 1, 255, 256, 65_536, 999_999].map((u) => toHex(resultFileNonce(u))));
    expect(nonces.size).toBe(6);
  });
});

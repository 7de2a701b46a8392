// What every vector generator shares: fixed bytes made from a label, so that
// a generator run twice writes the same file.

import { utf8 } from '../protocol/bytes.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';

/** Fixed bytes from a label: sha256 chained as far as needed. */
export function det(label: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let block = nodeCrypto.sha256(utf8(`sparecycles/test-vector/${label}`));
  for (let i = 0; i < length; i += 32) {
    out.set(block.subarray(0, Math.min(32, length - i)), i);
    block = nodeCrypto.sha256(block);
  }
  return out;
}

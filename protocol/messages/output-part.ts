// output-part: one slice of a unit's output too large to ride inline in its
// result (LIMITS.inlineOutputBytes), sent on the task wire, in order, before
// the result that names the whole output's hash and the number of parts
// (result `parts`). A stealth worker returns large outputs this way, since a
// result torrent would be seeded from its own address; any worker may.
//
// Unsigned: it travels only inside a task wire's Noise session, which binds
// it to the worker key the handshake authenticated, and the signed result
// after it binds the bytes by their hash.
//
// Every part but the last carries exactly LIMITS.inlineOutputBytes, so the
// count and the last part's length give the size, and a receiver can refuse
// a part that would take an output past its cap before holding it.

import { LIMITS } from '../constants.ts';
import { bytes, int, type Infer } from '../schema.ts';
import { infoHash, invalid, nonce, unsignedMessage } from './envelope.ts';

/** The largest output a manifest may allow (protocol/manifest.ts, limits.outputBytes). */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export const OUTPUT_PARTS = {
  /** Bytes in every part but the last, which carries 1 to this many. */
  partBytes: LIMITS.inlineOutputBytes,
  /** Enough parts for the largest output a manifest may allow. */
  maxParts: Math.ceil(MAX_OUTPUT_BYTES / LIMITS.inlineOutputBytes),
} as const;

/** Parts an output of `length` bytes travels in: at least 2, since one part's worth rides inline. */
export function partCount(length: number): number {
  return Math.ceil(length / OUTPUT_PARTS.partBytes);
}

export const outputPart = unsignedMessage(
  'output-part',
  {
    task: infoHash,
    /** The lease from the assign the output answers. */
    lease: nonce,
    index: int(0, OUTPUT_PARTS.maxParts - 1),
    /** Parts of the whole output; the result that follows names the same count. */
    count: int(2, OUTPUT_PARTS.maxParts),
    data: bytes({ max: OUTPUT_PARTS.partBytes }),
  },
  (m) => {
    if (m.index >= m.count) throw invalid('index', `expected an index below count (${m.count}), got ${m.index}`);
    if (m.index < m.count - 1 && m.data.length !== OUTPUT_PARTS.partBytes) {
      throw invalid('data', `expected ${OUTPUT_PARTS.partBytes} bytes in every part but the last, got ${m.data.length}`);
    }
    if (m.data.length === 0) throw invalid('data', 'expected at least 1 byte, got none');
  },
);

export type OutputPart = Infer<typeof outputPart.schema>;

// result: a worker returns one unit's output, inline or as a result torrent,
// bound to the lease it was assigned under. `blinded` carries the blinded
// points the worker wants signed as payment for this unit: one per
// denomination of the manifest's price, largest first (splitAmount in
// protocol/credits/keyset.ts), which is how the tasker knows each amount.
// A result torrent is public, so its files are sealed (protocol/result-cipher.ts)
// and `key` opens them: it rides only here, inside the task wire's session.
// Version 2 added `key`; a version 1 result torrent could be fetched and
// handed in by anyone who learnt its info-hash.
// An output may also come in `parts` output-part messages just before its
// result on the same channel (output-part.ts): how a stealth worker, which
// seeds nothing, returns a large one. A result without `parts` is the same
// bytes as before it existed, so v2 stays: only a peer that sends parts
// needs a tasker that reads them.

import { LIMITS, MESSAGE_LIMITS } from '../constants.ts';
import { RESULT_CIPHER } from '../result-cipher.ts';
import { bytes, int, list, optional, type Infer } from '../schema.ts';
import { infoHash, invalid, nonce, point, publicKey, sha256Hash, signedMessage, unitIndex } from './envelope.ts';
import { OUTPUT_PARTS } from './output-part.ts';

export const result = signedMessage(
  'result',
  'worker',
  {
    task: infoHash,
    unit: unitIndex,
    /** The lease from the assign this result answers. */
    lease: nonce,
    /** SHA-256 of the output bytes. */
    hash: sha256Hash,
    /** Time the unit ran, in milliseconds; a unit may run at most LIMITS.unitTimeMs. */
    runMs: int(0, LIMITS.unitTimeMs),
    /** The output itself, when small. Exactly one of output, torrent and parts. */
    output: optional(bytes({ max: LIMITS.inlineOutputBytes })),
    /** How many output-part messages carried the output, just before this result on the same channel. */
    parts: optional(int(2, OUTPUT_PARTS.maxParts)),
    /** Info-hash of a result torrent holding the output. */
    torrent: optional(infoHash),
    /** The key the result torrent's files are sealed with: with torrent, never with output. */
    key: optional(bytes({ length: RESULT_CIPHER.keyBytes })),
    blinded: optional(list(point, { min: 1, max: MESSAGE_LIMITS.outputs })),
    worker: publicKey,
  },
  (m) => {
    const ways = [m.output, m.torrent, m.parts].filter((w) => w !== undefined).length;
    if (ways !== 1) {
      throw invalid('output', `expected exactly one of output, torrent and parts, got ${ways === 0 ? 'none' : ways}`);
    }
    if ((m.torrent === undefined) !== (m.key === undefined)) {
      throw invalid('key', m.key === undefined ? 'expected a key with a result torrent, got none' : 'expected no key with an inline output, got one');
    }
  },
);

export type Result = Infer<typeof result.schema>;

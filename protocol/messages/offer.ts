// offer: the value of a tasker's BEP 44 mutable item. It must fit BEP 44's
// limit of 1000 bytes for `v`; the bounds below keep the largest offer well
// under it (test/unit/messages.test.ts checks that).

import { LIMITS, MESSAGE_LIMITS } from '../constants.ts';
import { int, oneOf, optional, text, type Infer } from '../schema.ts';
import { infoHash, invalid, publicKey, signedMessage, timestamp } from './envelope.ts';

export const MODES = ['immediate', 'batch'] as const;

export const offer = signedMessage(
  'offer',
  'tasker',
  {
    /** Info-hash of the task torrent. */
    task: infoHash,
    name: text({ min: 1, max: MESSAGE_LIMITS.nameBytes }),
    /** Credits per unit. */
    price: int(0, Number.MAX_SAFE_INTEGER),
    /** Units not yet done. */
    left: int(0, LIMITS.unitsPerTask),
    /** Units in the task. */
    units: int(1, LIMITS.unitsPerTask),
    /** Unix time in seconds. */
    deadline: timestamp,
    mode: oneOf(MODES),
    /** The mint that pays, when the tasker names one. */
    mint: optional(text({ min: 1, max: MESSAGE_LIMITS.mintUrlBytes, pattern: /^https?:\/\/[\x21-\x7e]+$/ })),
    /** Mirrors the BEP 44 sequence number: higher replaces lower. */
    seq: int(0, Number.MAX_SAFE_INTEGER),
    tasker: publicKey,
  },
  (m) => {
    if (m.left > m.units) throw invalid('left', `expected at most units (${m.units}), got ${m.left}`);
  },
);

export type Offer = Infer<typeof offer.schema>;

// assign: a tasker hands units to one worker. Each unit comes with a lease,
// a fresh 16-byte value the result must repeat, so a result answers exactly
// one assignment.

import { LIMITS } from '../constants.ts';
import { list, struct, type Infer } from '../schema.ts';
import { infoHash, nonce, publicKey, requireUnique, signedMessage, timestamp, unitIndex } from './envelope.ts';

export const lease = struct({ unit: unitIndex, lease: nonce });

export const assign = signedMessage(
  'assign',
  'tasker',
  {
    task: infoHash,
    units: list(lease, { min: 1, max: LIMITS.unitsPerMessage }),
    /** Unix time in milliseconds by which results are due. */
    deadline: timestamp,
    /** The worker these units are for. */
    worker: publicKey,
    tasker: publicKey,
  },
  (m) => requireUnique(m.units, (u) => String(u.unit), (i) => `units[${i}].unit`),
);

export type Assign = Infer<typeof assign.schema>;

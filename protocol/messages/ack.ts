// ack: a worker tells the tasker that the final receipts of these leases
// reached it and are dealt with: an accepted one's pay is kept in its wallet,
// a rejected one's outputs forfeited. Until then the tasker keeps each final
// receipt (the only copy of the pay) and sends it again; after it, the
// tasker forgets them.

import { toHex } from '../bytes.ts';
import { LIMITS } from '../constants.ts';
import { list, type Infer } from '../schema.ts';
import { infoHash, nonce, publicKey, requireUnique, signedMessage } from './envelope.ts';

export const ack = signedMessage(
  'ack',
  'worker',
  {
    task: infoHash,
    /** The leases whose final receipts are dealt with. */
    leases: list(nonce, { min: 1, max: LIMITS.unitsPerMessage }),
    worker: publicKey,
  },
  (m) => requireUnique(m.leases, toHex, (i) => `leases[${i}]`),
);

export type Ack = Infer<typeof ack.schema>;

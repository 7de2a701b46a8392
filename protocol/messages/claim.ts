// claim: a worker asks a tasker for up to `want` units of a task.

import { LIMITS } from '../constants.ts';
import { int, type Infer } from '../schema.ts';
import { infoHash, nonce, publicKey, signedMessage } from './envelope.ts';

export const claim = signedMessage('claim', 'worker', {
  task: infoHash,
  want: int(1, LIMITS.unitsPerMessage),
  worker: publicKey,
  /** Fresh per claim, so a tasker can tell a retry from a replay. */
  nonce,
});

export type Claim = Infer<typeof claim.schema>;

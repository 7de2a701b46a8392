// receipt: the tasker's verdict on one result.

import { MESSAGE_LIMITS } from '../constants.ts';
import { oneOf, optional, text, type Infer } from '../schema.ts';
import { infoHash, nonce, publicKey, signedMessage, unitIndex } from './envelope.ts';

export const STATUSES = ['accepted', 'rejected', 'pending'] as const;

export const receipt = signedMessage('receipt', 'tasker', {
  task: infoHash,
  unit: unitIndex,
  lease: nonce,
  status: oneOf(STATUSES),
  reason: optional(text({ max: MESSAGE_LIMITS.reasonBytes })),
  tasker: publicKey,
});

export type Receipt = Infer<typeof receipt.schema>;

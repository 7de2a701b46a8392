// receipt: the tasker's verdict on one result. An accepted receipt carries
// the mint's blind signatures on the blinded outputs the result brought: the
// worker's pay, which only it can unblind.

import { MESSAGE_LIMITS } from '../constants.ts';
import { list, oneOf, optional, struct, text, type Infer } from '../schema.ts';
import { infoHash, keysetId, nonce, publicKey, signedMessage, unitIndex } from './envelope.ts';
import { blindSignature } from './payment.ts';

export const STATUSES = ['accepted', 'rejected', 'pending'] as const;

export const receipt = signedMessage('receipt', 'tasker', {
  task: infoHash,
  unit: unitIndex,
  lease: nonce,
  status: oneOf(STATUSES),
  reason: optional(text({ max: MESSAGE_LIMITS.reasonBytes })),
  /** The pay for an accepted unit: the keyset and a signature per blinded output. */
  paid: optional(struct({ keyset: keysetId, signatures: list(blindSignature, { min: 1, max: MESSAGE_LIMITS.outputs }) })),
  tasker: publicKey,
});

export type Receipt = Infer<typeof receipt.schema>;

// deposit: a mint operator (an admin key the mint was started with) credits
// a tasker's account, standing for the escrow payment made outside the
// protocol. Signed, and idempotent by id like every mint request.

import { MESSAGE_LIMITS } from '../constants.ts';
import { text, type Infer } from '../schema.ts';
import { amount, nonce, publicKey, signedMessage, timestamp } from './envelope.ts';

export const deposit = signedMessage('deposit', 'admin', {
  id: nonce,
  /** The account credited: a tasker's account is its public key in hex. */
  account: text({ min: 1, max: MESSAGE_LIMITS.accountBytes }),
  amount,
  admin: publicKey,
  /** Unix time in milliseconds. */
  ts: timestamp,
});

export type Deposit = Infer<typeof deposit.schema>;

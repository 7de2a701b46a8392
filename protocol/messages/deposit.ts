// deposit: a mint operator (an admin key the mint was started with) credits
// a tasker's account, standing for the escrow payment made outside the
// protocol. Signed, and idempotent by id like every mint request.
//
// Version 2 names the mint it is for (the id the mint publishes at
// GET /v1/info) and is good only within the mint's time window around `ts`:
// a deposit cannot be replayed to another mint that trusts the same admin
// key, nor to a mint whose request ids were lost (a ledger restored from a
// backup) once its window has passed.

import { bytes, type Infer } from '../schema.ts';
import { amount, nonce, publicKey, signedMessage, timestamp } from './envelope.ts';
import { account } from './payment.ts';

/** A mint's id: 16 random bytes it makes with its ledger (GET /v1/info). */
export const mintId = bytes({ length: 16 });

export const deposit = signedMessage('deposit', 'admin', {
  id: nonce,
  /** The mint this deposit is for. */
  mint: mintId,
  /** The account credited: an ed25519 key in hex (a tasker's account is its own key). */
  account,
  amount,
  admin: publicKey,
  /** Unix time in milliseconds; the mint refuses a deposit outside its window around this. */
  ts: timestamp,
});

export type Deposit = Infer<typeof deposit.schema>;

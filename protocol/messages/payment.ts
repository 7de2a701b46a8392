// payment: a tasker asks the mint to sign workers' blinded outputs (debiting
// the tasker's deposit), and payment-ok, the mint's blind signatures. The id
// makes a retry after a crash get the same answer.

import { MESSAGE_LIMITS } from '../constants.ts';
import { list, struct, type Infer } from '../schema.ts';
import { amount, keysetId, nonce, point, publicKey, signedMessage, timestamp, unsignedMessage } from './envelope.ts';

/** A blinded output B = Y + r·G to be signed for `amount` (Cashu NUT-00 BlindedMessage). */
export const blindedOutput = struct({ amount, B: point });
/** The mint's blind signature C' = k·B (Cashu NUT-00 BlindSignature). */
export const blindSignature = struct({ amount, C: point });

export const payment = signedMessage('payment', 'tasker', {
  /** Request id, fresh per request and reused on retry. */
  id: nonce,
  keyset: keysetId,
  outputs: list(blindedOutput, { min: 1, max: MESSAGE_LIMITS.outputs }),
  tasker: publicKey,
  /** Unix time in milliseconds. */
  ts: timestamp,
});

// Unsigned for now: it will carry DLEQ proofs, which bind it to the mint's key.
export const paymentOk = unsignedMessage('payment-ok', {
  id: nonce,
  signatures: list(blindSignature, { min: 1, max: MESSAGE_LIMITS.outputs }),
});

export type Payment = Infer<typeof payment.schema>;
export type PaymentOk = Infer<typeof paymentOk.schema>;

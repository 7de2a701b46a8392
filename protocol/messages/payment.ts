// payment: a tasker asks the mint to sign workers' blinded outputs (debiting
// the tasker's deposit), and payment-ok, the mint's blind signatures. The id
// makes a retry after a crash get the same answer.

import { MESSAGE_LIMITS } from '../constants.ts';
import { bytes, list, struct, type Infer } from '../schema.ts';
import { amount, keysetId, nonce, point, publicKey, signedMessage, timestamp, unsignedMessage } from './envelope.ts';

const scalar = bytes({ length: 32 });

/** A blinded output B = Y + r·G to be signed for `amount` (Cashu NUT-00 BlindedMessage). */
export const blindedOutput = struct({ amount, B: point });
/**
 * The mint's blind signature C' = k·B with a DLEQ proof (e, s) that k is the
 * keyset's key for `amount` (Cashu NUT-00 BlindSignature, NUT-12).
 */
export const blindSignature = struct({ amount, C: point, e: scalar, s: scalar });

export const payment = signedMessage('payment', 'tasker', {
  /** Request id, fresh per request and reused on retry. */
  id: nonce,
  keyset: keysetId,
  outputs: list(blindedOutput, { min: 1, max: MESSAGE_LIMITS.outputs }),
  tasker: publicKey,
  /** Unix time in milliseconds. */
  ts: timestamp,
});

// Unsigned: each signature carries a DLEQ proof that binds it to the keyset's
// published key, which is what a worker needs to trust it.
export const paymentOk = unsignedMessage('payment-ok', {
  id: nonce,
  keyset: keysetId,
  signatures: list(blindSignature, { min: 1, max: MESSAGE_LIMITS.outputs }),
});

export type BlindedOutput = Infer<typeof blindedOutput>;
export type BlindSignature = Infer<typeof blindSignature>;
export type Payment = Infer<typeof payment.schema>;
export type PaymentOk = Infer<typeof paymentOk.schema>;

// payment: a tasker asks the mint to sign workers' blinded outputs (debiting
// the tasker's deposit), and payment-ok, the mint's blind signatures. The id
// makes a retry after a crash get the same answer.

import { fromHex } from '../bytes.ts';
import { MESSAGE_LIMITS } from '../constants.ts';
import { assertEd25519PublicKey } from '../crypto/sign.ts';
import { SchemaError } from '../errors.ts';
import { bytes, list, struct, text, type Infer, type Schema } from '../schema.ts';
import { amount, keysetId, nonce, point, publicKey, signedMessage, timestamp, unsignedMessage } from './envelope.ts';

const scalar = bytes({ length: 32 });

const accountText = text({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/ });

/**
 * An account at a mint: the lowercase hex of an ed25519 public key, as a
 * tasker's account is its key. Only a key can be an account, so credits are
 * never redeemed to a name nobody can spend from; the key must be canonical
 * and not of small order, as every key the protocol checks.
 */
export const account: Schema<string> = {
  read(value, path) {
    const hex = accountText.read(value, path);
    try {
      assertEd25519PublicKey(fromHex(hex));
    } catch (cause) {
      throw new SchemaError(`${path}: expected an ed25519 public key, got one that ${(cause as Error).message.replace(/^ed25519 public key /, '')}`, {
        field: path,
        cause,
      });
    }
    return hex;
  },
  write: (value) => value,
};

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

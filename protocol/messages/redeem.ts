// redeem: whoever holds credits spends them at the mint, either to an account
// or for fresh blinded outputs (a swap). Bearer: the secrets are the
// authority, so there is no signature; it is validated like every message.
// Whoever sees a redeem in transit can spend its credits first: send it over
// TLS (docs/mint-api.md).

import { MESSAGE_LIMITS } from '../constants.ts';
import { bytes, list, optional, struct, type Infer } from '../schema.ts';
import { amount, invalid, keysetId, nonce, point, requireUnique, unsignedMessage } from './envelope.ts';
import { account, blindedOutput, blindSignature } from './payment.ts';

/** A credit: the secret x and the unblinded signature C = k·hash_to_curve(x) (Cashu NUT-00 Proof). */
export const proof = struct({ amount, x: bytes({ length: 32 }), C: point });

export const redeem = unsignedMessage(
  'redeem',
  {
    id: nonce,
    keyset: keysetId,
    proofs: list(proof, { min: 1, max: MESSAGE_LIMITS.outputs }),
    /** The account to credit (an ed25519 key in hex). Exactly one of to and outputs. */
    to: optional(account),
    /** Blinded outputs to sign in exchange (a swap). */
    outputs: optional(list(blindedOutput, { min: 1, max: MESSAGE_LIMITS.outputs })),
  },
  (m) => {
    if ((m.to === undefined) === (m.outputs === undefined)) {
      const got = m.to === undefined ? 'neither' : 'both';
      throw invalid('to', `expected exactly one of to and outputs, got ${got}`);
    }
    // One request may not spend the same secret twice.
    requireUnique(m.proofs, (p) => p.x.join(','), (i) => `proofs[${i}].x`);
  },
);

export type Redeem = Infer<typeof redeem.schema>;

/** The mint's answer to a redeem: the amount spent, and for a swap the new blind signatures. */
export const redeemOk = unsignedMessage(
  'redeem-ok',
  {
    id: nonce,
    amount,
    to: optional(account),
    keyset: optional(keysetId),
    signatures: optional(list(blindSignature, { min: 1, max: MESSAGE_LIMITS.outputs })),
  },
  (m) => {
    if ((m.to === undefined) === (m.signatures === undefined)) {
      throw invalid('to', 'expected exactly one of to and signatures');
    }
    if ((m.keyset === undefined) !== (m.signatures === undefined)) {
      throw invalid('keyset', 'expected keyset exactly when there are signatures');
    }
  },
);

export type Proof = Infer<typeof proof>;
export type RedeemOk = Infer<typeof redeemOk.schema>;

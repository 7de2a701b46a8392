// hello: the first message each side of a conversation sends. It names the
// sender's key and role and proves the key is live by signing a fresh nonce.

import { MESSAGE_LIMITS } from '../constants.ts';
import { list, oneOf, text, type Infer } from '../schema.ts';
import { nonce, publicKey, requireUnique, signedMessage, timestamp } from './envelope.ts';

export const ROLES = ['worker', 'tasker'] as const;

/** A capability is one printable ASCII word, e.g. `wasm`, `simd`, `bep10`. */
export const CAP_PATTERN = /^[\x21-\x7e]+$/;

export const hello = signedMessage(
  'hello',
  'key',
  {
    /** The sender's ed25519 key; it signs this hello. */
    key: publicKey,
    role: oneOf(ROLES),
    caps: list(text({ min: 1, max: MESSAGE_LIMITS.capBytes, pattern: CAP_PATTERN }), { max: MESSAGE_LIMITS.caps }),
    /** Free text naming the software, e.g. `sparecycles-extension/0.1.0`. */
    agent: text({ max: MESSAGE_LIMITS.agentBytes }),
    nonce,
    /** Unix time in milliseconds. */
    ts: timestamp,
  },
  (m) => requireUnique(m.caps, (c) => c, (i) => `caps[${i}]`),
);

export type Hello = Infer<typeof hello.schema>;

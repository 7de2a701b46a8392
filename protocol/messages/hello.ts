// hello: a signed greeting naming the sender's key, role, caps and agent.
// No longer sent on task wires: a signed greeting can be replayed or relayed
// by anyone who overheard it, so the task-wire handshake (handshake.ts) now
// binds each wire to its two identities and carries caps and agent; a hello
// arriving there is refused as out of turn. The type stays in the table at
// version 1, and CAP_PATTERN is shared with the handshake's payloads.

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

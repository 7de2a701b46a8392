// offer: the value of a tasker's BEP 44 mutable item. It must fit BEP 44's
// limit of 1000 bytes for `v`; the bounds below keep the largest offer well
// under it (test/unit/messages.test.ts checks that).
//
// `rendezvous` is where a stealth worker reaches the tasker without either
// learning the other's address: a mailbox at one relay's /onion socket
// (docs/relay-onion.md, "Mailboxes"). The offer names the mailbox's id, never
// its secret, so anyone may post to it but only the tasker can empty it. No
// rendezvous: the tasker takes no stealth workers.

import { LIMITS, MESSAGE_LIMITS } from '../constants.ts';
import { bytes, int, oneOf, optional, struct, text, type Infer } from '../schema.ts';
import { infoHash, invalid, publicKey, signedMessage, timestamp } from './envelope.ts';

export const MODES = ['immediate', 'batch'] as const;

/** A tasker's onion mailbox: the relay that keeps it and its id, sha256(label ‖ secret) (protocol/onion/envelope.ts mailboxId). */
export const rendezvous = struct({
  /** The relay's ed25519 key, as its descriptor names it: a route's last hop. */
  relay: publicKey,
  mailbox: bytes({ length: 32 }),
});

export type Rendezvous = Infer<typeof rendezvous>;

export const offer = signedMessage(
  'offer',
  'tasker',
  {
    /** Info-hash of the task torrent. */
    task: infoHash,
    name: text({ min: 1, max: MESSAGE_LIMITS.nameBytes }),
    /** Credits per unit. */
    price: int(0, Number.MAX_SAFE_INTEGER),
    /** Units not yet done. */
    left: int(0, LIMITS.unitsPerTask),
    /** Units in the task. */
    units: int(1, LIMITS.unitsPerTask),
    /** Unix time in seconds. */
    deadline: timestamp,
    mode: oneOf(MODES),
    /** The mint that pays, when the tasker names one. */
    mint: optional(text({ min: 1, max: MESSAGE_LIMITS.mintUrlBytes, pattern: /^https?:\/\/[\x21-\x7e]+$/ })),
    /** Where stealth workers reach the tasker; absent when it takes none. */
    rendezvous: optional(rendezvous),
    /** Mirrors the BEP 44 sequence number: higher replaces lower. */
    seq: int(0, Number.MAX_SAFE_INTEGER),
    tasker: publicKey,
  },
  (m) => {
    if (m.left > m.units) throw invalid('left', `expected at most units (${m.units}), got ${m.left}`);
  },
);

export type Offer = Infer<typeof offer.schema>;

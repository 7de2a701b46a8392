// Mailboxes: where the last hop of a route leaves what it delivers for a
// client of this relay (a tasker's rendezvous, a worker's reply mailbox).
// A client opens one with a secret; the mailbox's id, what routes name, is a
// hash of it (protocol/onion/envelope.ts), so a published rendezvous can be
// written to by anyone and emptied only by its owner. Mail is pushed to the
// owner while it is connected and held otherwise, a capped number per
// mailbox and for a limited time, until the owner comes back. An owner still
// connected but backed up keeps its mailbox: its mail is held, and handed
// over, oldest first, with the next mail or the next sweep once its socket
// drains. Nothing here records where mail came from.

import { toHex } from '../protocol/bytes.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { mailboxId } from '../protocol/onion/envelope.ts';

export interface Mail {
  /** A delivered message, or a reply's payload still sealed to the reply block's maker. */
  readonly data: Uint8Array;
  /** Set for a reply: which reply block it answers. */
  readonly surbId?: Uint8Array;
}

/** Hands mail to a connected owner; false when it could not (the socket is gone or backed up), and the mail is held instead. */
export type MailOwner = (mailbox: Uint8Array, mail: Mail) => boolean;

export interface MailboxLimits {
  /** How long held mail, and a mailbox with no owner, is kept. */
  ttlMs: number;
  /** Messages held per mailbox; more are dropped. */
  perMailbox: number;
  /** Mailboxes in all. */
  maxMailboxes: number;
}

export const DEFAULT_MAILBOX_LIMITS: MailboxLimits = { ttlMs: 10 * 60_000, perMailbox: 64, maxMailboxes: 10_000 };

interface Box {
  readonly id: Uint8Array;
  owner: MailOwner | undefined;
  held: { mail: Mail; until: number }[];
  /** When an ownerless, empty mailbox is forgotten. */
  until: number;
}

export type PutResult = 'pushed' | 'held' | 'full' | 'unknown';

export class Mailboxes {
  readonly #backend: CryptoBackend;
  readonly #limits: MailboxLimits;
  readonly #now: () => number;
  readonly #boxes = new Map<string, Box>();

  constructor(backend: CryptoBackend, limits: Partial<MailboxLimits> = {}, now: () => number = Date.now) {
    this.#backend = backend;
    this.#limits = { ...DEFAULT_MAILBOX_LIMITS, ...limits };
    this.#now = now;
  }

  /**
   * Opens (or reopens) the mailbox of `secret` for `owner` and hands it what
   * was held. The newest owner wins: whoever holds the secret is the owner.
   * Undefined when the relay is at its cap of mailboxes.
   */
  open(secret: Uint8Array, owner: MailOwner): Uint8Array | undefined {
    const id = mailboxId(this.#backend, secret);
    const key = toHex(id);
    let box = this.#boxes.get(key);
    if (box === undefined) {
      this.sweep();
      if (this.#boxes.size >= this.#limits.maxMailboxes) return undefined;
      box = { id, owner, held: [], until: 0 };
      this.#boxes.set(key, box);
    }
    box.owner = owner;
    this.#flush(box, this.#now());
    return id.slice();
  }

  /** The owner went away: its mailboxes keep mail for it until their TTL. */
  release(owner: MailOwner): void {
    const until = this.#now() + this.#limits.ttlMs;
    for (const box of this.#boxes.values()) {
      if (box.owner !== owner) continue;
      box.owner = undefined;
      box.until = until;
    }
  }

  has(id: Uint8Array): boolean {
    return this.#boxes.has(toHex(id));
  }

  put(id: Uint8Array, mail: Mail): PutResult {
    const box = this.#boxes.get(toHex(id));
    if (box === undefined) return 'unknown';
    const now = this.#now();
    // Held mail goes first, so an owner that was backed up gets its mail in order.
    if (this.#flush(box, now) && box.owner?.(box.id, mail)) return 'pushed';
    if (box.held.length >= this.#limits.perMailbox) return 'full';
    box.held.push({ mail, until: now + this.#limits.ttlMs });
    box.until = Math.max(box.until, now + this.#limits.ttlMs);
    return 'held';
  }

  /** Forgets expired mail, and ownerless mailboxes with nothing held past their time; hands held mail to owners that can take it now. */
  sweep(now = this.#now()): void {
    for (const [key, box] of this.#boxes) {
      this.#flush(box, now);
      if (box.owner === undefined && box.held.length === 0 && box.until <= now) this.#boxes.delete(key);
    }
  }

  /** Drops expired mail and hands the rest to the owner, oldest first, while it takes it; true when nothing is left held. */
  #flush(box: Box, now: number): boolean {
    box.held = box.held.filter((h) => h.until > now);
    if (box.owner === undefined) return box.held.length === 0;
    let taken = 0;
    while (taken < box.held.length && box.owner(box.id, box.held[taken]!.mail)) taken++;
    box.held = box.held.slice(taken);
    return box.held.length === 0;
  }

  get size(): number {
    return this.#boxes.size;
  }

  get held(): number {
    let n = 0;
    for (const box of this.#boxes.values()) n += box.held.length;
    return n;
  }
}

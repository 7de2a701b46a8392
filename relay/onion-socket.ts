// One WebSocket at a relay's onion path, from whoever opened it
// (docs/relay-onion.md). It starts as a client's: the relay sends its
// challenge, and the client may send packets (within its bucket) and open
// mailboxes, whose mail is pushed down this socket. If the other end answers
// the challenge as a relay (a `link` frame signed by its identity), the
// socket becomes a link: the relay signs back, hands the link to the pool,
// and from then on only packets are taken, on the link's own budget.
// Anything else is dropped and counted by its error code.

import { ONION_RELAY, type ErrorCode } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { decodeLinkFrame, encodeLinkFrame, isPacketSized, signLink, verifyLink, type LinkFrame } from '../protocol/onion/link.ts';
import { TokenBucket } from '../serve/rate-limit.ts';
import { WS_OPEN, type WsSocket } from '../serve/ws.ts';
import { frameCode, Link, toBytes, type OnionLinks } from './onion-links.ts';
import type { Mail, MailOwner, Mailboxes } from './onion-mailboxes.ts';

export interface ClientLimits {
  /** Onion sockets of clients at once. */
  maxClients: number;
  /** Packets and frames one client may send per minute (a minute's worth at once). */
  perClientPerMinute: number;
  /** Mailboxes one client socket may open. */
  mailboxesPerClient: number;
}

export const DEFAULT_CLIENT_LIMITS: ClientLimits = { maxClients: 1024, perClientPerMinute: 6_000, mailboxesPerClient: 16 };

/** A client that does not read its mail is not pushed more once this much is queued; its mail is held instead. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

export interface OnionSocketContext {
  backend: CryptoBackend;
  identity: Identity;
  links: OnionLinks;
  mailboxes: Mailboxes;
  limits: ClientLimits;
  receive: (packet: Uint8Array, from: 'link' | 'client') => void;
  refused: (code: ErrorCode) => void;
  /** The socket stopped being a client's (it closed, or became a link). */
  clientGone: () => void;
}

export class OnionSocket {
  readonly #ws: WsSocket;
  readonly #ctx: OnionSocketContext;
  readonly #nonce: Uint8Array;
  readonly #bucket: TokenBucket;
  readonly #owner: MailOwner;
  #opened = 0;
  #link: Link | undefined;
  #client = true;

  constructor(ws: WsSocket, ctx: OnionSocketContext) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#nonce = ctx.backend.randomBytes(ONION_RELAY.nonceBytes);
    this.#bucket = new TokenBucket(ctx.limits.perClientPerMinute);
    this.#owner = (mailbox, mail) => this.#push(mailbox, mail);
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      try {
        this.#onMessage(toBytes(data), isBinary);
      } catch (error) {
        ctx.refused(error instanceof SpareCyclesError ? error.code : 'INTERNAL');
      }
    });
    // ws closes the socket itself on a peer's protocol violation (a frame over maxPayload...).
    ws.on('error', () => ctx.refused('DECODE'));
    ws.on('close', () => {
      if (this.#link) ctx.links.dropped(this.#link);
      this.#leaveClients();
    });
    this.#send({ t: 'challenge', v: ONION_RELAY.linkVersion, k: ctx.identity.publicKey, n: this.#nonce });
  }

  terminate(): void {
    this.#ws.terminate();
  }

  #onMessage(bytes: Uint8Array, isBinary: boolean): void {
    const ctx = this.#ctx;
    if (this.#link) {
      if (!isBinary || !isPacketSized(bytes)) return ctx.refused(isBinary ? frameCode(bytes) : 'DECODE');
      if (!this.#link.admit()) return ctx.refused('RATE_LIMITED');
      return ctx.receive(bytes, 'link');
    }
    if (!this.#bucket.take()) return ctx.refused('RATE_LIMITED');
    if (!isBinary) return ctx.refused('DECODE');
    if (isPacketSized(bytes)) return ctx.receive(bytes, 'client');
    const frame = decodeLinkFrame(bytes);
    if (frame.t === 'link') return this.#becomeLink(frame.k, frame.n, frame.s);
    if (frame.t === 'open') return this.#open(frame.x);
    ctx.refused('PROTOCOL');
  }

  #becomeLink(peer: Uint8Array, nonce: Uint8Array, signature: Uint8Array): void {
    const ctx = this.#ctx;
    const transcript = { listenerKey: ctx.identity.publicKey, listenerNonce: this.#nonce, dialerKey: peer, dialerNonce: nonce };
    verifyLink(ctx.backend, 'dialer', transcript, signature);
    // A relay's link carries packets only; mail it opened as a client stays held for it.
    ctx.mailboxes.release(this.#owner);
    const link = new Link(peer, this.#ws, ctx.links.limits.perLinkPerMinute);
    if (!ctx.links.adopt(link)) {
      ctx.refused('BUSY');
      return this.#ws.close(1013, 'at the cap of links');
    }
    this.#link = link;
    this.#leaveClients();
    this.#send({ t: 'link-ok', v: ONION_RELAY.linkVersion, s: signLink(ctx.identity, 'listener', transcript) });
  }

  #open(secret: Uint8Array): void {
    const ctx = this.#ctx;
    if (this.#opened >= ctx.limits.mailboxesPerClient) {
      ctx.refused('BUSY');
      return this.#send({ t: 'refused', v: ONION_RELAY.linkVersion, c: 'BUSY' });
    }
    const id = ctx.mailboxes.open(secret, this.#owner);
    if (id === undefined) {
      ctx.refused('BUSY');
      return this.#send({ t: 'refused', v: ONION_RELAY.linkVersion, c: 'BUSY' });
    }
    this.#opened++;
    // Held mail was pushed ahead of this, which is fine: mail names its mailbox.
    this.#send({ t: 'opened', v: ONION_RELAY.linkVersion, m: id });
  }

  #push(mailbox: Uint8Array, mail: Mail): boolean {
    if (this.#ws.readyState !== WS_OPEN || this.#ws.bufferedAmount > MAX_BUFFERED_BYTES) return false;
    const frame: LinkFrame =
      mail.surbId === undefined
        ? { t: 'mail', v: ONION_RELAY.linkVersion, m: mailbox, d: mail.data }
        : { t: 'mail', v: ONION_RELAY.linkVersion, m: mailbox, d: mail.data, r: mail.surbId };
    this.#send(frame);
    return true;
  }

  #leaveClients(): void {
    if (!this.#client) return;
    this.#client = false;
    this.#ctx.mailboxes.release(this.#owner);
    this.#ctx.clientGone();
  }

  #send(frame: LinkFrame): void {
    if (this.#ws.readyState === WS_OPEN) this.#ws.send(encodeLinkFrame(frame), { binary: true });
  }
}

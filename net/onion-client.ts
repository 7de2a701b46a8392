// A client of the relay network's onion sockets (docs/relay-onion.md): the
// one piece through which a stealth worker or a tasker sends packets, keeps
// mailboxes and opens the replies that come back on its reply blocks.
//
// It holds one WebSocket per relay it speaks to, opened when first needed
// and checked against the relay's key (the relay's challenge names it), and
// reopened with backoff while a mailbox there is wanted: a mailbox's mail is
// held at the relay while its owner is away, and handed over when it opens
// the mailbox again. Reply blocks are single-use: the secrets to open a
// reply are kept until the reply comes or the block's keys expire, then
// forgotten. Platform-neutral: the browser passes its WebSocket, Node the
// `ws` package's.

import { toHex } from '../protocol/bytes.ts';
import { ONION, ONION_RELAY } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { DecodeError, NetworkError, SpareCyclesError, TimeoutError } from '../protocol/errors.ts';
import { createPacket, createSurb, openReply, type OnionHop, type Surb } from '../protocol/onion/index.ts';
import { mailboxId } from '../protocol/onion/envelope.ts';
import { decodeLinkFrame, encodeLinkFrame, type LinkFrame } from '../protocol/onion/link.ts';
import type { SurbSecrets } from '../protocol/onion/surb.ts';
import type { SocketConstructor } from './relay-client.ts';
import type { RelayView } from './relay-view.ts';

export interface OnionClientOptions {
  backend: CryptoBackend;
  /** Where relays' URLs and onion keys come from, and where failures are reported. */
  view: RelayView;
  WebSocket?: SocketConstructor;
  /** How long a socket may take to open and show its challenge. */
  connectTimeoutMs?: number;
  now?: () => number;
}

/** Mail for one of this client's mailboxes: a delivered message, or the opened answer on a reply block. */
export type MailHandler = (message: Uint8Array) => void;

interface Mailbox {
  readonly relay: string;
  readonly secret: Uint8Array;
  readonly handler: MailHandler;
}

interface PendingReply {
  readonly secrets: SurbSecrets;
  readonly handler: MailHandler;
  readonly expires: number;
}

type Socket = InstanceType<SocketConstructor>;

/** One WebSocket to one relay's onion path. */
class RelaySocket {
  readonly ready: Promise<void>;
  #socket: Socket;
  #open = false;
  closed = false;

  constructor(
    readonly id: string,
    url: string,
    Socket: SocketConstructor,
    timeoutMs: number,
    private readonly onFrame: (frame: LinkFrame) => void,
    private readonly onClose: () => void,
  ) {
    this.#socket = new Socket(`${url.replace(/\/+$/, '')}${ONION_RELAY.path}`);
    this.#socket.binaryType = 'arraybuffer';
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new TimeoutError(`onion socket to ${url}: no challenge within ${timeoutMs} ms`));
        this.close();
      }, timeoutMs);
      this.#socket.onerror = () => undefined;
      this.#socket.onclose = () => {
        clearTimeout(timer);
        reject(new NetworkError(`onion socket to ${url}: closed`));
        this.#gone();
      };
      this.#socket.onmessage = (event) => {
        let frame: LinkFrame;
        try {
          frame = decodeLinkFrame(asBytes(event.data));
        } catch {
          return;
        }
        if (!this.#open) {
          clearTimeout(timer);
          // The relay names its key first thing: a socket to another relay than the route meant is no good.
          if (frame.t !== 'challenge' || toHex(frame.k) !== id) {
            reject(new NetworkError(`onion socket to ${url}: the relay there is not ${id.slice(0, 16)}…`));
            this.close();
            return;
          }
          this.#open = true;
          resolve();
          return;
        }
        this.onFrame(frame);
      };
    });
    this.ready.catch(() => {});
  }

  send(bytes: Uint8Array): boolean {
    if (!this.#open || this.closed) return false;
    try {
      this.#socket.send(bytes);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.closed) return;
    try {
      this.#socket.close();
    } catch {
      // Closing a socket that never opened may throw; it is gone either way.
    }
    this.#gone();
  }

  #gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.#open = false;
    this.onClose();
  }
}

const REOPEN_FIRST_MS = 500;
const REOPEN_MAX_MS = 30_000;
const SWEEP_MS = 60_000;
/** Reply blocks whose answers are awaited at most; each costs a few hundred bytes of secrets. */
const MAX_PENDING_REPLIES = 100_000;
/** Reply blocks made for an epoch are good for it and the one after. */
const SURB_LIFE_EPOCHS = 2;

export class OnionClient {
  readonly #o: Required<Omit<OnionClientOptions, 'WebSocket'>> & { WebSocket: SocketConstructor };
  readonly #sockets = new Map<string, RelaySocket>();
  /** Mailboxes by id (hex). */
  readonly #mailboxes = new Map<string, Mailbox>();
  /** Reply mailboxes by relay id (hex). */
  readonly #replyBoxes = new Map<string, Promise<Uint8Array>>();
  /** Reply-block secrets by reply-block id (hex). */
  readonly #replies = new Map<string, PendingReply>();
  /** Mailbox opens waiting for the relay's answer, by mailbox id (hex). */
  readonly #opening = new Map<string, { relay: string; settle: (error?: Error) => void }>();
  /** Reopening timers by relay id (hex). */
  readonly #reopen = new Map<string, ReturnType<typeof setTimeout>>();
  #stopped = false;

  readonly #sweeper: ReturnType<typeof setInterval>;

  constructor(options: OnionClientOptions) {
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    (this.#sweeper as { unref?: () => void }).unref?.();
    this.#o = {
      backend: options.backend,
      view: options.view,
      WebSocket: options.WebSocket ?? (globalThis as unknown as { WebSocket: SocketConstructor }).WebSocket,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      now: options.now ?? Date.now,
    };
  }

  get view(): RelayView {
    return this.#o.view;
  }

  /** Reply blocks made and not yet answered or expired. */
  get pendingReplies(): number {
    return this.#replies.size;
  }

  /**
   * Opens a mailbox at `relay` (its id); mail for it, delivered messages and
   * replies alike, goes to `handler`. Resolves with the mailbox's id once the
   * relay confirms it. `secret` reopens a mailbox kept before (a tasker's
   * rendezvous across restarts); a fresh one otherwise.
   */
  async openMailbox(relay: Uint8Array, handler: MailHandler, secret?: Uint8Array): Promise<Uint8Array> {
    const box: Mailbox = { relay: toHex(relay), secret: secret ?? this.#o.backend.randomBytes(32), handler };
    const id = mailboxId(this.#o.backend, box.secret);
    this.#mailboxes.set(toHex(id), box);
    await this.#ask(box.relay, box.secret);
    return id;
  }

  /**
   * This client's reply mailbox at `relay`, opened once and shared: replies
   * find their handler by their reply block's id, so one mailbox per relay
   * serves every block that ends there.
   */
  replyMailbox(relay: Uint8Array): Promise<Uint8Array> {
    const key = toHex(relay);
    let mailbox = this.#replyBoxes.get(key);
    if (!mailbox) {
      mailbox = this.openMailbox(relay, () => {});
      mailbox.catch(() => this.#replyBoxes.delete(key));
      this.#replyBoxes.set(key, mailbox);
    }
    return mailbox;
  }

  closeMailbox(id: Uint8Array): void {
    this.#mailboxes.delete(toHex(id));
  }

  /** Sends `message` on `route` to be delivered at its last hop to `destination` (a mailbox id, a mint exit's id). */
  async send(route: readonly OnionHop[], destination: Uint8Array, message: Uint8Array, epoch: number): Promise<void> {
    const { firstHop, packet } = createPacket(this.#o.backend, { epoch, route, destination, message });
    await this.sendPacket(firstHop, packet);
  }

  /** Hands a built packet to its first hop; NetworkError when that relay cannot be reached. */
  async sendPacket(firstHop: Uint8Array, packet: Uint8Array): Promise<void> {
    const socket = await this.#socketTo(toHex(firstHop));
    if (!socket.send(packet)) throw new NetworkError(`onion socket to ${toHex(firstHop).slice(0, 16)}…: closed before the packet went`);
  }

  /**
   * A reply block whose answer comes back along `route` to `mailbox` (one of
   * this client's, at the route's last relay) and is handed, opened, to
   * `handler`: once.
   */
  makeSurb(route: readonly OnionHop[], epoch: number, mailbox: Uint8Array, handler: MailHandler): Surb {
    const { surb, secrets } = createSurb(this.#o.backend, { epoch, route, mailbox });
    this.#replies.set(toHex(secrets.id), { secrets, handler, expires: (epoch + SURB_LIFE_EPOCHS) * ONION.epochMs });
    // Blocks a peer never used are forgotten oldest first past the cap: a map keeps insertion order.
    if (this.#replies.size > MAX_PENDING_REPLIES) this.#replies.delete(this.#replies.keys().next().value!);
    return surb;
  }

  /** Forgets reply blocks whose keys have expired: their answers can no longer come. */
  sweep(): void {
    const now = this.#o.now();
    for (const [id, pending] of this.#replies) if (pending.expires <= now) this.#replies.delete(id);
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#sweeper);
    for (const timer of this.#reopen.values()) clearTimeout(timer);
    this.#reopen.clear();
    for (const socket of this.#sockets.values()) socket.close();
    this.#sockets.clear();
    this.#mailboxes.clear();
    this.#replyBoxes.clear();
    this.#replies.clear();
  }

  async #socketTo(id: string): Promise<RelaySocket> {
    if (this.#stopped) throw new NetworkError('the onion client is stopped');
    let socket = this.#sockets.get(id);
    if (!socket || socket.closed) {
      const entry = this.#o.view.get(id);
      if (!entry) throw new SpareCyclesError('NOT_FOUND', `no relay ${id.slice(0, 16)}… in the view`);
      const fresh: RelaySocket = new RelaySocket(
        id,
        entry.descriptor.ws,
        this.#o.WebSocket,
        this.#o.connectTimeoutMs,
        (frame) => this.#frame(id, frame),
        () => this.#lost(id, fresh),
      );
      socket = fresh;
      this.#sockets.set(id, socket);
    }
    try {
      await socket.ready;
    } catch (error) {
      this.#o.view.reportFailure(id);
      throw error;
    }
    return socket;
  }

  /** Opens (or reopens) a mailbox on the relay's socket. */
  async #ask(relay: string, secret: Uint8Array): Promise<void> {
    const socket = await this.#socketTo(relay);
    const id = toHex(mailboxId(this.#o.backend, secret));
    const opened = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#opening.delete(id);
        reject(new TimeoutError(`relay ${relay.slice(0, 16)}… did not open the mailbox within ${this.#o.connectTimeoutMs} ms`));
      }, this.#o.connectTimeoutMs);
      this.#opening.set(id, {
        relay,
        settle: (error) => {
          clearTimeout(timer);
          this.#opening.delete(id);
          if (error) reject(error);
          else resolve();
        },
      });
    });
    if (!socket.send(encodeLinkFrame({ t: 'open', v: ONION_RELAY.linkVersion, x: secret }))) {
      this.#opening.get(id)?.settle(new NetworkError(`onion socket to ${relay.slice(0, 16)}…: closed before the mailbox opened`));
    }
    return opened;
  }

  #frame(relay: string, frame: LinkFrame): void {
    if (frame.t === 'opened') return this.#opening.get(toHex(frame.m))?.settle();
    if (frame.t === 'refused') {
      // The relay refuses opens only (BUSY): every open waiting on it fails.
      for (const pending of [...this.#opening.values()]) {
        if (pending.relay === relay) pending.settle(new SpareCyclesError('BUSY', `relay ${relay.slice(0, 16)}… refused a mailbox: ${frame.c}`));
      }
      return;
    }
    if (frame.t !== 'mail') return;
    if (frame.r !== undefined) {
      const key = toHex(frame.r);
      const pending = this.#replies.get(key);
      if (!pending) return;
      let message: Uint8Array;
      try {
        message = openReply(this.#o.backend, pending.secrets, frame.d);
      } catch {
        // Changed on the way, or not ours: the block stays for its real answer.
        return;
      }
      this.#replies.delete(key);
      pending.handler(message);
      return;
    }
    const box = this.#mailboxes.get(toHex(frame.m));
    box?.handler(frame.d);
  }

  /** A socket closed: mailboxes kept there are reopened, with backoff, so held mail is handed over. */
  #lost(relay: string, socket: RelaySocket): void {
    if (this.#sockets.get(relay) === socket) this.#sockets.delete(relay);
    if (this.#stopped || ![...this.#mailboxes.values()].some((b) => b.relay === relay) || this.#reopen.has(relay)) return;
    this.#scheduleReopen(relay, REOPEN_FIRST_MS);
  }

  #scheduleReopen(relay: string, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#reopen.delete(relay);
      const boxes = [...this.#mailboxes.values()].filter((b) => b.relay === relay);
      if (this.#stopped || boxes.length === 0) return;
      Promise.all(boxes.map((b) => this.#ask(relay, b.secret))).catch(() => {
        if (!this.#stopped && !this.#reopen.has(relay)) this.#scheduleReopen(relay, Math.min(delayMs * 2, REOPEN_MAX_MS));
      });
    }, delayMs);
    (timer as { unref?: () => void }).unref?.();
    this.#reopen.set(relay, timer);
  }
}

function asBytes(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new DecodeError('onion socket: expected a binary message, got text');
}

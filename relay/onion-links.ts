// Links between relays, for onion packets (docs/relay-onion.md). A relay
// that must pass a packet to another dials that relay's onion socket (its
// URL from an injected lookup: the relay view), and both ends prove their
// identity keys with signed nonces (protocol/onion/link.ts says why not the
// task wire's Noise IK). Links are pooled by peer and used both ways, so the
// first one two relays open is the one they share; a dial that fails backs
// off exponentially before the next try; a link nobody used for a while is
// closed. Packets that arrive on a link pay a token from that link's bucket
// and go to the router.

import { toHex } from '../protocol/bytes.ts';
import { ONION_RELAY, type ErrorCode } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { decodeLinkFrame, encodeLinkFrame, isPacketSized, signLink, verifyLink, type LinkTranscript } from '../protocol/onion/link.ts';
import type { Logger } from '../serve/log.ts';
import { TokenBucket } from '../serve/rate-limit.ts';
import { WebSocketClient, WS_OPEN, type WsSocket } from '../serve/ws.ts';
import type { RelayMetrics } from './metrics.ts';

export interface LinkLimits {
  /** Links to other relays at once, dialed and accepted. */
  maxLinks: number;
  /** Packets one link may bring per minute (as a token bucket: a minute's worth at once). */
  perLinkPerMinute: number;
  /** A link unused for this long is closed. */
  idleMs: number;
  /** The first wait after a failed dial, doubled on each further failure up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** Packets queued for a link still being dialed; more are dropped. */
  queue: number;
  /** A handshake not done in this time fails. */
  handshakeMs: number;
}

/** Ten thousand packets a second on one link, about what one relay core peels. */
export const DEFAULT_LINK_LIMITS: LinkLimits = {
  maxLinks: 256,
  perLinkPerMinute: 600_000,
  idleMs: 5 * 60_000,
  backoffMs: 500,
  maxBackoffMs: 60_000,
  queue: 256,
  handshakeMs: 10_000,
};

/** A queue a packet-sender can stop at: links that back up are not sent more. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** One authenticated link, either way round. */
export class Link {
  readonly peer: Uint8Array;
  readonly #ws: WsSocket;
  readonly #bucket: TokenBucket;
  lastActive = Date.now();

  constructor(peer: Uint8Array, ws: WsSocket, perMinute: number) {
    this.peer = peer;
    this.#ws = ws;
    this.#bucket = new TokenBucket(perMinute);
  }

  get open(): boolean {
    return this.#ws.readyState === WS_OPEN;
  }

  send(packet: Uint8Array): boolean {
    if (!this.open || this.#ws.bufferedAmount > MAX_BUFFERED_BYTES) return false;
    this.lastActive = Date.now();
    this.#ws.send(packet, { binary: true });
    return true;
  }

  /** Whether a packet that came in on this link is within its budget. */
  admit(): boolean {
    this.lastActive = Date.now();
    return this.#bucket.take();
  }

  close(): void {
    this.#ws.close(1000, 'idle');
  }

  terminate(): void {
    this.#ws.terminate();
  }
}

export interface OnionLinksOptions {
  backend: CryptoBackend;
  identity: Identity;
  /** A relay's URL (ws://host:port, as its descriptor names it) by its id; undefined for a relay not known. */
  lookup: (id: Uint8Array) => string | undefined;
  /** A packet that came in on a link and is within its budget. */
  receive: (packet: Uint8Array) => void;
  /** Something dropped on a link, by code. */
  refused: (code: ErrorCode) => void;
  metrics: RelayMetrics;
  log: Logger;
  limits?: Partial<LinkLimits>;
}

interface Dialing {
  readonly queue: Uint8Array[];
}

export class OnionLinks {
  readonly #o: OnionLinksOptions;
  readonly limits: LinkLimits;
  /** The link each peer's packets go on. */
  readonly #byPeer = new Map<string, Link>();
  /** Every link open, including a second one two relays dialed at once. */
  readonly #all = new Set<Link>();
  readonly #dialing = new Map<string, Dialing>();
  readonly #sockets = new Set<WsSocket>();
  readonly #backoff = new Map<string, { failures: number; until: number }>();
  #stopped = false;

  constructor(options: OnionLinksOptions) {
    this.#o = options;
    this.limits = { ...DEFAULT_LINK_LIMITS, ...options.limits };
  }

  get size(): number {
    return this.#all.size;
  }

  /** Whether one more link fits under the cap (dials in progress count). */
  get full(): boolean {
    return this.#all.size + this.#dialing.size >= this.limits.maxLinks;
  }

  /** Sends `packet` to relay `peer`, dialing it if need be. False when it cannot go: no URL, backing off, at the cap, or backed up. */
  send(peer: Uint8Array, packet: Uint8Array): boolean {
    if (this.#stopped) return false;
    const key = toHex(peer);
    const link = this.#byPeer.get(key);
    if (link?.open) {
      if (!link.send(packet)) return false;
      this.#o.metrics.onionOut++;
      return true;
    }
    const dialing = this.#dialing.get(key);
    if (dialing) {
      if (dialing.queue.length >= this.limits.queue) return false;
      dialing.queue.push(packet);
      return true;
    }
    const backoff = this.#backoff.get(key);
    if (backoff && backoff.until > Date.now()) return false;
    if (this.full) return false;
    const url = this.#o.lookup(peer);
    if (url === undefined) return false;
    this.#dial(peer, key, url, [packet]);
    return true;
  }

  /** Takes in a link the other end dialed and proved itself on (relay/onion-socket.ts). False at the cap. */
  adopt(link: Link): boolean {
    if (this.#stopped || this.#all.size >= this.limits.maxLinks) return false;
    this.#all.add(link);
    const key = toHex(link.peer);
    if (!this.#byPeer.get(key)?.open) this.#byPeer.set(key, link);
    this.#backoff.delete(key);
    this.#o.metrics.onionLink('accepted');
    return true;
  }

  /** A link's socket closed. */
  dropped(link: Link): void {
    this.#all.delete(link);
    const key = toHex(link.peer);
    if (this.#byPeer.get(key) !== link) return;
    this.#byPeer.delete(key);
    // The other link two relays may have opened at once takes over.
    for (const other of this.#all) if (other.open && toHex(other.peer) === key) return void this.#byPeer.set(key, other);
  }

  /** Closes links idle past their time. */
  sweep(now = Date.now()): void {
    for (const link of this.#all) {
      if (now - link.lastActive < this.limits.idleMs) continue;
      this.#o.metrics.onionLink('idle');
      link.close();
    }
    for (const [key, b] of this.#backoff) if (b.until <= now - this.limits.maxBackoffMs) this.#backoff.delete(key);
  }

  stop(): void {
    this.#stopped = true;
    for (const link of this.#all) link.terminate();
    for (const ws of this.#sockets) ws.terminate();
    this.#all.clear();
    this.#byPeer.clear();
    this.#dialing.clear();
  }

  #dial(peer: Uint8Array, key: string, url: string, queue: Uint8Array[]): void {
    const dialing: Dialing = { queue };
    this.#dialing.set(key, dialing);
    let ws: WsSocket;
    try {
      ws = new WebSocketClient(onionUrl(url), { maxPayload: ONION_RELAY.frameBytes });
    } catch {
      return this.#failed(key, 'bad-url');
    }
    this.#sockets.add(ws);
    const nonce = this.#o.backend.randomBytes(ONION_RELAY.nonceBytes);
    let transcript: LinkTranscript | undefined;
    let link: Link | undefined;
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      this.#failed(key, reason);
    };
    const timer = setTimeout(() => fail('timeout'), this.limits.handshakeMs);
    timer.unref?.();

    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const bytes = toBytes(data);
      if (link) {
        if (!isPacketSized(bytes)) return this.#o.refused(frameCode(bytes));
        if (!link.admit()) return this.#o.refused('RATE_LIMITED');
        return this.#o.receive(bytes);
      }
      try {
        const frame = decodeLinkFrame(bytes);
        if (frame.t === 'challenge' && transcript === undefined) {
          if (toHex(frame.k) !== key) return fail('wrong-key');
          transcript = { listenerKey: frame.k, listenerNonce: frame.n, dialerKey: this.#o.identity.publicKey, dialerNonce: nonce };
          const s = signLink(this.#o.identity, 'dialer', transcript);
          ws.send(encodeLinkFrame({ t: 'link', v: ONION_RELAY.linkVersion, k: this.#o.identity.publicKey, n: nonce, s }), { binary: true });
        } else if (frame.t === 'link-ok' && transcript !== undefined) {
          verifyLink(this.#o.backend, 'listener', transcript, frame.s);
          settled = true;
          clearTimeout(timer);
          link = new Link(peer, ws, this.limits.perLinkPerMinute);
          this.#up(key, link, dialing);
        } else {
          fail('protocol');
        }
      } catch (error) {
        fail(error instanceof SpareCyclesError ? error.code.toLowerCase() : 'protocol');
      }
    });
    ws.on('error', () => fail('unreachable'));
    ws.on('close', () => {
      this.#sockets.delete(ws);
      if (link) this.dropped(link);
      else fail('closed');
    });
  }

  #up(key: string, link: Link, dialing: Dialing): void {
    this.#dialing.delete(key);
    this.#backoff.delete(key);
    if (this.#stopped) return link.terminate();
    this.#all.add(link);
    if (!this.#byPeer.get(key)?.open) this.#byPeer.set(key, link);
    this.#o.metrics.onionLink('dialed');
    for (const packet of dialing.queue) {
      if (link.send(packet)) this.#o.metrics.onionOut++;
      else this.#o.refused('NETWORK');
    }
  }

  #failed(key: string, reason: string): void {
    const dialing = this.#dialing.get(key);
    this.#dialing.delete(key);
    for (let i = 0; i < (dialing?.queue.length ?? 0); i++) this.#o.refused('NETWORK');
    const failures = (this.#backoff.get(key)?.failures ?? 0) + 1;
    const wait = Math.min(this.limits.maxBackoffMs, this.limits.backoffMs * 2 ** (failures - 1));
    this.#backoff.set(key, { failures, until: Date.now() + wait });
    this.#o.metrics.onionLink(`dial-failed-${reason}`.slice(0, 40));
    this.#emit('warn', 'relay-onion-dial-failed', { reason, peer: key.slice(0, 16), retryMs: wait });
  }

  #emit(level: 'warn' | 'debug', event: string, fields: Record<string, unknown>): void {
    try {
      this.#o.log({ level, event, ...fields });
    } catch {
      // A broken log sink must not take the relay down with it.
    }
  }
}

/** A relay's onion socket: its URL with the onion path. */
export function onionUrl(relayUrl: string): string {
  const url = new URL(relayUrl);
  url.pathname = ONION_RELAY.path;
  url.search = '';
  return url.toString();
}

/** The code a non-packet message on a link counts under: wrong-size bytes that are no link frame are DECODE. */
export function frameCode(bytes: Uint8Array): ErrorCode {
  try {
    decodeLinkFrame(bytes);
    // A well-formed frame where only packets may come.
    return 'PROTOCOL';
  } catch (error) {
    return error instanceof SpareCyclesError ? error.code : 'DECODE';
  }
}

export function toBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

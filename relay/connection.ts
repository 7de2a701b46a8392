// One browser's WebSocket to the relay: its token bucket, its requests and
// the relay's answers. Every frame first pays a token from the connection's
// bucket and its address's; then it must be one binary frame holding one
// relay-find or relay-get (decoded and validated by protocol/); anything else
// is answered with relay-error and counted as a strike. MAX_STRIKES refused
// requests in a row, and the connection is closed (1008).

import type { Logger, LogLevel } from '../serve/log.ts';
import { decode, isDict } from '../protocol/bencode.ts';
import { toHex, utf8 } from '../protocol/bytes.ts';
import { MESSAGE_LIMITS, MESSAGE_TYPES, type RelayErrorCode } from '../protocol/constants.ts';
import { NetworkError, SpareCyclesError } from '../protocol/errors.ts';
import { decodeMessage, encodeMessage, type Message, type RelayFind, type RelayGet } from '../protocol/messages/index.ts';
import type { RelayMetrics } from './metrics.ts';
import type { OfferCache } from './offer-cache.ts';
import { LookupBusyError, LookupTimeoutError, type OfferItems } from './offer-item.ts';
import { takeAll, TokenBucket, type BucketMap, type RateLimits } from '../serve/rate-limit.ts';
import { WS_OPEN, type WsSocket } from '../serve/ws.ts';

/** Refused requests (over budget or malformed) in a row before the connection is closed. */
export const MAX_STRIKES = 16;
/** relay-get lookups one connection may have in flight. */
export const MAX_GETS_PER_CONNECTION = 4;
/** A client that does not read its answers is dropped once this much is queued for it. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** How long a closing connection may take to answer our close frame. */
const CLOSE_GRACE_MS = 2_000;
/** WebSocket close codes (RFC 6455 §7.4.1). */
const CLOSE = { policy: 1008, tryAgainLater: 1013 } as const;

/** What a connection shares with the relay. */
export interface RelayContext {
  limits: RateLimits;
  ipBuckets: BucketMap;
  cache: OfferCache;
  items: OfferItems;
  metrics: RelayMetrics;
  /** How long a relay-find waits for a refresh in flight. */
  findWaitMs: number;
  log: Logger;
  stopping(): boolean;
}

export class RelayConnection {
  readonly #ws: WsSocket;
  /** The key the per-IP limits use (an IPv6 client's /64). */
  readonly #ip: string;
  /** address:port, for log lines. */
  readonly peer: string;
  readonly #ctx: RelayContext;
  readonly #bucket: TokenBucket;
  #strikes = 0;
  #gets = 0;
  #alive = true;
  #closing = false;

  constructor(ws: WsSocket, ip: string, peer: string, ctx: RelayContext, onClose: () => void) {
    this.#ws = ws;
    this.#ip = ip;
    this.peer = peer;
    this.#ctx = ctx;
    this.#bucket = new TokenBucket(ctx.limits.perConnectionPerMinute);
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      try {
        this.#onMessage(toBytes(data), isBinary);
      } catch (error) {
        this.#fault(undefined, error);
      }
    });
    ws.on('pong', () => (this.#alive = true));
    ws.on('error', (err: NodeJS.ErrnoException) => {
      // ws reports a peer's protocol violations (a frame over maxPayload, bad
      // UTF-8 in a text frame, an unmasked frame...) here and closes the connection.
      if (err.code?.startsWith('WS_ERR_')) {
        ctx.metrics.closed(err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'too-large' : 'protocol');
        this.#emit('warn', 'relay-protocol-error', { peer, code: err.code, message: err.message });
      } else {
        this.#emit('debug', 'relay-socket-error', { peer, message: err.message });
      }
    });
    ws.on('close', (code: number) => {
      this.#emit('debug', 'relay-connection-closed', { peer, code });
      onClose();
    });
  }

  /** Pings, or cuts off a connection that did not answer the last ping. */
  heartbeat(): void {
    if (!this.#alive) {
      this.#ctx.metrics.closed('unresponsive');
      this.#emit('debug', 'relay-connection-dropped', { peer: this.peer, reason: 'no pong' });
      return this.#ws.terminate();
    }
    this.#alive = false;
    try {
      this.#ws.ping();
    } catch {
      this.#ws.terminate();
    }
  }

  terminate(): void {
    this.#ws.terminate();
  }

  #onMessage(bytes: Uint8Array, isBinary: boolean): void {
    if (this.#closing) return;
    const { limits, ipBuckets, metrics } = this.#ctx;
    const ipBucket = ipBuckets.get(this.#ip);
    if (!takeAll([this.#bucket, ipBucket])) {
      metrics.rateLimited++;
      const budget =
        this.#bucket.available() < 1
          ? `${limits.perConnectionPerMinute} requests a minute on one connection`
          : `${limits.perIpPerMinute} requests a minute from one address`;
      const retryMs = Math.max(this.#bucket.msUntilToken(), ipBucket.msUntilToken());
      if (this.#strikes === 0) this.#emit('warn', 'relay-rate-limited', { peer: this.peer, budget });
      this.#error(salvageId(bytes), 'RATE_LIMITED', `over ${budget}; retry in ${retryMs} ms`);
      return this.#strike();
    }
    if (!isBinary) {
      metrics.request('invalid');
      return this.#bad(undefined, 'expected a binary frame holding one bencoded message, got a text frame');
    }
    let msg: Message;
    try {
      msg = decodeMessage(bytes, { maxBytes: MESSAGE_LIMITS.relayRequestBytes });
    } catch (error) {
      if (!(error instanceof SpareCyclesError)) throw error;
      metrics.request('invalid');
      return this.#bad(salvageId(bytes), error.message);
    }
    metrics.request(msg.t);
    switch (msg.t) {
      case 'relay-find':
        this.#strikes = 0;
        return void this.#find(msg);
      case 'relay-get':
        this.#strikes = 0;
        return void this.#get(msg);
      default:
        return this.#bad(idOf(msg), `expected relay-find or relay-get, got ${msg.t}`);
    }
  }

  async #find(msg: RelayFind): Promise<void> {
    try {
      const offers = await this.#ctx.cache.current(this.#ctx.findWaitMs);
      const max = msg.max ?? MESSAGE_LIMITS.relayOffers;
      const v = MESSAGE_TYPES['relay-offers'].version;
      this.#send({ t: 'relay-offers', v, id: msg.id, offers: offers.slice(0, max).map((o) => o.bytes) });
    } catch (error) {
      this.#fault(msg.id, error);
    }
  }

  async #get(msg: RelayGet): Promise<void> {
    if (this.#gets >= MAX_GETS_PER_CONNECTION) {
      this.#ctx.metrics.rateLimited++;
      return this.#error(msg.id, 'RATE_LIMITED', `at most ${MAX_GETS_PER_CONNECTION} relay-get lookups in flight per connection`);
    }
    this.#gets++;
    try {
      const item = await this.#ctx.items.get(msg.key);
      const v = MESSAGE_TYPES['relay-item'].version;
      this.#send(item ? { t: 'relay-item', v, id: msg.id, offer: item.offer, seq: item.seq, sig: item.sig } : { t: 'relay-item', v, id: msg.id });
    } catch (error) {
      // The DHT may fail lookups once the relay (and then its DHT) is shutting down; nobody is listening.
      if (this.#ctx.stopping()) return;
      if (error instanceof LookupBusyError) {
        this.#error(msg.id, 'UNAVAILABLE', `the relay is busy: ${error.message}; try again shortly`);
      } else if (error instanceof LookupTimeoutError) {
        this.#error(msg.id, 'UNAVAILABLE', error.message);
      } else if (error instanceof NetworkError || (error instanceof Error && !(error instanceof SpareCyclesError))) {
        // bittorrent-dht failing a lookup: the network's trouble more than ours.
        this.#emit('warn', 'relay-dht-get-failed', { key: toHex(msg.key), message: error.message });
        this.#error(msg.id, 'UNAVAILABLE', `the DHT lookup failed: ${error.message}`);
      } else {
        this.#fault(msg.id, error);
      }
    } finally {
      this.#gets--;
    }
  }

  /** A request the relay cannot take: answered with BAD_REQUEST, logged, and counted against the connection. */
  #bad(id: Uint8Array | undefined, message: string): void {
    this.#emit('warn', 'relay-bad-request', { peer: this.peer, message: message.slice(0, 200) });
    this.#error(id, 'BAD_REQUEST', message);
    this.#strike();
  }

  #strike(): void {
    if (++this.#strikes < MAX_STRIKES) return;
    this.#ctx.metrics.closed('abusive');
    this.#emit('warn', 'relay-connection-dropped', { peer: this.peer, reason: `${MAX_STRIKES} refused requests in a row` });
    this.#close(CLOSE.policy, 'too many refused requests');
  }

  /** A fault of our own: logged as an error, answered with INTERNAL. */
  #fault(id: Uint8Array | undefined, error: unknown): void {
    this.#emit('error', 'relay-fault', { peer: this.peer, message: (error as Error)?.message ?? String(error), stack: (error as Error)?.stack });
    try {
      this.#error(id, 'INTERNAL', 'the relay failed to answer this request');
    } catch {
      // Nothing more to tell the client.
    }
  }

  #error(id: Uint8Array | undefined, code: RelayErrorCode, message: string): void {
    this.#ctx.metrics.error(code);
    const v = MESSAGE_TYPES['relay-error'].version;
    const text = clip(message, MESSAGE_LIMITS.relayMessageBytes);
    this.#send(id ? { t: 'relay-error', v, id, code, message: text } : { t: 'relay-error', v, code, message: text });
  }

  #send(msg: Message): void {
    const ws = this.#ws;
    if (ws.readyState !== WS_OPEN || this.#closing) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.#ctx.metrics.closed('slow');
      this.#emit('warn', 'relay-connection-dropped', { peer: this.peer, reason: `over ${MAX_BUFFERED_BYTES} bytes unread` });
      return this.#close(CLOSE.tryAgainLater, 'not reading');
    }
    ws.send(encodeMessage(msg), { binary: true });
  }

  #close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#ws.close(code, reason);
    // A client that never answers the close frame is cut off.
    setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  #emit(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.#ctx.log({ level, event, ...fields });
  }
}

/** The bytes of a WebSocket message, copied into a plain Uint8Array that shares nothing with ws's buffers. */
function toBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Uint8Array.from(Buffer.concat(data));
  return data instanceof ArrayBuffer ? new Uint8Array(data.slice(0)) : Uint8Array.from(data);
}

/** The 8-byte id of a request the relay refuses, when one can be read, so the client can match the answer. */
function salvageId(bytes: Uint8Array): Uint8Array | undefined {
  try {
    const value = decode(bytes, { maxBytes: MESSAGE_LIMITS.relayRequestBytes });
    const id = isDict(value) ? value.id : undefined;
    return id instanceof Uint8Array && id.length === 8 ? Uint8Array.from(id) : undefined;
  } catch {
    return undefined;
  }
}

function idOf(msg: Message): Uint8Array | undefined {
  const id = (msg as { id?: unknown }).id;
  return id instanceof Uint8Array && id.length === 8 ? id : undefined;
}

/** At most `maxBytes` of UTF-8, cut at a code point, with no lone surrogates. */
function clip(text: string, maxBytes: number): string {
  const clean = text.replace(/\p{Cs}/gu, '\ufffd');
  if (utf8(clean).length <= maxBytes) return clean;
  let out = '';
  let used = 0;
  for (const ch of clean) {
    const n = utf8(ch).length;
    if (used + n > maxBytes - 3) break;
    out += ch;
    used += n;
  }
  return `${out}...`;
}

// The task wire over onion routes (docs/stealth.md): a frame channel
// (protocol/channel.ts) between a stealth worker and a tasker's rendezvous,
// so the secure layer and everything above it run unchanged.
//
// Both ends run one small selective-repeat loop (StreamCore): the frames
// become one byte stream, cut into numbered segments (protocol/onion/
// stream.ts); each is kept until the other end acknowledges it and sent
// again, on a new route, when it is not acknowledged in time; segments that
// arrive out of order wait for the gap to fill. The worker's segments go on
// forward routes to the rendezvous mailbox; the tasker's go on the reply
// blocks the worker keeps it supplied with, so the tasker never learns a
// route to the worker, and waits, holding what it would send, when it has
// none left.

import { toHex } from '../protocol/bytes.ts';
import type { FrameChannel, FrameListener } from '../protocol/channel.ts';
import { ONION, ONION_STREAM } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { MAX_FRAME } from '../protocol/handshake.ts';
import { readHeader } from '../protocol/onion/codec.ts';
import { replyPacket, type Surb } from '../protocol/onion/index.ts';
import { decodeSegment, encodeSegment, FrameReader, frameOnStream, segmentCapacity, type Segment } from '../protocol/onion/stream.ts';
import type { Rendezvous } from '../protocol/messages/offer.ts';
import type { OnionClient } from './onion-client.ts';
import type { PathHop } from './relay-view.ts';

export interface StreamTiming {
  /** Segments in flight, unacknowledged, at most. */
  window: number;
  /** The first retransmission timeout, before any round trip was measured. */
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** Sends of one segment before the stream is given up. */
  maxTries: number;
  /** How long an acknowledgement waits for data to ride with. */
  ackDelayMs: number;
}

export const DEFAULT_TIMING: StreamTiming = { window: 16, initialRtoMs: 3000, minRtoMs: 400, maxRtoMs: 20_000, maxTries: 8, ackDelayMs: 15 };

/** Repeated acknowledgements that send the segment they wait for again. */
const DUP_ACKS = 3;

/** Segments received ahead of a gap, held at most. */
const RECEIVE_WINDOW = 64;

type Fields = Omit<Segment, 'stream' | 'surbs' | 'held'>;

interface InFlight {
  readonly data: Uint8Array;
  tries: number;
  sentAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** What the transport reports of the route it went on, for blame or credit when it is answered or not. */
  route: unknown;
}

interface CoreHooks {
  /** The most data the next segment may carry. */
  capacity(): number;
  /** Sends a segment now; false when it cannot (the tasker out of reply blocks) and must wait for unblock(). */
  transmit(fields: Fields): { sent: boolean; route?: unknown };
  /** A segment sent on `route` at `sentAt` was acknowledged or timed out. */
  outcome?(route: unknown, ok: boolean, sentAt: number, rttMs?: number): void;
  deliver(frame: Uint8Array): void;
  ended(error?: SpareCyclesError): void;
}

/** One end's reliable, ordered byte stream over a lossy, reordering carrier. */
class StreamCore {
  #queue: Uint8Array[] = [];
  #queued = 0;
  #nextSeq = 0;
  readonly #inFlight = new Map<number, InFlight>();
  #receiveNext = 0;
  readonly #ahead = new Map<number, Uint8Array>();
  readonly #reader = new FrameReader(MAX_FRAME);
  #ackOwed = false;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #srtt: number | undefined;
  #rttvar = 0;
  #ended = false;
  #finishing: ReturnType<typeof setTimeout> | undefined;
  #lastAck = -1;
  #dupAcks = 0;

  constructor(
    private readonly hooks: CoreHooks,
    private readonly timing: StreamTiming,
  ) {}

  get ended(): boolean {
    return this.#ended;
  }

  /** Segments held past one that has not arrived. */
  get gap(): boolean {
    return this.#ahead.size > 0;
  }

  get unacknowledged(): number {
    return this.#inFlight.size + this.#queued;
  }

  write(frame: Uint8Array): void {
    const bytes = frameOnStream(frame);
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.pump();
  }

  receive(segment: Segment): void {
    if (this.#ended) return;
    this.#fastRetransmit(segment);
    for (const [seq, flight] of this.#inFlight) {
      if (seq >= segment.ack) continue;
      clearTimeout(flight.timer);
      this.#inFlight.delete(seq);
      const rtt = flight.tries === 1 ? Date.now() - flight.sentAt : undefined;
      if (rtt !== undefined) this.#sample(rtt);
      this.hooks.outcome?.(flight.route, true, flight.sentAt, rtt);
    }
    if (segment.data.length > 0) {
      this.#ackOwed = true;
      if (segment.seq >= this.#receiveNext && segment.seq < this.#receiveNext + RECEIVE_WINDOW) this.#ahead.set(segment.seq, segment.data);
      let frames: Uint8Array[] = [];
      try {
        for (let data = this.#ahead.get(this.#receiveNext); data !== undefined; data = this.#ahead.get(this.#receiveNext)) {
          this.#ahead.delete(this.#receiveNext++);
          frames = frames.concat(this.#reader.push(data));
        }
      } catch (error) {
        return this.end(error as SpareCyclesError);
      }
      for (const frame of frames) {
        if (this.#ended) return;
        this.hooks.deliver(frame);
      }
    }
    if (segment.close) return this.end();
    this.pump();
    this.#maybeFinished();
  }

  /** Sends what the window allows, then an acknowledgement if one is owed and nothing carried it. */
  pump(): void {
    if (this.#ended) return;
    // Waiting segments first: they were blocked before any new data was.
    for (const [seq, flight] of this.#inFlight) if (flight.timer === undefined && !this.#send(seq, flight)) return;
    while (this.#queued > 0 && this.#inFlight.size < this.timing.window) {
      const data = this.#take(this.hooks.capacity());
      const flight: InFlight = { data, tries: 0, sentAt: 0, timer: undefined, route: undefined };
      const seq = this.#nextSeq++;
      this.#inFlight.set(seq, flight);
      if (!this.#send(seq, flight)) return;
    }
    if (this.#ackOwed && this.#ackTimer === undefined) {
      this.#ackTimer = setTimeout(() => {
        this.#ackTimer = undefined;
        if (this.#ackOwed && !this.#ended) this.#ack();
      }, this.timing.ackDelayMs);
    }
  }

  /**
   * Ends the stream once everything written has been acknowledged (or after
   * `graceMs`), then tells the other end: the last frames (a result, a
   * receipt) are not cut off by the close that follows them.
   */
  finish(graceMs: number): void {
    if (this.#ended || this.#finishing) return;
    this.#finishing = setTimeout(() => this.#closeNow(), graceMs);
    (this.#finishing as { unref?: () => void }).unref?.();
    this.#maybeFinished();
  }

  #maybeFinished(): void {
    if (this.#finishing && this.#inFlight.size === 0 && this.#queued === 0) this.#closeNow();
  }

  #closeNow(): void {
    if (this.#ended) return;
    this.control(true);
    this.end();
  }

  /** A segment with no data, to acknowledge or to carry what the transport adds (reply blocks), or to close. */
  control(close = false): boolean {
    if (this.#ended) return false;
    const sent = this.hooks.transmit({ seq: this.#nextSeq, ack: this.#receiveNext, data: new Uint8Array(0), ...(close ? { close } : {}) }).sent;
    if (sent) this.#ackOwed = false;
    return sent;
  }

  end(error?: SpareCyclesError): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#ackTimer);
    clearTimeout(this.#finishing);
    for (const flight of this.#inFlight.values()) clearTimeout(flight.timer);
    this.#inFlight.clear();
    this.#queue = [];
    this.#queued = 0;
    this.hooks.ended(error);
  }

  #ack(): void {
    this.control();
  }

  #send(seq: number, flight: InFlight): boolean {
    const { sent, route } = this.hooks.transmit({ seq, ack: this.#receiveNext, data: flight.data });
    if (!sent) return false;
    this.#ackOwed = false;
    flight.tries++;
    flight.sentAt = Date.now();
    flight.route = route;
    const rto = Math.min(this.#rto() * 2 ** (flight.tries - 1), this.timing.maxRtoMs);
    flight.timer = setTimeout(() => this.#expired(seq, flight), rto);
    (flight.timer as { unref?: () => void }).unref?.();
    return true;
  }

  /**
   * Acknowledgements that repeat while segments are in flight say the other
   * end holds later segments and waits for the first: it is sent again at
   * once (TCP's fast retransmit) rather than after its timer, which has
   * doubled with every loss on a route through a relay that died.
   */
  #fastRetransmit(segment: Segment): void {
    const head = this.#inFlight.get(segment.ack);
    if (segment.ack !== this.#lastAck || segment.data.length > 0 || !head) {
      this.#lastAck = segment.ack;
      this.#dupAcks = 0;
      return;
    }
    if (++this.#dupAcks < DUP_ACKS || head.timer === undefined) return;
    this.#dupAcks = 0;
    clearTimeout(head.timer);
    head.timer = undefined;
    this.#send(segment.ack, head);
  }

  #expired(seq: number, flight: InFlight): void {
    flight.timer = undefined;
    if (this.#ended || this.#inFlight.get(seq) !== flight) return;
    this.hooks.outcome?.(flight.route, false, flight.sentAt);
    // Only the segment the other end waits for can show the stream dead: the
    // ack is cumulative, so those behind it go unacknowledged however often they arrive.
    if (flight.tries >= this.timing.maxTries && seq === Math.min(...this.#inFlight.keys())) {
      return this.end(new SpareCyclesError('TIMEOUT', `stealth stream: a segment went unacknowledged ${flight.tries} times`));
    }
    this.#send(seq, flight);
  }

  #rto(): number {
    if (this.#srtt === undefined) return this.timing.initialRtoMs;
    return Math.min(Math.max(this.#srtt + 4 * this.#rttvar, this.timing.minRtoMs), this.timing.maxRtoMs);
  }

  #sample(rtt: number): void {
    if (this.#srtt === undefined) {
      this.#srtt = rtt;
      this.#rttvar = rtt / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - rtt);
      this.#srtt = 0.875 * this.#srtt + 0.125 * rtt;
    }
  }

  #take(max: number): Uint8Array {
    const n = Math.min(max, this.#queued);
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const head = this.#queue[0]!;
      const part = Math.min(head.length, n - at);
      out.set(head.subarray(0, part), at);
      at += part;
      if (part === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(part);
    }
    this.#queued -= n;
    return out;
  }
}

/** Where a tasker's rendezvous is (its offer names it): the relay that keeps its mailbox, and the mailbox's id. */
export type { Rendezvous };

export interface StealthStreamOptions {
  backend: CryptoBackend;
  client: OnionClient;
  timing?: Partial<StreamTiming>;
}

/** Reply blocks the worker aims to keep at the tasker. */
const SURB_TARGET = 8;
/** A count at or below this is topped up in full, blocks on their way or not. */
const SURB_LOW = 2;
/** How often an idle worker tops the tasker's reply blocks up, so what the tasker holds for it can come. */
const KEEPALIVE_MS = 15_000;
/** How long reply blocks sent count as on their way to the tasker. */
const GIVEN_FRESH_MS = 2_000;
/** How often the worker looks at the stream's silence and its blocks at the tasker. */
const TICK_MS = 1_000;
/**
 * Silence from the tasker this long (or segments that only ever arrive past
 * a gap) makes its last count of blocks stale:
 * the blocks it holds may all run through a relay that has died, so that
 * everything it sends is lost, and it says so on those same blocks. The
 * worker then tops it up in full, again after twice the wait each time it
 * stays silent, up to KEEPALIVE_MS.
 */
const SILENCE_MS = 4_000;
/** How long a closing stream waits for what it sent to be acknowledged. */
const CLOSE_GRACE_MS = 10_000;

/**
 * The worker's end: a frame channel to a tasker's rendezvous. Every segment
 * goes on a fresh route chosen by the relay view, and carries reply blocks
 * for the routes back, as many as keep the tasker at SURB_TARGET by its own
 * count.
 */
export class StealthStream implements FrameChannel {
  readonly peer: string;
  readonly route = 'onion' as const;
  readonly #core: StreamCore;
  readonly #id: Uint8Array;
  readonly #o: StealthStreamOptions;
  readonly #listener: FrameListener;
  readonly #rendezvous: Rendezvous;
  /** Reply blocks the tasker last said it holds. */
  #held = 0;
  /** Reply blocks sent lately, by when: those the tasker's last count may not include yet. */
  readonly #given: { at: number; n: number }[] = [];
  #keepalive: ReturnType<typeof setInterval>;
  #sentAt = 0;
  /** When a segment of the tasker's last arrived (or the stream opened). */
  #heardAt = Date.now();
  /** Silence after which the tasker's count is taken as stale next; doubles while the silence lasts. */
  #silenceMs = SILENCE_MS;
  /** When a segment last timed out on a route through each middle relay. */
  readonly #failedAt = new Map<string, number>();
  #open = true;
  /** Sends running (routes being chosen, mailboxes opened): the core's transmit is synchronous, the network is not. */
  #sending = Promise.resolve();

  constructor(options: StealthStreamOptions, rendezvous: Rendezvous, listener: FrameListener) {
    this.#o = options;
    this.#rendezvous = rendezvous;
    this.#listener = listener;
    this.#id = options.backend.randomBytes(ONION_STREAM.idBytes);
    this.peer = `onion:${toHex(rendezvous.mailbox).slice(0, 12)}`;
    this.#core = new StreamCore(
      {
        capacity: () => segmentCapacity(this.#surbsFor(true)),
        transmit: (fields) => this.#transmit(fields),
        outcome: (route, ok, sentAt, rtt) => this.#outcome(route as PathHop[] | undefined, ok, sentAt, rtt),
        deliver: (frame) => this.#listener.frame(this, frame),
        ended: () => this.#ended(),
      },
      { ...DEFAULT_TIMING, ...options.timing },
    );
    // Also keeps the stream from being closed as idle at the rendezvous while a long unit runs.
    this.#keepalive = setInterval(() => this.#tick(), TICK_MS);
    (this.#keepalive as { unref?: () => void }).unref?.();
    queueMicrotask(() => {
      if (!this.#open) return;
      this.#listener.open(this);
      // Reply blocks go first, so the tasker can answer the handshake the moment it arrives.
      if (this.#core.unacknowledged === 0) this.#core.control();
    });
  }

  get open(): boolean {
    return this.#open;
  }

  send(frame: Uint8Array): void {
    if (!this.#open) throw new SpareCyclesError('PROTOCOL', 'stealth stream: closed');
    this.#core.write(frame);
  }

  close(): void {
    if (!this.#open) return;
    this.#core.finish(CLOSE_GRACE_MS);
  }

  #tick(): void {
    const now = Date.now();
    if (now - this.#heardAt >= this.#silenceMs) {
      this.#held = 0;
      this.#heardAt = now;
      this.#silenceMs = Math.min(this.#silenceMs * 2, KEEPALIVE_MS);
      this.#core.control();
      return;
    }
    if (now - this.#sentAt < KEEPALIVE_MS) return;
    this.#core.control();
  }

  /** A segment the worker's mailboxes received on a reply block of this stream. */
  #received(message: Uint8Array): void {
    let segment: Segment;
    try {
      segment = decodeSegment(message);
    } catch {
      return;
    }
    if (toHex(segment.stream) !== toHex(this.#id)) return;
    if (segment.held !== undefined) this.#held = segment.held;
    this.#core.receive(segment);
    // Segments that arrive past a gap say the tasker's earlier ones were lost, perhaps on blocks through a
    // relay that died: they are no sign that its blocks are good, and the wait for a full top-up goes on.
    if (this.#core.gap) return;
    this.#heardAt = Date.now();
    this.#silenceMs = SILENCE_MS;
  }

  /** Reply blocks sent within a round trip or two: still on their way, or counted in a report still on its way back. */
  #inFlight(): number {
    const since = Date.now() - GIVEN_FRESH_MS;
    while (this.#given.length > 0 && this.#given[0]!.at < since) this.#given.shift();
    return this.#given.reduce((sum, g) => sum + g.n, 0);
  }

  #surbsFor(data: boolean): number {
    // A tasker that says it is (nearly) out waits for what we send next: top it up whatever may be on its way.
    const wanted = this.#held <= SURB_LOW ? SURB_TARGET - this.#held : SURB_TARGET - this.#held - this.#inFlight();
    return Math.max(data ? 1 : 0, Math.min(ONION_STREAM.maxSurbs, wanted));
  }

  #transmit(fields: Fields): { sent: boolean; route?: unknown } {
    // A closing stream wants no answers.
    const surbs = fields.close ? 0 : fields.data.length > 0 ? fitting(this.#surbsFor(true), fields.data.length) : this.#surbsFor(false);
    if (surbs > 0) this.#given.push({ at: Date.now(), n: surbs });
    this.#sentAt = Date.now();
    const route: PathHop[] = [];
    this.#sending = this.#sending.then(() => this.#build(fields, surbs, route)).catch(() => {
      // Lost like a packet a relay dropped: the segment's timer sends it again.
    });
    return { sent: true, route };
  }

  async #build(fields: Fields, surbs: number, chosen: PathHop[]): Promise<void> {
    if (!this.#open && !fields.close) return;
    const { client } = this.#o;
    const path = await client.view.choosePath({ rendezvous: this.#rendezvous.relay });
    chosen.push(...path);
    const home = path[0]!;
    const mailbox = await client.replyMailbox(home.id);
    const blocks: Surb[] = [];
    // Back from the rendezvous relay through the same middle: a segment that goes unanswered then
    // blames the one middle its round trip took. Blocks through another middle would let a relay that
    // died on the way back have the live middle of the way out put aside, and every route drawn
    // through the dead one.
    const route = [path[2]!, path[1]!, home];
    for (let i = 0; i < surbs; i++) blocks.push(client.makeSurb(route, home.epoch, mailbox, (message) => this.#received(message)));
    const segment = encodeSegment({ stream: this.#id, ...fields, surbs: blocks });
    await client.send(path, this.#rendezvous.mailbox, segment, home.epoch);
  }

  #outcome(route: PathHop[] | undefined, ok: boolean, sentAt: number, rttMs?: number): void {
    if (!route || route.length === 0) return;
    const view = this.#o.client.view;
    // The middle is the hop a lost packet most likely died at: the guard answered (the socket is up) and the rendezvous is fixed.
    const middle = route[1];
    if (!middle) return;
    const key = toHex(middle.id);
    if (!ok) {
      this.#failedAt.set(key, Date.now());
      return view.reportFailure(middle.id);
    }
    // An answer to what went through a relay before it failed says nothing of it now.
    if (sentAt > (this.#failedAt.get(key) ?? 0)) view.reportSuccess(middle.id, rttMs);
  }

  #ended(): void {
    if (!this.#open) return;
    this.#open = false;
    clearInterval(this.#keepalive);
    this.#listener.closed(this);
  }
}

/** The most reply blocks, up to `wanted` (at least one), that fit beside `dataBytes` of data. */
function fitting(wanted: number, dataBytes: number): number {
  let n = Math.max(1, wanted);
  while (n > 0 && segmentCapacity(n) < dataBytes) n--;
  return n;
}

export interface RendezvousOptions {
  backend: CryptoBackend;
  client: OnionClient;
  /** The relay that keeps the rendezvous mailbox (its id). */
  relay: Uint8Array;
  /** Reopens a rendezvous kept before (across restarts); a fresh one otherwise. */
  secret?: Uint8Array;
  /** Streams kept at once; segments opening more are dropped. */
  maxStreams?: number;
  /** A stream nothing arrived on for this long is closed. */
  idleMs?: number;
  timing?: Partial<StreamTiming>;
  /** Segments that did not decode, by error code: for metrics. */
  refused?: (code: string) => void;
}

/** Reply blocks a tasker keeps per stream; the oldest go first. */
const MAX_HELD_SURBS = 64;

/**
 * The tasker's end: a mailbox at a relay that stealth workers' segments are
 * delivered to, each new stream id a new frame channel to `listener`.
 */
export class RendezvousHost {
  readonly #o: RendezvousOptions;
  readonly #listener: FrameListener;
  readonly #streams = new Map<string, HostedStream>();
  /** Ids of streams closed lately, by when. */
  readonly #closed = new Map<string, number>();
  readonly #sweeper: ReturnType<typeof setInterval>;
  #mailbox: Uint8Array | undefined;

  private constructor(options: RendezvousOptions, listener: FrameListener) {
    this.#o = options;
    this.#listener = listener;
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(options.idleMs ?? 10 * 60_000, 30_000));
    (this.#sweeper as { unref?: () => void }).unref?.();
  }

  static async open(options: RendezvousOptions, listener: FrameListener): Promise<RendezvousHost> {
    const host = new RendezvousHost(options, listener);
    try {
      host.#mailbox = await options.client.openMailbox(options.relay, (message) => host.#delivered(message), options.secret);
    } catch (error) {
      host.stop();
      throw error;
    }
    return host;
  }

  /** What the tasker's offer names. */
  get rendezvous(): Rendezvous {
    return { relay: this.#o.relay, mailbox: this.#mailbox! };
  }

  get streams(): number {
    return this.#streams.size;
  }

  stop(): void {
    clearInterval(this.#sweeper);
    for (const stream of [...this.#streams.values()]) stream.close();
    if (this.#mailbox) this.#o.client.closeMailbox(this.#mailbox);
  }

  #delivered(message: Uint8Array): void {
    let segment: Segment;
    try {
      segment = decodeSegment(message);
    } catch (error) {
      this.#o.refused?.(error instanceof SpareCyclesError ? error.code : 'DECODE');
      return;
    }
    const key = toHex(segment.stream);
    let stream = this.#streams.get(key);
    if (!stream) {
      // A stream is opened by its worker's first segments; anything else for an unknown id is late, or a stranger's.
      if (segment.close || segment.seq > RECEIVE_WINDOW || this.#streams.size >= (this.#o.maxStreams ?? 4096)) {
        this.#o.refused?.('BUSY');
        return;
      }
      if (this.#closed.has(key)) return;
      stream = new HostedStream(this.#o, segment.stream, this.#listener, () => {
        this.#streams.delete(key);
        // A late retry of a closed stream's segment must not open it again.
        this.#closed.set(key, Date.now());
      });
      this.#streams.set(key, stream);
      this.#listener.open(stream);
    }
    stream.receive(segment);
  }

  #sweep(): void {
    const idle = Date.now() - (this.#o.idleMs ?? 10 * 60_000);
    for (const stream of [...this.#streams.values()]) if (stream.heardAt < idle) stream.close();
    for (const [key, at] of this.#closed) if (at < idle) this.#closed.delete(key);
  }
}

/** One stealth worker's stream as the tasker sees it: segments in from its rendezvous, out on the worker's reply blocks. */
class HostedStream implements FrameChannel {
  readonly peer: string;
  readonly route = 'onion' as const;
  heardAt = Date.now();
  readonly #core: StreamCore;
  readonly #surbs: Surb[] = [];
  #open = true;

  constructor(
    private readonly o: RendezvousOptions,
    private readonly id: Uint8Array,
    private readonly listener: FrameListener,
    private readonly gone: () => void,
  ) {
    // A label for logs: it names the stream, never the worker, whom the tasker does not know.
    this.peer = `onion:${toHex(id).slice(0, 12)}`;
    this.#core = new StreamCore(
      {
        capacity: () => segmentCapacity(0),
        transmit: (fields) => ({ sent: this.#transmit(fields) }),
        deliver: (frame) => this.listener.frame(this, frame),
        ended: () => this.#ended(),
      },
      // The tasker cannot choose the routes its segments take, only the worker can: it keeps trying on
      // whatever reply blocks come, and the stream ends when the worker falls silent (idleMs), not before.
      { ...DEFAULT_TIMING, ...o.timing, maxTries: Number.POSITIVE_INFINITY },
    );
  }

  get open(): boolean {
    return this.#open;
  }

  receive(segment: Segment): void {
    this.heardAt = Date.now();
    if (segment.surbs) {
      this.#surbs.push(...segment.surbs);
      if (this.#surbs.length > MAX_HELD_SURBS) this.#surbs.splice(0, this.#surbs.length - MAX_HELD_SURBS);
    }
    this.#core.receive(segment);
  }

  send(frame: Uint8Array): void {
    if (!this.#open) throw new SpareCyclesError('PROTOCOL', 'stealth stream: closed');
    this.#core.write(frame);
  }

  close(): void {
    if (!this.#open) return;
    this.#core.finish(CLOSE_GRACE_MS);
  }

  #transmit(fields: Fields): boolean {
    const surb = this.#nextSurb();
    if (!surb) return false;
    const message = encodeSegment({ stream: this.id, ...fields, held: this.#usable() });
    const { firstHop, packet } = replyPacket(this.o.backend, surb, message);
    this.o.client.sendPacket(firstHop, packet).catch(() => {
      // Lost like any packet: the segment's timer sends it again on another block.
    });
    return true;
  }

  /** Reply blocks held whose keys are still good; the others are dropped. */
  #usable(): number {
    const oldest = Math.floor(Date.now() / ONION.epochMs) - 1;
    const good = this.#surbs.filter((surb) => readHeader(surb.header).epoch >= oldest);
    this.#surbs.splice(0, this.#surbs.length, ...good);
    return good.length;
  }

  /**
   * The newest reply block whose keys are still good: the worker made it
   * with its latest view, which has put aside the relays that failed since.
   */
  #nextSurb(): Surb | undefined {
    const oldest = Math.floor(Date.now() / ONION.epochMs) - 1;
    for (let surb = this.#surbs.pop(); surb; surb = this.#surbs.pop()) {
      if (readHeader(surb.header).epoch >= oldest) return surb;
    }
    return undefined;
  }

  #ended(): void {
    if (!this.#open) return;
    this.#open = false;
    this.gone();
    this.listener.closed(this);
  }
}

/**
 * A stealth stream that is opened again, after a pause, whenever it ends
 * (a segment unacknowledged too often: the tasker or every route gone for a
 * while). The secure layer greets the tasker afresh on each.
 */
export function keepStream(options: StealthStreamOptions, rendezvous: Rendezvous, listener: FrameListener, pauseMs = 5_000): { stop(): void } {
  let stopped = false;
  let current: StealthStream | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    if (stopped) return;
    current = new StealthStream(options, rendezvous, {
      open: (channel) => listener.open(channel),
      frame: (channel, frame) => listener.frame(channel, frame),
      closed: (channel) => {
        listener.closed(channel);
        if (!stopped) {
          timer = setTimeout(open, pauseMs);
          (timer as { unref?: () => void }).unref?.();
        }
      },
    });
  };
  open();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      current?.close();
    },
  };
}

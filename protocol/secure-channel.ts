// The secure layer of the channel seam (channel.ts): it turns a transport's
// frame channels into message channels bound, by the task-wire handshake
// (handshake.ts), to the ed25519 identity at the other end, and carries every
// sealed message after it encrypted. The upper listener (the worker engine,
// the tasker session) hears `open` only once the handshake is complete, with
// `remote` set to the authenticated key; a peer that cannot complete it (a
// worker greeting another worker, an impostor, a replay, a relay) never opens
// a channel, and its failure reaches the listener as `invalid` with the typed
// error, on a channel that is not open.
//
// The worker initiates (SecureInitiator), once it knows the tasker's keys
// from the manifest; the tasker responds (SecureResponder) and opens the
// channel when the worker's first transport frame proves it holds the keys.
//
// An initiation can go unanswered on a live wire, and the initiator cannot
// tell why: the responder refuses in silence (a timestamp at or below the
// one it remembers, as after the worker's clock stepped back; any failed
// check), a frame is lost on a route that does not promise delivery (an
// onion route), or the peer is simply not the tasker (another worker in the
// swarm, which never answers). So the initiator greets again, with a fresh
// ephemeral key and a later timestamp, after `handshakeTimeoutMs`, up to
// `handshakeAttempts` initiations in all, and then gives that channel's
// handshake up. It gives up the handshake, not the wire: the same wire
// carries the task's torrent between peers, and silence is what every peer
// but the tasker answers. The attempts stay below the responder's
// MAX_FAILED_HANDSHAKES, so a tasker that refused them all still keeps the
// wire.

import type { ChannelListener, FrameChannel, FrameListener, MessageChannel } from './channel.ts';
import { LIMITS } from './constants.ts';
import type { CryptoBackend } from './crypto/backend.ts';
import { HandshakeError, ProtocolError, SpareCyclesError } from './errors.ts';
import {
  HandshakeClock,
  Initiation,
  MAX_TRANSPORT_PLAINTEXT,
  SecureSession,
  TimestampGuard,
  decodeFrame,
  respond,
  vouchFor,
  type Greeting,
  type HandshakeIdentity,
  type InitiatorOptions,
} from './handshake.ts';
import { openMessage, type Sealed } from './messages/index.ts';

export interface SecureChannelOptions {
  backend: CryptoBackend;
  identity: HandshakeIdentity;
  /** The task's info-hash, read when the first handshake starts (a transport may learn it late). */
  infoHash: () => Uint8Array;
  /** What this end says of itself in the handshake. */
  caps: string[];
  agent: string;
  /** Largest message a frame may carry; defaults to LIMITS.messageBytes (and never beyond one frame). */
  maxBytes?: number;
  /** The initiator: how long an initiation waits for its answer before the next one goes. */
  handshakeTimeoutMs?: number;
  /** The initiator: initiations sent on one channel, the first included, before its handshake is given up. */
  handshakeAttempts?: number;
}

/** Failed handshakes a responder hears on one channel before it closes it. */
const MAX_FAILED_HANDSHAKES = 4;

/**
 * Three initiations ten seconds apart: the handshake is given up after
 * about as long as the worker waits for answers to its claims (30 s) before
 * it tries another wire, and three stay below MAX_FAILED_HANDSHAKES.
 */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const HANDSHAKE_ATTEMPTS = 3;

type State = 'waiting' | 'initiated' | 'confirming' | 'open' | 'failed' | 'closed';

/** One frame channel as the layer above sees it. */
class SecureChannel implements MessageChannel {
  state: State = 'waiting';
  session: SecureSession | undefined;
  initiation: Initiation | undefined;
  remote: Uint8Array | undefined;
  greeting: { caps: readonly string[]; agent: string } | undefined;
  failures = 0;
  /** Initiations sent on this channel. */
  attempts = 0;
  /**
   * What each initiation sent before the latest one was made of, ephemeral
   * secret included: its answer may still arrive, and an Initiation reads
   * one response only, so one is made again to read it.
   */
  earlier: InitiatorOptions[] = [];
  /** What the latest initiation was made of. */
  latest: InitiatorOptions | undefined;
  /** Until the next initiation, or the handshake is given up. */
  timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly frames: FrameChannel) {}

  get open(): boolean {
    return this.state === 'open' && this.frames.open;
  }

  get peer(): string {
    return this.frames.peer;
  }

  /** The route is the transport's to know; the handshake on top changes nothing about it. */
  get route(): 'onion' | undefined {
    return this.frames.route;
  }

  send(sealed: Sealed): void {
    if (!this.open) throw new ProtocolError('expected an open task channel, got one that is closed or not yet authenticated');
    this.frames.send(this.session!.seal(sealed.bytes));
  }

  close(): void {
    this.frames.close();
  }

  authenticated(session: SecureSession, remote: Greeting): void {
    this.session = session;
    this.remote = remote.key;
    this.greeting = { caps: remote.caps, agent: remote.agent };
  }
}

/** What both ends share: the channels, transport frames once open, and closing. */
abstract class SecureLayer implements FrameListener {
  protected readonly channels = new Map<FrameChannel, SecureChannel>();
  protected readonly vouch: Uint8Array;
  private readonly maxBytes: number;

  constructor(
    protected readonly options: SecureChannelOptions,
    protected readonly upper: ChannelListener,
  ) {
    this.vouch = vouchFor(options.identity);
    this.maxBytes = Math.min(options.maxBytes ?? LIMITS.messageBytes, MAX_TRANSPORT_PLAINTEXT);
  }

  /** The frame listener a transport hears with. */
  get frames(): FrameListener {
    return this;
  }

  open(frames: FrameChannel): void {
    this.channels.set(frames, new SecureChannel(frames));
    this.opened(this.channels.get(frames)!);
  }

  frame(frames: FrameChannel, frame: Uint8Array): void {
    const channel = this.channels.get(frames);
    if (!channel || channel.state === 'closed' || channel.state === 'failed') return;
    if (channel.state === 'open') this.transport(channel, frame);
    else this.handshake(channel, frame);
  }

  closed(frames: FrameChannel): void {
    const channel = this.channels.get(frames);
    this.channels.delete(frames);
    if (!channel) return;
    const wasOpen = channel.state === 'open';
    channel.state = 'closed';
    this.settle(channel);
    if (wasOpen) this.upper.closed(channel);
  }

  protected abstract opened(channel: SecureChannel): void;
  protected abstract handshake(channel: SecureChannel, frame: Uint8Array): void;

  /** The handshake is done: the layer above hears of the channel from now on. */
  protected authenticate(channel: SecureChannel): void {
    channel.state = 'open';
    this.settle(channel);
    this.upper.open(channel);
  }

  /** The handshake is over, one way or another: nothing of it is waited for any more. */
  protected settle(channel: SecureChannel): void {
    clearTimeout(channel.timer);
    channel.timer = undefined;
    channel.initiation = undefined;
    channel.earlier = [];
    channel.latest = undefined;
  }

  protected fail(channel: SecureChannel, error: unknown): void {
    this.upper.invalid(channel, asTyped(error));
  }

  /** A frame of an open session: decrypted, then decoded as one message; an empty one carries nothing. */
  protected transport(channel: SecureChannel, frame: Uint8Array): void {
    let plaintext: Uint8Array;
    try {
      plaintext = channel.session!.open(frame);
    } catch (error) {
      // The session's nonces no longer agree: nothing more on it can be read.
      this.fail(channel, error);
      channel.close();
      return;
    }
    this.deliver(channel, plaintext);
  }

  protected deliver(channel: SecureChannel, plaintext: Uint8Array): void {
    if (plaintext.length === 0) return;
    let sealed: Sealed;
    try {
      sealed = openMessage(plaintext, { maxBytes: this.maxBytes });
    } catch (error) {
      this.upper.invalid(channel, error as SpareCyclesError);
      return;
    }
    this.upper.message(channel, sealed);
  }
}

/**
 * The worker's end. Channels that open before it knows whom to greet wait;
 * start() gives it the tasker's keys from the manifest and greets every
 * channel. Only the tasker can answer, so every channel that opens upward
 * is a channel to the tasker; the others stay silent.
 */
export class SecureInitiator extends SecureLayer {
  private responder: { key: Uint8Array; noise: Uint8Array } | undefined;
  private readonly clock = new HandshakeClock();
  private stopped = false;

  /** The tasker to greet: the manifest's `tasker` and `noise` keys. */
  start(responder: { key: Uint8Array; noise: Uint8Array }): void {
    this.responder = responder;
    for (const channel of this.channels.values()) if (channel.state === 'waiting') this.initiate(channel);
  }

  /** Greets no more and waits for no answer: handshakes not done by now never will be. Open channels stay open. */
  stop(): void {
    this.stopped = true;
    for (const channel of this.channels.values()) {
      if (channel.state === 'open') continue;
      if (channel.state === 'waiting' || channel.state === 'initiated') channel.state = 'failed';
      this.settle(channel);
    }
  }

  protected opened(channel: SecureChannel): void {
    if (this.responder) this.initiate(channel);
  }

  private initiate(channel: SecureChannel): void {
    clearTimeout(channel.timer);
    channel.timer = undefined;
    if (this.stopped || !channel.frames.open) return;
    if (channel.latest) channel.earlier.push(channel.latest);
    try {
      channel.latest = {
        backend: this.options.backend,
        identity: this.options.identity,
        infoHash: this.options.infoHash(),
        responder: this.responder!,
        ts: this.clock.next(),
        caps: this.options.caps,
        agent: this.options.agent,
        vouch: this.vouch,
        // Kept, so that this initiation can be made again if a late answer to an earlier one uses it up.
        ephemeral: this.options.backend.randomBytes(32),
      };
      channel.initiation = new Initiation(channel.latest);
      channel.state = 'initiated';
      channel.attempts++;
      channel.frames.send(channel.initiation.frame);
    } catch (error) {
      channel.state = 'failed';
      this.settle(channel);
      this.fail(channel, error);
      return;
    }
    channel.timer = setTimeout(() => this.unanswered(channel), this.options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
  }

  /** No answer in time: greet again, or give the handshake up (see the top of this file). */
  private unanswered(channel: SecureChannel): void {
    channel.timer = undefined;
    if (channel.state !== 'initiated') return;
    if (channel.attempts < (this.options.handshakeAttempts ?? HANDSHAKE_ATTEMPTS)) {
      this.initiate(channel);
      return;
    }
    // Most often a peer that is not the tasker: nothing to tell the layer above, which never heard of this channel.
    channel.state = 'failed';
    this.settle(channel);
  }

  /**
   * A response the latest initiation cannot read may answer an earlier one
   * on this channel, sent before the timeout and answered late. That one is
   * of no use: the responder, having read the later initiation too, keeps
   * only its session, and its answer follows. True if `frame` is such a late
   * answer; the latest initiation, used up by trying it, is then made again.
   */
  private lateAnswer(channel: SecureChannel, frame: Uint8Array): boolean {
    for (const [i, earlier] of channel.earlier.entries()) {
      try {
        new Initiation(earlier).finish(frame);
      } catch {
        continue;
      }
      channel.earlier.splice(0, i + 1);
      channel.initiation = new Initiation(channel.latest!);
      return true;
    }
    return false;
  }

  protected handshake(channel: SecureChannel, frame: Uint8Array): void {
    try {
      const { kind } = decodeFrame(frame);
      // Another worker greeting us as it greets every peer: not ours to answer, and no fault.
      if (kind === 'initiation') return;
      if (channel.state !== 'initiated') {
        throw new HandshakeError(`expected nothing before our initiation, got a ${kind} frame`, { field: 'kind' });
      }
      let answer: ReturnType<Initiation['finish']>;
      try {
        answer = channel.initiation!.finish(frame);
      } catch (error) {
        if (this.lateAnswer(channel, frame)) return;
        throw error;
      }
      channel.authenticated(answer.session, answer.remote);
    } catch (error) {
      // A response is read once: a wrong one ends this channel's handshake.
      if (channel.state === 'initiated') {
        channel.state = 'failed';
        this.settle(channel);
      }
      this.fail(channel, error);
      return;
    }
    // The layer above hears of the channel before anything is sent on it, so
    // whatever the tasker sends the moment its end opens finds it there.
    this.authenticate(channel);
    // The confirmation: the tasker opens its end when the first frame from us
    // decrypts. Whatever the layer above just sent did that already; this one then carries nothing.
    if (channel.frames.open) channel.frames.send(channel.session!.seal(new Uint8Array(0)));
  }
}

/**
 * The tasker's end: answers initiations, remembering initiators' timestamps
 * so a replayed one fails, and opens a channel when the initiator's first
 * transport frame decrypts.
 */
export class SecureResponder extends SecureLayer {
  constructor(
    options: SecureChannelOptions,
    upper: ChannelListener,
    private readonly timestamps: TimestampGuard = new TimestampGuard(),
  ) {
    super(options, upper);
  }

  protected opened(): void {}

  protected handshake(channel: SecureChannel, frame: Uint8Array): void {
    let kind: string;
    try {
      kind = decodeFrame(frame).kind;
      if (kind === 'initiation') {
        // A new initiation replaces one not yet confirmed: the worker may have started again.
        const answer = respond(
          {
            backend: this.options.backend,
            identity: this.options.identity,
            infoHash: this.options.infoHash(),
            timestamps: this.timestamps,
            caps: this.options.caps,
            agent: this.options.agent,
            vouch: this.vouch,
          },
          frame,
        );
        channel.authenticated(answer.session, answer.remote);
        channel.state = 'confirming';
        channel.frames.send(answer.frame);
        return;
      }
      if (kind !== 'transport' || channel.state !== 'confirming') {
        throw new HandshakeError(`expected an initiation${channel.state === 'confirming' ? ' or its confirmation' : ''}, got a ${kind} frame`, { field: 'kind' });
      }
      const plaintext = channel.session!.open(frame);
      this.authenticate(channel);
      this.deliver(channel, plaintext);
    } catch (error) {
      this.fail(channel, error);
      if (++channel.failures >= MAX_FAILED_HANDSHAKES) {
        channel.state = 'failed';
        channel.close();
      }
    }
  }
}

function asTyped(error: unknown): SpareCyclesError {
  if (error instanceof SpareCyclesError) return error;
  return new HandshakeError((error as Error).message, { cause: error });
}

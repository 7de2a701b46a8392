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
}

/** Failed handshakes a responder hears on one channel before it closes it. */
const MAX_FAILED_HANDSHAKES = 4;

type State = 'waiting' | 'initiated' | 'confirming' | 'open' | 'failed' | 'closed';

/** One frame channel as the layer above sees it. */
class SecureChannel implements MessageChannel {
  state: State = 'waiting';
  session: SecureSession | undefined;
  initiation: Initiation | undefined;
  remote: Uint8Array | undefined;
  greeting: { caps: readonly string[]; agent: string } | undefined;
  failures = 0;

  constructor(readonly frames: FrameChannel) {}

  get open(): boolean {
    return this.state === 'open' && this.frames.open;
  }

  get peer(): string {
    return this.frames.peer;
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
    if (wasOpen) this.upper.closed(channel);
  }

  protected abstract opened(channel: SecureChannel): void;
  protected abstract handshake(channel: SecureChannel, frame: Uint8Array): void;

  /** The handshake is done: the layer above hears of the channel from now on. */
  protected authenticate(channel: SecureChannel): void {
    channel.state = 'open';
    channel.initiation = undefined;
    this.upper.open(channel);
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

  /** The tasker to greet: the manifest's `tasker` and `noise` keys. */
  start(responder: { key: Uint8Array; noise: Uint8Array }): void {
    this.responder = responder;
    for (const channel of this.channels.values()) if (channel.state === 'waiting') this.initiate(channel);
  }

  protected opened(channel: SecureChannel): void {
    if (this.responder) this.initiate(channel);
  }

  private initiate(channel: SecureChannel): void {
    if (!channel.frames.open) return;
    try {
      channel.initiation = new Initiation({
        backend: this.options.backend,
        identity: this.options.identity,
        infoHash: this.options.infoHash(),
        responder: this.responder!,
        ts: this.clock.next(),
        caps: this.options.caps,
        agent: this.options.agent,
        vouch: this.vouch,
      });
      channel.state = 'initiated';
      channel.frames.send(channel.initiation.frame);
    } catch (error) {
      channel.state = 'failed';
      this.fail(channel, error);
    }
  }

  protected handshake(channel: SecureChannel, frame: Uint8Array): void {
    try {
      const { kind } = decodeFrame(frame);
      // Another worker greeting us as it greets every peer: not ours to answer, and no fault.
      if (kind === 'initiation') return;
      if (channel.state !== 'initiated') {
        throw new HandshakeError(`expected nothing before our initiation, got a ${kind} frame`, { field: 'kind' });
      }
      const { session, remote } = channel.initiation!.finish(frame);
      channel.authenticated(session, remote);
    } catch (error) {
      // A response is read once: a wrong one ends this channel's handshake.
      if (channel.state === 'initiated') channel.state = 'failed';
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

// In-memory task wires for tests that play one end of a conversation: two
// frame channels joined back to back (what one sends, the other's listener
// hears at once, in order), and the tasker's end of such a wire, answering
// the engine's handshake with a real SecureResponder. Nothing here touches a
// network, so a test can hold exactly what crosses.

import type { ChannelListener, FrameChannel, FrameListener, MessageChannel } from '../../protocol/channel.ts';
import { fromHex } from '../../protocol/bytes.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import type { Identity } from '../../protocol/crypto/identity.ts';
import { ProtocolError, type SpareCyclesError } from '../../protocol/errors.ts';
import type { TimestampGuard } from '../../protocol/handshake.ts';
import { sealMessage, type Sealed, type UnsignedMessage } from '../../protocol/messages/index.ts';
import { SecureResponder } from '../../protocol/secure-channel.ts';

/** One end of a pipe. `sent` keeps every frame it sent, as sent. */
export class PipeEnd implements FrameChannel {
  open = false;
  other!: PipeEnd;
  readonly sent: Uint8Array[] = [];
  /** While set, frames sent from this end are passed to it instead of to the other end: a tap that may drop or hold them. */
  intercept: ((frame: Uint8Array) => void) | undefined;

  constructor(
    readonly peer: string,
    readonly listener: FrameListener,
  ) {}

  send(frame: Uint8Array): void {
    if (!this.open) throw new ProtocolError(`expected an open pipe, got a closed one (${this.peer})`);
    this.sent.push(frame);
    if (this.intercept) this.intercept(frame);
    else this.hear(frame);
  }

  /** Hands the other end's listener a frame as if it came from this end. */
  hear(frame: Uint8Array): void {
    if (this.other.open) this.other.listener.frame(this.other, frame);
  }

  close(): void {
    for (const end of [this, this.other]) {
      if (!end.open) continue;
      end.open = false;
      end.listener.closed(end);
    }
  }
}

/** Two frame channels back to back, both open: `a` is heard by `left`, `b` by `right`. */
export function framePipe(left: FrameListener, right: FrameListener, names: [string, string] = ['left', 'right']): [PipeEnd, PipeEnd] {
  const a = new PipeEnd(names[1], left);
  const b = new PipeEnd(names[0], right);
  a.other = b;
  b.other = a;
  a.open = b.open = true;
  right.open(b);
  left.open(a);
  return [a, b];
}

/** What a recording listener heard, in order. */
export function recording(): ChannelListener & { events: string[]; received: Sealed[]; channels: MessageChannel[]; errors: SpareCyclesError[] } {
  const events: string[] = [];
  const received: Sealed[] = [];
  const channels: MessageChannel[] = [];
  const errors: SpareCyclesError[] = [];
  return {
    events,
    received,
    channels,
    errors,
    open: (c) => (events.push('open'), channels.push(c)),
    message: (_c, sealed) => (events.push(`message:${sealed.message.t}`), received.push(sealed)),
    invalid: (_c, error) => (events.push(`invalid:${error.code}`), errors.push(error)),
    closed: () => events.push('closed'),
  };
}

/**
 * The tasker's end of one wire to an engine (whose frame listener is
 * `engine`): a real SecureResponder, so the engine's handshake completes
 * once its manifest is known. `channel` is the tasker's side once open.
 */
export class TaskerEnd {
  readonly heard = recording();
  readonly pipe: [PipeEnd, PipeEnd];
  /** Messages delivered before the handshake was done: sent the moment it is, as a tasker's outbox would. */
  private readonly pending: Sealed[] = [];
  readonly responder: SecureResponder;

  constructor(
    readonly tasker: Identity,
    engine: FrameListener,
    infoHash: string,
    timestamps?: TimestampGuard,
  ) {
    const heard = this.heard;
    const upper: ChannelListener = {
      ...heard,
      open: (channel) => {
        heard.open(channel);
        for (const sealed of this.pending.splice(0)) channel.send(sealed);
      },
    };
    this.responder = new SecureResponder(
      { backend: nodeCrypto, identity: tasker, infoHash: () => fromHex(infoHash), caps: ['wasm'], agent: 'test-tasker' },
      upper,
      timestamps,
    );
    this.pipe = framePipe(engine, this.responder.frames, ['engine', 'tasker']);
  }

  /** The tasker's side of the channel: there once the handshake is done. */
  get channel(): MessageChannel | undefined {
    return this.heard.channels[0];
  }

  /** Messages the engine sent the tasker. */
  get received(): Sealed[] {
    return this.heard.received;
  }

  /** Signs `message` with the tasker's seed and sends it down the channel. */
  deliver(message: UnsignedMessage): void {
    this.send(sealMessage(nodeCrypto, this.tasker.exportSeed(), message));
  }

  send(sealed: Sealed): void {
    if (this.channel) this.channel.send(sealed);
    else this.pending.push(sealed);
  }

  close(): void {
    this.pipe[0].close();
  }
}

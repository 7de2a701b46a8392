// The first transport under the channel seam (channel.ts): frames on a
// BitTorrent wire, as a BEP 10 extension. Works with any wire that has
// bittorrent-protocol's `use`/`extended` shape, so the same code runs on
// Node's WebTorrent and on webtorrent.min.js in the extension. Every
// extension payload is one frame: on a task wire the secure layer
// (secure-channel.ts) reads it; on the offer endpoint, which has no
// handshake, each frame is one encoded message (messageExtension).

import type { ChannelListener, FrameChannel, FrameListener, MessageChannel } from './channel.ts';
import { ProtocolError, type SpareCyclesError } from './errors.ts';
import { openMessage, type Sealed } from './messages/index.ts';

/** What this module needs of a bittorrent-protocol Wire. */
export interface ExtensibleWire {
  extended(ext: string, payload: Uint8Array): void;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
}

/** A wire that takes BEP 10 extensions. */
export interface TaskWire extends ExtensibleWire {
  use(extension: unknown): void;
}

class Bep10Channel implements FrameChannel {
  open = false;
  readonly peer: string;
  private ended = false;

  constructor(
    readonly wire: ExtensibleWire,
    readonly name: string,
    private readonly listener: FrameListener,
  ) {
    this.peer = wire.remoteAddress === undefined ? 'unknown' : `${wire.remoteAddress}:${wire.remotePort ?? 0}`;
    wire.once('close', () => this.end());
  }

  /** The peer's extended handshake named this channel. */
  start(): void {
    if (this.open || this.ended) return;
    this.open = true;
    this.listener.open(this);
  }

  send(frame: Uint8Array): void {
    if (!this.open) throw new ProtocolError(`expected an open ${this.name} channel, got a closed one`);
    this.wire.extended(this.name, frame);
  }

  close(): void {
    this.wire.destroy();
    this.end();
  }

  /** Whichever end closed it, the listener hears of it once, and only if it had opened. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    const wasOpen = this.open;
    this.open = false;
    if (wasOpen) this.listener.closed(this);
  }
}

type ExtensionConstructor<W> = { new (wire: W): object; prototype: { name: string } };

/**
 * A BEP 10 extension class for `wire.use(...)`. bittorrent-protocol wants a
 * constructor whose prototype carries the name, built once per wire; each
 * wire gets one frame channel, opened when the peer's extended handshake
 * lists the name, and closed with the wire.
 */
export function frameExtension<W extends ExtensibleWire>(name: string, listener: FrameListener): ExtensionConstructor<W> {
  class Extension {
    readonly channel: Bep10Channel;
    constructor(wire: W) {
      this.channel = new Bep10Channel(wire, name, listener);
    }
    onExtendedHandshake(): void {
      this.channel.start();
    }
    onMessage(payload: Uint8Array): void {
      listener.frame(this.channel, payload);
    }
  }
  (Extension.prototype as unknown as { name: string }).name = name;
  return Extension as unknown as ExtensionConstructor<W>;
}

/** A message channel over a frame channel with no handshake: each frame is one encoded message. */
class PlainChannel implements MessageChannel {
  constructor(readonly frames: FrameChannel) {}
  get open(): boolean {
    return this.frames.open;
  }
  get peer(): string {
    return this.frames.peer;
  }
  send(sealed: Sealed): void {
    this.frames.send(sealed.bytes);
  }
  close(): void {
    this.frames.close();
  }
}

/**
 * A BEP 10 extension whose every payload is one encoded message, in the
 * clear: the offer endpoint's, where what moves is already signed and public.
 */
export function messageExtension<W extends ExtensibleWire>(
  name: string,
  listener: ChannelListener,
  maxBytes?: number,
): ExtensionConstructor<W> {
  const options = maxBytes === undefined ? {} : { maxBytes };
  const channels = new WeakMap<FrameChannel, PlainChannel>();
  const plain = (frames: FrameChannel): PlainChannel => {
    let channel = channels.get(frames);
    if (!channel) channels.set(frames, (channel = new PlainChannel(frames)));
    return channel;
  };
  return frameExtension<W>(name, {
    open: (frames) => listener.open(plain(frames)),
    frame(frames, payload) {
      let sealed: Sealed;
      try {
        sealed = openMessage(payload, options);
      } catch (error) {
        listener.invalid(plain(frames), error as SpareCyclesError);
        return;
      }
      listener.message(plain(frames), sealed);
    },
    closed: (frames) => listener.closed(plain(frames)),
  });
}

/** Puts the frame channel `name` on a wire, before its handshake: the listener hears of it from then on. */
export function attachChannel(wire: TaskWire, name: string, listener: FrameListener): void {
  wire.use(frameExtension(name, listener));
}

// The one seam between a role's conversation and whatever carries it. The
// worker engine and the tasker session speak to peers only through
// MessageChannel, and hear from them only through a ChannelListener. A
// transport turns its own connections into FrameChannels that move opaque
// frames in order (the BEP 10 extension on a task swarm's wires, wire.ts, is
// the first; onion routes are to be another), and the secure layer
// (secure-channel.ts) turns each frame channel into a MessageChannel once a
// Noise handshake has bound it to the identity at its other end. A channel
// moves sealed messages: encoded once by the sender, decoded once on
// arrival, and verified against the bytes that arrived.

import type { SpareCyclesError } from './errors.ts';
import type { Sealed } from './messages/index.ts';

export interface MessageChannel {
  /** True from the listener's `open` until either end closes. */
  readonly open: boolean;
  /** Who is at the other end as the transport sees it, for logs only: never an identity. */
  readonly peer: string;
  /**
   * The ed25519 identity at the other end, as the channel's handshake
   * authenticated it: the one key this channel speaks for. Undefined on a
   * channel without a handshake (the offer endpoint's).
   */
  readonly remote?: Uint8Array;
  /**
   * `onion` when the channel comes over an onion route (stealth mode): the
   * transport hides the other end's address, so `peer` says nothing of where
   * it is. A tasker counts every such worker in one address class, so that
   * stealth workers never verify a unit only among themselves. Absent for a
   * direct connection.
   */
  readonly route?: 'onion';
  /** What the other end said of itself in the handshake: its capabilities and software. */
  readonly greeting?: { readonly caps: readonly string[]; readonly agent: string };
  /** Sends the sealed bytes as they are. Throws a ProtocolError if the channel is not open. */
  send(sealed: Sealed): void;
  /** Closes this channel and drops whatever carries it. */
  close(): void;
}

export interface ChannelListener {
  /** The other end speaks the protocol: the channel can carry messages from now on. */
  open(channel: MessageChannel): void;
  /** A message that decoded; its signature is the listener's to check. */
  message(channel: MessageChannel, sealed: Sealed): void;
  /** A payload that did not decode. It is dropped; whether the channel stays is the listener's call. */
  invalid(channel: MessageChannel, error: SpareCyclesError): void;
  /** The channel is gone, from either end. Called once, and only for channels that opened. */
  closed(channel: MessageChannel): void;
}

/** A transport's own seam: opaque frames, delivered whole and in the order they were sent. */
export interface FrameChannel {
  /** True from the listener's `open` until either end closes. */
  readonly open: boolean;
  /** Who is at the other end as the transport sees it, for logs only. */
  readonly peer: string;
  /** `onion` when the frames come over an onion route; the message channel made of it says the same (MessageChannel.route). */
  readonly route?: 'onion';
  /** Sends one frame. Throws a ProtocolError if the channel is not open. */
  send(frame: Uint8Array): void;
  /** Closes this channel and drops whatever carries it. */
  close(): void;
}

export interface FrameListener {
  /** The other end takes frames on this channel from now on. */
  open(channel: FrameChannel): void;
  frame(channel: FrameChannel, frame: Uint8Array): void;
  /** The channel is gone, from either end. Called once, and only for channels that opened. */
  closed(channel: FrameChannel): void;
}

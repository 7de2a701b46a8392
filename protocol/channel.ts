// The one seam between a role's conversation and whatever carries it. The
// worker engine and the tasker session speak to peers only through
// MessageChannel, and hear from them only through a ChannelListener; a
// transport turns its own connections into channels. The BEP 10 extension on
// a task swarm's wires (wire.ts) is the first transport; onion routes are to
// be another. A channel moves sealed messages: encoded once by the sender,
// decoded once by the transport on arrival, and verified against the bytes
// that arrived.

import type { SpareCyclesError } from './errors.ts';
import type { Sealed } from './messages/index.ts';

export interface MessageChannel {
  /** True from the listener's `open` until either end closes. */
  readonly open: boolean;
  /** Who is at the other end as the transport sees it, for logs only: never an identity. */
  readonly peer: string;
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

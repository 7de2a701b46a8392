// SpareCycles messages on a BitTorrent wire, as a BEP 10 extension. Works with
// any wire that has bittorrent-protocol's `use`/`extended` shape, so the same
// code runs on Node's WebTorrent and on webtorrent.min.js in the extension.
// Every payload is one encoded message; decoding errors are reported to the
// owner, who decides whether the peer is worth keeping.

import type { SpareCyclesError } from './errors.ts';
import { decodeMessage, encodeMessage } from './messages/index.ts';
import type { Message } from './messages/index.ts';

/** What this module needs of a bittorrent-protocol Wire. */
export interface ExtensibleWire {
  extended(ext: string, payload: Uint8Array): void;
  destroy(): void;
}

export interface ChannelHandlers<W extends ExtensibleWire> {
  /** The peer speaks the extension too: the channel can carry messages from now on. */
  open(channel: WireChannel<W>): void;
  message(channel: WireChannel<W>, message: Message): void;
  /** A payload that did not decode; the message is dropped, the wire kept unless the owner says otherwise. */
  invalid(channel: WireChannel<W>, error: SpareCyclesError): void;
}

export class WireChannel<W extends ExtensibleWire> {
  open = false;
  /** Bad payloads received so far: owners drop peers that keep sending them. */
  invalidCount = 0;

  constructor(
    readonly wire: W,
    readonly name: string,
  ) {}

  send(message: Message): void {
    if (!this.open) throw new Error(`the ${this.name} channel is not open`);
    this.wire.extended(this.name, encodeMessage(message));
  }

  close(): void {
    this.open = false;
    this.wire.destroy();
  }
}

type ExtensionConstructor<W> = { new (wire: W): object; prototype: { name: string } };

/**
 * A BEP 10 extension class for `wire.use(...)`. bittorrent-protocol wants a
 * constructor whose prototype carries the name, built once per wire.
 */
export function messageExtension<W extends ExtensibleWire>(
  name: string,
  handlers: ChannelHandlers<W>,
  maxBytes?: number,
): ExtensionConstructor<W> {
  class Extension {
    readonly channel: WireChannel<W>;
    constructor(wire: W) {
      this.channel = new WireChannel(wire, name);
    }
    onExtendedHandshake(): void {
      if (this.channel.open) return;
      this.channel.open = true;
      handlers.open(this.channel);
    }
    onMessage(payload: Uint8Array): void {
      let message: Message;
      try {
        message = decodeMessage(payload, maxBytes === undefined ? {} : { maxBytes });
      } catch (error) {
        this.channel.invalidCount++;
        handlers.invalid(this.channel, error as SpareCyclesError);
        return;
      }
      handlers.message(this.channel, message);
    }
  }
  (Extension.prototype as unknown as { name: string }).name = name;
  return Extension as unknown as ExtensionConstructor<W>;
}

// The parts of bittorrent-protocol 4 this repository uses (the package ships no types).
declare module 'bittorrent-protocol' {
  // At run time a Wire is a streamx Duplex; Node's Duplex type is close enough
  // for `socket.pipe(wire).pipe(socket)`, which is all we do with it as a stream.
  import { Duplex } from 'node:stream';

  export interface WireExtensions {
    extended: boolean;
    dht: boolean;
    fast: boolean;
  }

  export interface WireEvents {
    /** The peer's handshake: info-hash and peer id as lowercase hex. */
    handshake: [infoHash: string, peerId: string, extensions: WireExtensions];
    /** 'handshake' for the peer's BEP 10 handshake, else the extension's name. */
    extended: [ext: string | number, payload: unknown];
  }

  export default class Wire extends Duplex {
    constructor(type?: string | null, retries?: number, peEnabled?: boolean);
    peerId: string | null;
    peerExtensions: Partial<WireExtensions>;
    /** Extension name → the id the peer wants it sent under; only what the peer listed. */
    peerExtendedMapping: Record<string, number>;
    peerExtendedHandshake: Record<string, unknown>;
    /** Extra fields for our BEP 10 handshake (`m` is filled in from `use`). */
    extendedHandshake: Record<string, unknown>;
    use(extension: { new (wire: Wire): object; prototype: { name: string } }): void;
    handshake(infoHash: string | Uint8Array, peerId: string | Uint8Array, extensions?: { dht?: boolean; fast?: boolean }): void;
    extended(ext: string | number, payload: Uint8Array): void;
    destroy(): this;
    on<E extends keyof WireEvents>(event: E, listener: (...args: WireEvents[E]) => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
  }
}

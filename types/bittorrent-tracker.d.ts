// bittorrent-tracker 11 ships no types. This declares only what SpareCycles
// uses; see node_modules/bittorrent-tracker/server.js and client.js.

declare module 'bittorrent-tracker' {
  import type { Socket as UdpSocket } from 'node:dgram';
  import type { EventEmitter } from 'node:events';
  import type { Server as HttpServer } from 'node:http';

  export type PeerType = 'http' | 'udp' | 'ws';

  /** One swarm member; keyed by `ip:port` for HTTP/UDP peers and by peer id for WebSocket peers. */
  export interface SwarmPeer {
    type: PeerType;
    complete: boolean;
    peerId: string;
    ip: string;
    port: number;
  }

  export interface Swarm {
    complete: number;
    incomplete: number;
    peers: { readonly keys: string[]; peek(key: string): SwarmPeer | undefined };
  }

  /** What the parsers hand the filter: the parsed request, untrusted beyond the checks in lib/server/parse-*.js. */
  export interface AnnounceParams {
    type: PeerType;
    info_hash: string;
    peer_id: string;
    ip?: string;
    offers?: unknown;
    [key: string]: unknown;
  }

  export interface ServerOptions {
    interval?: number;
    trustProxy?: boolean;
    http?: boolean | Record<string, unknown>;
    udp?: boolean | Record<string, unknown>;
    ws?: boolean | Record<string, unknown>;
    stats?: boolean;
    filter?: (infoHash: string, params: AnnounceParams, cb: (err?: Error | null) => void) => void;
  }

  /** The `ws` package's WebSocketServer, as far as we touch it. */
  export interface WebSocketServerLike extends EventEmitter {
    clients?: Set<{ terminate(): void }>;
    /** With `ws: { noServer: true }`: the caller hands upgrades over. */
    handleUpgrade(request: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer, done: (ws: unknown) => void): void;
  }

  export class Server extends EventEmitter {
    constructor(opts?: ServerOptions);
    http: HttpServer | null;
    udp4: UdpSocket | null;
    udp6: UdpSocket | null;
    ws: WebSocketServerLike | null;
    torrents: Record<string, Swarm>;
    close(cb?: (err?: Error | null) => void): void;
  }

  export interface ClientOptions {
    infoHash: string | Uint8Array;
    peerId: string | Uint8Array;
    announce: string | string[];
    port: number;
    rtcConfig?: Record<string, unknown>;
    getAnnounceOpts?: () => Record<string, unknown>;
  }

  export interface AnnounceOptions {
    numwant?: number;
    left?: number;
    uploaded?: number;
    downloaded?: number;
  }

  /** Emits 'update' ({announce, complete, incomplete}), 'peer', 'warning' and 'error'. */
  class Client extends EventEmitter {
    constructor(opts: ClientOptions);
    start(opts?: AnnounceOptions): void;
    update(opts?: AnnounceOptions): void;
    stop(opts?: AnnounceOptions): void;
    destroy(cb?: (err?: Error | null) => void): void;
  }

  export default Client;
  export { Client };
}

// The WebSocket tracker client, which net/webrtc-offers.ts adjusts.
declare module 'bittorrent-tracker/websocket-tracker' {
  const WebSocketTracker: new (...args: never[]) => object;
  export default WebSocketTracker;
}

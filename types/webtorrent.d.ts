// The parts of WebTorrent 2 this repository uses (the package ships no types).
declare module 'webtorrent' {
  import { EventEmitter } from 'node:events';
  import type DHT from 'bittorrent-dht';

  export interface Wire extends EventEmitter {
    use(extension: unknown): void;
    extended(ext: string | number, payload: Uint8Array): void;
    destroy(): void;
    peerId: string;
    remoteAddress?: string;
    remotePort?: number;
    type: string;
    uploaded: number;
    downloaded: number;
    /** The peer and we both offered BEP 6 (the fast extension). */
    hasFast: boolean;
    /** The pieces the peer has announced. */
    peerPieces: { get(index: number): boolean };
    // Properties rather than methods: the tasker's super-seeding replaces
    // `haveAll` and `bitfield` on one wire (tasker/super-seed.ts).
    have: (index: number) => void;
    haveAll: () => void;
    haveNone: () => void;
    bitfield: (bitfield: Uint8Array | { buffer: Uint8Array }) => void;
  }

  export interface TorrentFile {
    name: string;
    path: string;
    length: number;
    arrayBuffer(): Promise<ArrayBuffer>;
  }

  export interface Torrent extends EventEmitter {
    infoHash: string;
    magnetURI: string;
    /** The .torrent file: its metadata, for adding without a metadata exchange. */
    torrentFile: Uint8Array;
    name: string;
    files: TorrentFile[];
    wires: Wire[];
    length: number;
    pieceLength: number;
    /** One entry per piece; only its length is ours to read. */
    pieces: unknown[];
    done: boolean;
    ready: boolean;
    received: number;
    uploaded: number;
    downloaded: number;
    numPeers: number;
    progress: number;
    addPeer(peer: string): boolean;
    destroy(options?: { destroyStore?: boolean }, callback?: (error?: Error) => void): void;
  }

  export interface TorrentOptions {
    announce?: string[];
    path?: string;
    name?: string;
    private?: boolean;
    createdBy?: string;
    creationDate?: Date;
    comment?: string;
    pieceLength?: number;
    /** Extra announce parameters, asked for at every announce. */
    getAnnounceOpts?: () => object;
    /** Start with no piece selected: the torrent joins the swarm and fetches nothing. */
    deselect?: boolean;
    /** A chunk store constructor, called with `new` once the torrent's length is known. */
    store?: (chunkLength: number, options: { length: number }) => object;
  }

  export interface ClientOptions {
    dht?: false | object;
    tracker?: false | Record<string, unknown>;
    lsd?: boolean;
    utPex?: boolean;
    natUpnp?: boolean;
    natPmp?: boolean;
    utp?: boolean;
    webSeeds?: boolean;
    torrentPort?: number;
    dhtPort?: number;
    maxConns?: number;
    nodeId?: string | Uint8Array;
    peerId?: string | Uint8Array;
  }

  export default class WebTorrent extends EventEmitter {
    constructor(options?: ClientOptions);
    readonly torrents: Torrent[];
    readonly dht: DHT | false | null;
    readonly torrentPort: number;
    readonly ready: boolean;
    address(): { address: string; port: number } | null;
    add(torrentId: string | Uint8Array, options?: TorrentOptions, onTorrent?: (torrent: Torrent) => void): Torrent;
    seed(
      input: Array<Uint8Array & { name?: string }> | Uint8Array,
      options?: TorrentOptions,
      onSeed?: (torrent: Torrent) => void,
    ): Torrent;
    get(torrentId: string): Promise<Torrent | null>;
    remove(torrentId: string | Torrent, options?: { destroyStore?: boolean }, callback?: (error?: Error) => void): Promise<void>;
    destroy(callback?: (error?: Error) => void): void;
  }
}

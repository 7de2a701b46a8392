// The parts of bittorrent-dht this repository uses (the package ships no types).
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';

  export interface DhtPeer {
    host: string;
    port: number;
  }

  export interface MutablePut {
    k: Uint8Array;
    v: unknown;
    seq: number;
    salt?: Uint8Array;
    cas?: number;
    sign: (message: Uint8Array) => Uint8Array;
  }

  export interface DhtItem {
    v: unknown;
    k?: Uint8Array;
    seq?: number;
    sig?: Uint8Array;
    salt?: Uint8Array;
  }

  export interface DhtOptions {
    bootstrap?: false | string[];
    host?: string | false;
    nodeId?: Uint8Array;
    verify?: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;
    concurrency?: number;
  }

  export default class DHT extends EventEmitter {
    constructor(options?: DhtOptions);
    readonly nodeId: Uint8Array;
    readonly listening: boolean;
    readonly destroyed: boolean;
    listen(port: number, host: string, callback?: () => void): void;
    address(): { address: string; port: number; family: string };
    addNode(node: DhtPeer): void;
    announce(infoHash: Uint8Array | string, port: number, callback?: (error: Error | null) => void): void;
    lookup(infoHash: Uint8Array | string, callback?: (error: Error | null, nodes: number) => void): () => void;
    put(item: MutablePut, callback: (error: Error | null, hash: Uint8Array, nodes: number) => void): Uint8Array;
    get(
      hash: Uint8Array,
      options: { verify?: DhtOptions['verify']; cache?: boolean; salt?: Uint8Array },
      callback: (error: Error | null, item: DhtItem | null) => void,
    ): void;
    toJSON(): { nodes: DhtPeer[] };
    destroy(callback?: () => void): void;
  }
}

// The chunk stores WebTorrent uses (the packages ship no types): the
// abstract-chunk-store interface, of which this repository only constructs them.
declare module 'memory-chunk-store' {
  export default class MemoryChunkStore {
    constructor(chunkLength: number, options?: { length?: number });
  }
}

declare module 'fs-chunk-store' {
  export default class FSChunkStore {
    constructor(chunkLength: number, options?: { length?: number; path?: string });
  }
}

// The ESM browser bundle of WebTorrent, which ships no types: typed here as
// far as worker/browser/webtorrent-port.ts and the extension use it.
declare module 'webtorrent/dist/webtorrent.min.js' {
  import type { BrowserTorrentClient } from './webtorrent-port.ts';
  export interface BrowserClientOptions {
    tracker?: false | { rtcConfig?: { iceServers: unknown[] } };
    dht?: false;
    lsd?: false;
    utPex?: boolean;
    webSeeds?: boolean;
    maxConns?: number;
  }
  const WebTorrent: { new (options?: BrowserClientOptions): BrowserTorrentClient; WEBRTC_SUPPORT: boolean };
  export default WebTorrent;
}

// Fixes for WebTorrent 2.8.5 bugs that would otherwise crash a tasker or a
// worker, applied once when the first client is made. Each says what it
// guards against; drop it when WebTorrent fixes the bug.

// @ts-expect-error: an internal module of WebTorrent, untyped.
import Peer from 'webtorrent/lib/peer.js';

interface PeerInternals {
  conn: unknown;
}

type CreateWebRTCPeer = (conn: unknown, ...rest: unknown[]) => PeerInternals;

let applied = false;

export function applyWebTorrentPatches(): void {
  if (applied) return;
  applied = true;
  // A WebRTC peer destroyed while still connecting sets `peer.conn = null`,
  // and then the connection's late 'error' runs a cleanup that reads
  // `peer.conn.removeListener`: an uncaught TypeError that ends the process.
  // Keep answering with the original connection once the field is cleared.
  const original = (Peer as { createWebRTCPeer: CreateWebRTCPeer }).createWebRTCPeer;
  (Peer as { createWebRTCPeer: CreateWebRTCPeer }).createWebRTCPeer = (conn, ...rest) => {
    const peer = original(conn, ...rest);
    let current = peer.conn;
    Object.defineProperty(peer, 'conn', {
      configurable: true,
      get: () => current ?? conn,
      set: (value) => {
        current = value;
      },
    });
    return peer;
  };
}

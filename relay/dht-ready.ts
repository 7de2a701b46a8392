// Work that is pointless before the relay's DHT node has joined the network
// (a put with no nodes to store it, a lookup that meets nobody) waits for
// bittorrent-dht's 'ready', or a while at most, whichever comes first.

import type DHT from 'bittorrent-dht';

/** How long such work waits for the node to join before it tries anyway. */
export const DHT_READY_WAIT_MS = 15_000;

/** Runs `task` once the node has bootstrapped, or after `ms` regardless. Returns a cancel function. */
export function onceReady(dht: DHT, ms: number, task: () => void): () => void {
  if ((dht as DHT & { ready?: boolean }).ready) {
    task();
    return () => {};
  }
  const timer = setTimeout(go, ms);
  timer.unref();
  function cancel(): void {
    clearTimeout(timer);
    dht.off('ready', go);
  }
  function go(): void {
    cancel();
    task();
  }
  dht.once('ready', go);
  return cancel;
}

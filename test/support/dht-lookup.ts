// A plain DHT lookup for tests: the peers a node finds for an info-hash.

import type DHT from 'bittorrent-dht';
import { toHex } from '../../protocol/bytes.ts';

export function lookup(dht: DHT, infoHash: string): Promise<string[]> {
  const found = new Set<string>();
  const onPeer = (peer: { host: string; port: number }, hash: Uint8Array) => {
    if (toHex(hash) === infoHash) found.add(`${peer.host}:${peer.port}`);
  };
  dht.on('peer', onPeer);
  return new Promise((resolve) =>
    dht.lookup(infoHash, () => {
      dht.off('peer', onPeer);
      resolve([...found]);
    }),
  );
}

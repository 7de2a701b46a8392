// relay_packets_per_s: onion packets one core peels and re-encodes for the
// next hop (processPacket: X25519 with the packet's alpha, the header MAC,
// the replay tag, the header and LIONESS payload layers, the blinded alpha),
// on the Node backend, and on the browser's (noble) in the same run.
// onion_overhead: what of a packet is not message, at the longest route.

import { nobleCrypto } from '../protocol/crypto/noble.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { ONION } from '../protocol/constants.ts';
import { createPacket, MemoryReplayStore, OVERHEAD, processPacket } from '../protocol/onion/index.ts';
import type { Figure } from './results-file.ts';

const round = (x: number, places: number): number => Math.round(x * 10 ** places) / 10 ** places;

/** Packets per second one relay of a 3-hop route peels, over `ms` of one core. */
function peelRate(backend: CryptoBackend, ms: number): number {
  const secret = backend.randomBytes(32);
  const hop = { id: new Uint8Array(32).fill(1), onionKey: backend.x25519PublicKey(secret) };
  const rest = [2, 3].map((n) => ({ id: new Uint8Array(32).fill(n), onionKey: backend.x25519PublicKey(backend.randomBytes(32)) }));
  // Every packet is fresh (a relay refuses a replay), built before the clock starts.
  const packets = Array.from({ length: 512 }, () =>
    createPacket(nodeCrypto, { epoch: 1, route: [hop, ...rest], destination: new Uint8Array(32), message: new Uint8Array(200) }).packet,
  );
  const keys = { secretFor: (epoch: number) => (epoch === 1 ? secret : undefined) };
  let count = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const replay = new MemoryReplayStore();
    for (const packet of packets) processPacket(backend, packet, { keys, replay });
    count += packets.length;
  }
  return (count * 1000) / ms;
}

export async function benchOnion(): Promise<Record<string, Figure>> {
  peelRate(nodeCrypto, 300); // warm-up
  const node = peelRate(nodeCrypto, 3000);
  const noble = peelRate(nobleCrypto, 2000);
  return {
    relay_packets_per_s: {
      value: Math.round(node),
      unit: 'packets/s',
      target: '>= 5000',
      pass: node >= 5000,
      browser_backend_per_s: Math.round(noble),
      ratio_node_to_browser: round(node / noble, 1),
      packet_bytes: ONION.packetBytes,
      notes:
        'one core peeling fresh 3-hop packets of a 200-byte message at their first hop (processPacket with an in-memory replay store), in process: the X25519, MAC, replay tag, header and LIONESS work a relay does per packet, without the WebSocket that carries it (test/integration/onion-relays.test.ts runs real relays); browser_backend_per_s is the same on the pure-JS backend a browser would use',
    },
    onion_overhead: {
      value: round(OVERHEAD, 3),
      unit: 'fraction of a packet',
      target: '<= 0.15',
      pass: OVERHEAD <= 0.15,
      max_hops: ONION.maxHops,
      notes: `header, zero tag and length prefix of a ${ONION.packetBytes}-byte packet at ${ONION.maxHops} hops, the longest route allowed (docs/onion.md); the same at every route length, since the header is padded to its full size`,
    },
  };
}

// A private SpareCycles network on loopback, for tests, benchmarks and the
// demo: DHT nodes that bootstrap only from each other and a tracker, all on
// 127.0.0.1 with free ports, torn down by stop(). Nothing here can reach the
// public DHT: every node gets an explicit bootstrap list.

import type DHT from 'bittorrent-dht';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { dhtAddress, startDht, stopDht } from '../net/dht.ts';
import { TrackerServer } from '../tracker/tracker.ts';
import { startTestMint, type TestMint } from './testnet-mint.ts';

export interface TestnetOptions {
  dhtNodes?: number;
  tracker?: boolean;
  /** Also run a mint (with a temporary ledger) that taskers can be funded at. */
  mint?: boolean;
  backend?: CryptoBackend;
}

export interface Testnet {
  dht: DHT[];
  /** host:port of every DHT node: the bootstrap list for anything joining. */
  bootstrap: string[];
  tracker: TrackerServer | undefined;
  /** Tracker announce URLs (HTTP, UDP, WebSocket), empty without a tracker. */
  trackers: string[];
  mint: TestMint | undefined;
  stop(): Promise<void>;
}

export async function startTestnet(options: TestnetOptions = {}): Promise<Testnet> {
  const backend = options.backend ?? nodeCrypto;
  const count = options.dhtNodes ?? 5;
  const dht: DHT[] = [];
  let tracker: TrackerServer | undefined;
  let mint: TestMint | undefined;
  const stop = async () => {
    await Promise.all(dht.map(stopDht));
    await tracker?.stop();
    await mint?.stop();
  };
  try {
    const first = await startDht(backend, { bootstrap: [], host: '127.0.0.1' });
    dht.push(first);
    const seed = [dhtAddress(first)];
    for (let i = 1; i < count; i++) dht.push(await startDht(backend, { bootstrap: seed, host: '127.0.0.1' }));
    // Everyone knows everyone, so lookups converge at once on a small network.
    for (const a of dht) {
      for (const b of dht) {
        if (a !== b) a.addNode({ host: '127.0.0.1', port: b.address().port });
      }
    }
    if (options.tracker !== false) {
      tracker = new TrackerServer({ port: 0, host: '127.0.0.1', log: () => {} });
      await tracker.start();
    }
    if (options.mint) mint = await startTestMint();
  } catch (error) {
    await stop();
    throw error;
  }
  const urls = tracker?.urls;
  return {
    dht,
    bootstrap: dht.map(dhtAddress),
    tracker,
    trackers: urls ? [urls.http, urls.udp, urls.ws] : [],
    mint,
    stop,
  };
}

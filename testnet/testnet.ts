// A private SpareCycles network on loopback, for tests, benchmarks and the
// demo: DHT nodes that bootstrap only from each other, a tracker, edge relays
// and a mint, all on 127.0.0.1 with free ports, torn down by stop(). Nothing
// here can reach the public DHT: every node gets an explicit bootstrap list.
//
// Each relay runs as `cycles relay` does: with a DHT node of its own that
// joins the network through the testnet's bootstrap list. Relays meet each
// other the way relays do, on the DHT: every relay's descriptor is put under
// its key and announced on the relay topic before startTestnet returns.

import type DHT from 'bittorrent-dht';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { SpareCyclesError, TimeoutError } from '../protocol/errors.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { dhtAddress, DhtNode, dhtReady } from '../net/dht.ts';
import { RelayServer, type RelayOptions } from '../relay/relay.ts';
import { silentLogger, type Logger, type LogLine } from '../serve/log.ts';
import { TrackerServer } from '../tracker/tracker.ts';
import { startTestMint, type TestMint, type TestMintOptions } from './testnet-mint.ts';
import { waitFor } from './wait.ts';

/** What a test may set on one relay; the testnet gives it its backend, its DHT node, and 127.0.0.1 on a free port. */
export type TestRelayOptions = Partial<Omit<RelayOptions, 'backend' | 'dht' | 'host' | 'port'>>;

export interface TestnetOptions {
  /** DHT nodes of the network itself (relays' nodes come on top). Default 5. */
  dhtNodes?: number;
  /** A tracker (HTTP, UDP and WebSocket). Default true. */
  tracker?: boolean;
  /** How many relays, or the options of each. Default none. */
  relays?: number | TestRelayOptions[];
  /** A mint (with a ledger of its own) that taskers can be funded at. Default none. */
  mint?: boolean | TestMintOptions;
  /** Where the tracker, the relays and their DHT nodes log; silent by default. The mint logs to its own `lines` (and to its `log`). */
  log?: Logger;
  backend?: CryptoBackend;
}

export interface TestRelay {
  relay: RelayServer;
  /** The relay's own DHT node, a member of the network. */
  dht: DHT;
  identity: Identity;
  /** Stops the relay, then its DHT node. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface Testnet {
  /** The network's own DHT nodes (not the relays'). */
  dht: DHT[];
  /** host:port of every one of them: the bootstrap list for anything joining. */
  bootstrap: string[];
  tracker: TrackerServer | undefined;
  /** Tracker announce URLs (HTTP, UDP, WebSocket), empty without a tracker. */
  trackers: string[];
  /** Every relay running, those added later included. */
  relays: TestRelay[];
  mint: TestMint | undefined;
  /** A DHT node that joins the network and that everyone knows (a worker's, a tasker's); stop() stops it. */
  addDhtNode(): Promise<DHT>;
  /** Another relay on the network, its descriptor published; stop() stops it. */
  addRelay(options?: TestRelayOptions): Promise<TestRelay>;
  /** Stops everything, relays first. Safe to call more than once. */
  stop(): Promise<void>;
}

/** How long the network may take to form (nodes meeting, relays publishing); loopback takes milliseconds. */
const FORM_MS = 20_000;

export async function startTestnet(options: TestnetOptions = {}): Promise<Testnet> {
  const backend = options.backend ?? nodeCrypto;
  const log = options.log ?? silentLogger;
  const dhtLog = (level: 'warn' | 'error', event: string, message: string) => log({ level, event, message });
  const count = options.dhtNodes ?? 5;
  const dht: DHT[] = [];
  /** Every node on the network, relays' and added ones included: what a newcomer is introduced to. */
  const members: DHT[] = [];
  const relays: TestRelay[] = [];
  let tracker: TrackerServer | undefined;
  let mint: TestMint | undefined;
  let bootstrap: string[] = [];
  let stopping: Promise<void> | undefined;
  /** Every node started, joined or not: what stop() stops. */
  const owners = new Set<DhtNode>();

  /** A node on 127.0.0.1 that everyone knows and that knows everyone, so lookups converge at once on a small network. */
  const joinNode = async (): Promise<DhtNode> => {
    if (stopping) throw new SpareCyclesError('USAGE', 'testnet: a node or relay added after stop()');
    const owner = new DhtNode(backend, { bootstrap, host: '127.0.0.1', log: dhtLog });
    owners.add(owner);
    await owner.start();
    const node = owner.dht;
    const others = [...members];
    members.push(node);
    for (const other of others) {
      other.addNode({ host: '127.0.0.1', port: node.address().port });
      node.addNode({ host: '127.0.0.1', port: other.address().port });
    }
    // addNode pings first: the node is in a table only once the answer is back.
    const knows = (a: DHT, b: DHT) => a.toJSON().nodes.some((n) => n.port === b.address().port);
    await waitFor('a new DHT node and the network to know each other', () => others.every((o) => knows(o, node) && knows(node, o)), FORM_MS, 10);
    if (bootstrap.length > 0 && !(await dhtReady(node, FORM_MS))) throw new TimeoutError(`a DHT node did not bootstrap within ${FORM_MS} ms`);
    return owner;
  };
  const join = async (): Promise<DHT> => (await joinNode()).dht;

  const addRelay = async (relayOptions: TestRelayOptions = {}): Promise<TestRelay> => {
    const owner = await joinNode();
    const node = owner.dht;
    const identity = relayOptions.identity ?? Identity.generate(backend);
    const relayLog = relayOptions.log ?? log;
    let published: () => void = () => {};
    const isPublished = new Promise<void>((resolve) => (published = resolve));
    const relay = new RelayServer({
      ...relayOptions,
      backend,
      identity,
      dht: node,
      host: '127.0.0.1',
      port: 0,
      log: (line) => {
        // The relay publishes by itself once its node has joined, as `cycles relay` does; this waits for the first time.
        if (line.event === 'relay-descriptor-published') published();
        relayLog(line);
      },
    });
    let stopped: Promise<void> | undefined;
    const entry: TestRelay = {
      relay,
      dht: node,
      identity,
      stop: () => (stopped ??= relay.stop().finally(() => owner.stop())),
    };
    relays.push(entry);
    await relay.start();
    await withDeadline(isPublished, FORM_MS, 'a relay to publish its descriptor on the testnet DHT');
    return entry;
  };

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // Each part is stopped even if one before it failed to; the first failure is reported.
      const steps: Array<() => Promise<unknown> | undefined> = [
        () => Promise.all(relays.map((r) => r.stop())),
        () => Promise.all([...owners].map((owner) => owner.stop())),
        () => tracker?.stop(),
        () => mint?.stop(),
      ];
      let failure: unknown;
      for (const step of steps) await Promise.resolve().then(step).catch((error: unknown) => void (failure ??= error));
      if (failure !== undefined) throw failure;
    })());

  try {
    for (let i = 0; i < count; i++) {
      dht.push(await join());
      if (i === 0) bootstrap = [dhtAddress(dht[0]!)];
    }
    bootstrap = dht.map(dhtAddress);
    if (options.tracker !== false) {
      // The tracker's lines carry a level and an event too; its type is only looser.
      tracker = new TrackerServer({ port: 0, host: '127.0.0.1', log: (line) => log(line as LogLine) });
      await tracker.start();
    }
    const relayOptions = typeof options.relays === 'number' ? Array.from({ length: options.relays }, () => ({})) : (options.relays ?? []);
    for (const r of relayOptions) await addRelay(r);
    if (options.mint) mint = await startTestMint(options.mint === true ? {} : options.mint);
  } catch (error) {
    await stop();
    throw error;
  }
  const urls = tracker?.urls;
  return {
    dht,
    bootstrap,
    tracker,
    trackers: urls ? [urls.http, urls.udp, urls.ws] : [],
    relays,
    mint,
    addDhtNode: join,
    addRelay,
    stop,
  };
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

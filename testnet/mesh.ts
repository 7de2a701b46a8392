// A tasker and in-process workers on a private loopback network (testnet.ts),
// for the integration tests and the benchmarks: real DHT nodes, a real
// tracker (relays and a mint when asked), real WebTorrent clients and real
// worker threads. Everything is torn down by stop().

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../serve/log.ts';
import type { Logger } from '../serve/log.ts';
import { TorrentClient } from '../net/torrent-client.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { NetworkError, SpareCyclesError } from '../protocol/errors.ts';
import { signManifest } from '../protocol/manifest.ts';
import { announceOffer } from '../tasker/announce-offer.ts';
import { Payer } from '../tasker/payer.ts';
import { TaskerSession } from '../tasker/session.ts';
import type { TaskerOptions } from '../tasker/session.ts';
import type { PayerPort } from '../tasker/unit-payments.ts';
import type { Defence } from '../tasker/verify/defence.ts';
import type { Rendezvous } from '../protocol/messages/offer.ts';
import { loadTaskDir } from '../tasker/task-dir.ts';
import type { TaskDir } from '../tasker/task-dir.ts';
import { startTestnet } from './testnet.ts';
import type { Testnet, TestnetOptions } from './testnet.ts';
import { WorkerEngine } from '../worker/engine.ts';
import type { WorkerEngineOptions } from '../worker/engine.ts';
import { nodeUnitPool } from '../units/node/node-thread.ts';
import { nodeTorrentPort } from '../worker/node/torrent-port.ts';
import type { UnitPool } from '../units/pool.ts';
import type { UnitRunner } from '../worker/ports.ts';

export interface MeshWorker {
  identity: Identity;
  engine: WorkerEngine;
  pool: UnitRunner;
  torrents: TorrentClient;
}

export class Mesh {
  readonly workers: MeshWorker[] = [];
  private readonly cleanups: Array<() => Promise<void>> = [];

  private constructor(
    readonly net: Testnet,
    readonly dir: string,
    private readonly transports: 'all' | 'tcp',
  ) {}

  /**
   * `tcp` keeps to the HTTP tracker, so peers meet over TCP only and no WebRTC
   * runs; `mint` adds a mint to pay at; `relays` adds edge relays (net.relays).
   */
  static async start(options: { transports?: 'all' | 'tcp'; mint?: boolean; relays?: TestnetOptions['relays'] } = {}): Promise<Mesh> {
    const dir = await mkdtemp(join(tmpdir(), 'sc-mesh-'));
    let net: Testnet;
    try {
      net = await startTestnet({ dhtNodes: 4, mint: options.mint ?? false, ...(options.relays ? { relays: options.relays } : {}) });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    const mesh = new Mesh(net, dir, options.transports ?? 'all');
    mesh.cleanups.push(() => net.stop(), () => rm(dir, { recursive: true, force: true }));
    return mesh;
  }

  get trackers(): string[] {
    return this.transports === 'tcp' ? this.net.trackers.filter((t) => t.startsWith('http')) : this.net.trackers;
  }

  async client(): Promise<TorrentClient> {
    const torrents = new TorrentClient(nodeCrypto, {
      dht: { bootstrap: this.net.bootstrap, host: '127.0.0.1' },
      loopback: true,
      path: await mkdtemp(join(this.dir, 'c-')),
    });
    this.cleanups.push(() => torrents.stop());
    await torrents.start();
    return torrents;
  }

  pool(cpu: number): UnitPool {
    const pool = nodeUnitPool(cpu);
    this.cleanups.push(() => pool.stop());
    return pool;
  }

  async publish(
    taskDir: string,
    options: {
      log?: Logger;
      leaseMs?: number;
      change?: (task: TaskDir) => void;
      offer?: boolean;
      /** Pay this much per unit at the mesh's mint, from a deposit of `deposit`. */
      pay?: { price: number; deposit: number };
      /** Stands between the session and its payer: to delay or fail payments. */
      wrapPayer?: (payer: Payer) => PayerPort;
      /** More trackers for the task torrent (a relay's signalling endpoint). */
      trackers?: string[];
      /** The tasker's key: the same key and task folder publish the same task again. */
      identity?: Identity;
      /** Where receipts are kept until acknowledged (in memory without it). */
      openOutbox?: TaskerOptions['openOutbox'];
      /** The coordinator's checks against cheaters, where a test or benchmark pins them. */
      defence?: Partial<Defence>;
      /** Opens the tasker's rendezvous for stealth workers once the session exists; the offer names it. */
      rendezvous?: (session: TaskerSession) => Promise<Rendezvous>;
    } = {},
  ): Promise<TaskerSession> {
    const identity = options.identity ?? Identity.generate(nodeCrypto);
    const task = await loadTaskDir(nodeCrypto, taskDir, { tasker: identity.publicKey });
    options.change?.(task);
    let payer: PayerPort | undefined;
    if (options.pay) {
      const mint = this.net.mint;
      if (!mint) throw new SpareCyclesError('USAGE', 'a paying task needs a mint: Mesh.start({ mint: true })');
      task.body.mint = mint.url;
      task.body.price = options.pay.price;
      await mint.fund(identity.publicKey, options.pay.deposit);
      const connected = await Payer.connect({ backend: nodeCrypto, identity, mint: mint.url, price: options.pay.price });
      payer = options.wrapPayer ? options.wrapPayer(connected) : connected;
    }
    const manifest = signManifest(nodeCrypto, identity.exportSeed(), task.body);
    const torrents = await this.client();
    const session = await TaskerSession.start(
      {
        backend: nodeCrypto,
        identity,
        client: torrents.client,
        pool: this.pool(0.5),
        trackers: [...this.trackers, ...(options.trackers ?? [])],
        storage: torrents.path,
        log: options.log ?? silentLogger,
        // Every worker here shares 127.0.0.1: each connection stands for a host of its own.
        groupOf: (peer) => peer,
        ...(options.defence ? { defence: options.defence } : {}),
        ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
        ...(options.openOutbox ? { openOutbox: options.openOutbox } : {}),
        ...(payer ? { payer } : {}),
      },
      task,
      manifest,
    );
    this.cleanups.push(() => session.stop());
    if (options.offer) {
      const log = options.log ?? silentLogger;
      const rendezvous = await options.rendezvous?.(session);
      const publisher = await announceOffer(nodeCrypto, session, torrents.client.dht, '127.0.0.1', log, undefined, rendezvous);
      if (!publisher) throw new NetworkError('the offer could not be put on the test DHT');
      this.cleanups.push(() => publisher.stop());
    }
    return session;
  }

  async worker(magnet: string, options: Partial<WorkerEngineOptions> = {}): Promise<MeshWorker> {
    const identity = options.identity ?? Identity.generate(nodeCrypto);
    const torrents = await this.client();
    const pool = options.pool ?? this.pool(0.5);
    const engine = new WorkerEngine(
      { backend: nodeCrypto, identity, pool, torrents: nodeTorrentPort(torrents.client, this.trackers, torrents.path), ...options },
      magnet,
    );
    this.cleanups.push(async () => engine.stop());
    const worker = { identity, engine, pool, torrents };
    this.workers.push(worker);
    return worker;
  }

  async stop(): Promise<void> {
    for (const cleanup of this.cleanups.reverse()) await cleanup().catch(() => {});
  }
}

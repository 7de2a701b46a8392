// What the offscreen document (Chromium) or the background page (Firefox)
// runs: one WebTorrent client, one unit pool of
// Web Workers sized by the CPU slider, and one WorkerEngine for the task the
// volunteer chose. It is told what to do by the background (configure, hold,
// release) and reports an EngineStatus back. Without a magnet it asks the
// configured relay for offers, or with none the shipped relays and those they
// name (lib/offer-search.ts), and takes the best one that verifies. Pay for
// its results goes to `deps.earnings`: in the offscreen document, the
// background's wallet by runtime messages (lib/remote-earnings.ts); in
// Firefox's background page, the same wallet called directly.
//
// In stealth mode (lib/stealth-routes.ts) it takes only offers that name a
// rendezvous, works on each task under a fresh key, and reaches the tasker
// only through onion routes, the task's files included: it joins no swarm.
//
// A new configuration that changes only the CPU share resizes the pool under
// the running engine, so moving the slider drops no unit; any other change
// to what the engine was built from starts everything afresh.

import { fromHex, toHex } from '../../protocol/bytes.ts';
import { magnetFor } from '../../protocol/magnet.ts';
import { RELAY_SIGNALLING_PATH } from '../../protocol/constants.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { cpuBudget } from '../../units/cpu-budget.ts';
import { WorkerEngine } from '../../worker/engine.ts';
import type { WorkerEngineOptions, WorkerEvents, WorkerStats } from '../../worker/engine.ts';
import { OfferSearch } from './offer-search.ts';
import { SHIPPED_RELAYS } from './shipped-network.ts';
import { keepStream } from '../../net/onion-stream.ts';
import type { FrameListener } from '../../protocol/channel.ts';
import type { Rendezvous } from '../../protocol/messages/offer.ts';
import type { StealthRoutes } from './stealth-routes.ts';
import { UnitPool } from '../../units/pool.ts';
import type { UnitThread } from '../../units/pool.ts';
import type { Earnings } from '../../worker/ports.ts';
import { webTorrentPort } from '../../worker/browser/webtorrent-port.ts';
import type { BrowserTorrentClient } from '../../worker/browser/webtorrent-port.ts';
import type { EngineStatus, OffscreenConfig } from './messages.ts';
import type { Settings } from './settings.ts';
import { SpareCyclesError } from '../../protocol/errors.ts';

export interface ClientOptions {
  tracker: { rtcConfig?: { iceServers: unknown[] } };
  dht: false;
  maxConns: number;
}

export interface EngineHostDeps {
  createClient(options: ClientOptions): BrowserTorrentClient;
  spawnThread(): UnitThread;
  cores: number;
  /** Where pay for results is kept; without it the engine asks for none. */
  earnings?: Earnings;
  report(status: EngineStatus): void;
  warn?(error: Error): void;
  /** Makes the engine for a task; by default a WorkerEngine. A test hands in one it can watch. */
  createEngine?(options: WorkerEngineOptions, magnet: string): HostedEngine;
  /** The relays to look for offers at when the settings name none; the shipped list by default. */
  relays?: readonly string[];
  /** Stealth mode's onion routes through this edge relay; without it stealth mode fails with a clear error. */
  openRoutes?(relays: readonly string[]): Promise<StealthRoutes>;
}

/** What the host uses of its engine (a WorkerEngine). */
export interface HostedEngine {
  readonly ready: Promise<Manifest>;
  readonly stats: WorkerStats;
  readonly manifest: Manifest | undefined;
  readonly infoHash: string;
  readonly unsettled: number;
  /** Where frame channels to the tasker from another transport go (a stealth stream). */
  readonly frames?: FrameListener;
  on<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): unknown;
  removeAllListeners(): unknown;
  pause(): void;
  resume(): void;
  stop(): void;
}

/** Settings the engine, its torrent client and its pool are built from; the CPU share is not one of them (the pool follows it). */
const FRESH_ENGINE_FIELDS = ['magnet', 'trackerUrls', 'maxPeerConnections', 'relayUrl', 'stealth'] as const;

export function needsFreshEngine(a: Settings, b: Settings): boolean {
  return FRESH_ENGINE_FIELDS.some((f) => JSON.stringify(a[f]) !== JSON.stringify(b[f]));
}

/** How many warnings the status carries, newest last. */
const WARNINGS_KEPT = 20;

/** How often a volunteer with no task asks its relay again. */
const OFFER_POLL_MS = 3000;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/**
 * Where the browser meets peers for WebRTC: the WebSocket trackers it was
 * given (browsers speak only that flavour of the tracker protocol) and its
 * relay's signalling endpoint, so a volunteer who set only a relay still
 * reaches taskers that announce there.
 */
export function browserTrackers(settings: Pick<Settings, 'trackerUrls' | 'relayUrl'>, relay = settings.relayUrl): string[] {
  const urls = settings.trackerUrls.filter((u) => /^wss?:\/\//i.test(u));
  if (relay) urls.push(relay.replace(/\/+$/, '') + RELAY_SIGNALLING_PATH);
  return [...new Set(urls)];
}

/** On a loopback network no STUN server is reachable, and none is wanted. */
export function allLoopback(urls: string[]): boolean {
  return urls.length > 0 && urls.every((u) => {
    try {
      return LOOPBACK.has(new URL(u).hostname);
    } catch {
      return false;
    }
  });
}

/** `relays`: where offers may come from, whose signalling endpoints the client may be sent to. */
export function clientOptions(settings: Settings, relays: readonly string[] = []): ClientOptions {
  const trackers = [...browserTrackers(settings), ...relays];
  return {
    tracker: allLoopback(trackers) ? { rtcConfig: { iceServers: [] } } : {},
    dht: false,
    maxConns: settings.maxPeerConnections,
  };
}

export class EngineHost {
  private client: BrowserTorrentClient | undefined;
  /** Bumped by a fresh configuration and by stop(): a relay poll of an older generation ends. */
  private generation = 0;
  private pool: UnitPool | undefined;
  private engine: HostedEngine | undefined;
  private settings: Settings | undefined;
  private seed: string | undefined;
  private readonly warnings: string[] = [];
  private held = false;
  private stage: EngineStatus['stage'] = 'waiting-for-task';
  private error: string | undefined;
  private onAc: boolean | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Stealth mode's routes, for as long as this configuration lasts. */
  private routes: Promise<StealthRoutes> | undefined;
  private relayCount: number | undefined;
  private stream: { stop(): void } | undefined;
  /** Where offers are looked for, and stealth routes start from, for as long as this configuration lasts. */
  private search: OfferSearch | undefined;
  private relays: readonly string[] = [];

  constructor(private readonly deps: EngineHostDeps) {}

  /**
   * Applies a configuration. When only the CPU share (or the held state)
   * differs from what is running, the pool takes the new budget and the
   * engine carries on. Otherwise everything restarts, and units running under
   * the old configuration are dropped; the tasker reissues them.
   */
  configure(config: OffscreenConfig): void {
    if (this.keepsEngine(config)) {
      this.settings = config.settings;
      this.pool!.setBudget(cpuBudget(config.settings.cpu, this.deps.cores));
      // release() also has the engine claim at once for a larger pool, instead of when its next unit ends.
      if (config.held) this.hold();
      else this.release();
      return;
    }
    const { settings } = config;
    this.held = config.held;
    this.stopEngine();
    this.settings = settings;
    this.seed = config.seed;
    // A fresh client each time: WebTorrent destroys a torrent asynchronously,
    // and adding the same magnet again to the same client before that is done
    // loses both torrents without an error.
    this.client?.destroy();
    const relays = settings.relayUrl ? [settings.relayUrl] : (this.deps.relays ?? SHIPPED_RELAYS);
    this.relays = relays;
    this.search = relays.length > 0 ? new OfferSearch({ backend: nobleCrypto, relays, grow: !settings.relayUrl }) : undefined;
    this.client = this.deps.createClient(clientOptions(settings, relays));
    this.client.on('error', (error) => this.warn(typeof error === 'string' ? new SpareCyclesError('NETWORK', error) : error));
    this.generation++;
    const budget = cpuBudget(settings.cpu, this.deps.cores);
    this.pool = new UnitPool({ ...budget, spawn: () => this.deps.spawnThread() });
    this.error = undefined;
    this.stopRoutes();
    if (settings.stealth) this.startStealth(config);
    else if (settings.magnet) this.startEngine(config, settings.magnet);
    else if (this.search) void this.findOffer(config);
    else this.stage = 'waiting-for-task';
    clearInterval(this.timer);
    this.timer = setInterval(() => this.report(), 1000);
    this.report();
  }

  /** A running host whose engine (or search for one) was built from the same settings, CPU share aside. A failed engine is retried. */
  private keepsEngine(config: OffscreenConfig): boolean {
    return (
      this.pool !== undefined &&
      this.settings !== undefined &&
      this.stage !== 'failed' &&
      config.seed === this.seed &&
      !needsFreshEngine(this.settings, config.settings)
    );
  }

  private warn(error: Error): void {
    this.warnings.push(error.message);
    this.warnings.splice(0, this.warnings.length - WARNINGS_KEPT);
    this.deps.warn?.(error);
  }

  /**
   * Stealth mode needs what only offers give: a rendezvous to reach the
   * tasker by. A magnet typed by hand names none, and without an edge relay
   * there is no view of the relays to draw routes from.
   */
  private startStealth(config: OffscreenConfig): void {
    const { settings } = config;
    const refuse = (message: string) => {
      this.stage = 'failed';
      this.error = message;
    };
    if (settings.magnet) return refuse('stealth mode takes only offers that name a rendezvous, and a magnet names none: clear the magnet, or switch stealth mode off');
    if (this.relays.length === 0) return refuse('stealth mode needs a relay to start from: set a relay URL in the options');
    if (!this.deps.openRoutes) return refuse('stealth mode is not available in this browser');
    void this.findOffer(config, true);
  }

  /** The routes of this configuration, opened once; a failure is forgotten, so the next look tries again. */
  private openRoutes(): Promise<StealthRoutes> {
    if (!this.routes) {
      const routes = this.deps.openRoutes!(this.relays);
      routes.then((r) => (this.relayCount = r.view.relays().length), () => (this.routes = undefined));
      this.routes = routes;
    }
    return this.routes;
  }

  private stopRoutes(): void {
    this.stream?.stop();
    this.stream = undefined;
    void this.routes?.then((r) => r.stop(), () => {});
    this.routes = undefined;
    this.relayCount = undefined;
  }

  /** Asks the relays for offers until one has units left (and, in stealth mode, a rendezvous), then works on it. */
  private async findOffer(config: OffscreenConfig, stealth = false): Promise<void> {
    const generation = this.generation;
    const search = this.search!;
    this.stage = 'finding-offer';
    while (generation === this.generation && !this.engine) {
      try {
        const routes = stealth ? await this.openRoutes() : undefined;
        const found = await search.find(stealth ? (o) => o.rendezvous !== undefined : undefined);
        if (generation !== this.generation) return;
        if (found) {
          const { offer, relay } = found;
          const magnet = magnetFor(toHex(offer.task), browserTrackers(config.settings, relay), offer.name);
          this.startEngine(config, magnet, offer.tasker, routes && offer.rendezvous ? { routes, rendezvous: offer.rendezvous } : undefined, relay);
          return;
        }
      } catch (error) {
        this.warn(error as Error);
      }
      await new Promise((resolve) => setTimeout(resolve, OFFER_POLL_MS));
    }
  }

  private startEngine(
    config: OffscreenConfig,
    magnet: string,
    expectTasker?: Uint8Array,
    stealth?: { routes: StealthRoutes; rendezvous: Rendezvous },
    relay?: string,
  ): void {
    const { settings } = config;
    this.stage = 'fetching';
    // A stealth worker's key is its task's alone, never stored, so that nothing ties its tasks (or their pay) together.
    const identity = stealth ? Identity.generate(nobleCrypto) : Identity.fromSeed(nobleCrypto, fromHex(config.seed));
    const options: WorkerEngineOptions = {
      backend: nobleCrypto,
      identity,
      pool: this.pool!,
      torrents: webTorrentPort(this.client!, browserTrackers(settings, relay)),
      ...(this.deps.earnings ? { earnings: this.deps.earnings } : {}),
      ...(expectTasker ? { expectTasker } : {}),
      // The task itself comes over the same routes, from the tasker: the swarm never sees this browser.
      ...(stealth ? { stealth: true, routeTask: true } : {}),
    };
    const engine = this.deps.createEngine ? this.deps.createEngine(options, magnet) : new WorkerEngine(options, magnet);
    if (this.held) engine.pause();
    this.engine = engine;
    if (stealth && engine.frames) this.stream = keepStream({ backend: nobleCrypto, client: stealth.routes.client }, stealth.rendezvous, engine.frames);
    const changed = () => this.report();
    engine.on('ready', () => {
      if (this.engine !== engine) return;
      this.stage = 'computing';
      this.report();
    });
    engine.on('assigned', changed);
    engine.on('computed', changed);
    engine.on('failed', changed);
    engine.on('receipt', changed);
    engine.on('paid', changed);
    engine.on('warning', (error) => this.warn(error));
    engine.ready.catch((error: unknown) => {
      if (this.engine !== engine) return;
      this.stage = 'failed';
      this.error = error instanceof Error ? error.message : String(error);
      this.report();
    });
  }

  hold(): void {
    this.held = true;
    this.engine?.pause();
    this.report();
  }

  release(): void {
    this.held = false;
    this.engine?.resume();
    this.report();
  }

  setPower(onAc: boolean | undefined): void {
    if (onAc === this.onAc) return;
    this.onAc = onAc;
    this.report();
  }

  status(): EngineStatus {
    const stats = this.engine?.stats ?? { assigned: 0, computed: 0, failed: 0, accepted: 0, rejected: 0, pending: 0, credits: 0 };
    const manifest = this.engine?.manifest;
    const torrent = this.engine && this.client?.torrents.find((t) => t.infoHash === this.engine!.infoHash);
    const budget = this.pool?.budget ?? { threads: 0, dutyCycle: 0 };
    return {
      stage: this.stage,
      ...(manifest && this.engine
        ? { task: { name: manifest.name, units: manifest.units, infoHash: this.engine.infoHash } }
        : {}),
      download: torrent ? torrent.progress : 0,
      peers: torrent ? torrent.numPeers : 0,
      units: { ...stats, running: Math.max(0, stats.assigned - stats.computed - stats.failed), settling: this.engine?.unsettled ?? 0 },
      threads: budget.threads,
      dutyCycle: budget.dutyCycle,
      ...(this.onAc === undefined ? {} : { onAc: this.onAc }),
      ...(this.relayCount === undefined ? {} : { stealth: { relays: this.relayCount } }),
      ...(this.error ? { error: this.error } : {}),
      ...(this.warnings.length ? { warnings: [...this.warnings] } : {}),
    };
  }

  /** Stops everything (the background page lives on after sharing stops, unlike an offscreen document). */
  stop(): void {
    this.generation++;
    clearInterval(this.timer);
    this.stopEngine();
    this.stopRoutes();
    this.client?.destroy();
    this.client = undefined;
  }

  private report(): void {
    this.deps.report(this.status());
  }

  private stopEngine(): void {
    this.stream?.stop();
    this.stream = undefined;
    this.engine?.removeAllListeners();
    this.engine?.stop();
    this.engine = undefined;
    void this.pool?.stop();
    this.pool = undefined;
  }
}

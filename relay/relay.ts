// An edge relay: a mainline-DHT node that answers DHT questions for browsers,
// which cannot speak the DHT's UDP, over WebSocket. One bencoded message per
// binary frame (protocol/messages/relay.ts): relay-find is answered from a
// cache of verified offers, relay-get with a live BEP 44 get. What the relay
// hands back is each offer exactly as its tasker signed it, so a relay can
// withhold an offer but cannot forge one: the browser verifies every copy.
//
// Every client is on a short leash: a size cap on frames, token buckets per
// connection and per IP, a cap on connections per IP and in all, a cap on
// DHT lookups in flight. A request over budget gets relay-error RATE_LIMITED;
// a bad one (garbage, an unknown type or version, a frame too large) gets
// BAD_REQUEST or a close, and a warn line; a connection that keeps at it is
// closed. Only the relay's own faults are logged as `error`.
//
// HTTP on the same port: /health, /metrics (Prometheus), /descriptor (the
// relay's signed relay-descriptor, bencoded) and /descriptor.json.
//
// WebRTC signalling on the same port: a WebSocket tracker at /announce
// (serve/signalling.ts), so a browser that knows only its relay can still
// meet taskers over WebRTC. Its connections count against the same caps.
// Onion forwarding for stealth mode at /onion (relay/onion-service.ts,
// docs/relay-onion.md), when the relay is given onion keys: packets from
// clients and from other relays over authenticated links, mailboxes, and
// the mint exit. Its sockets count against the same caps. Links to other
// relays are dialed at the URLs the relay's own directory view holds
// (relay/descriptor.ts), unless the caller hands in a lookup of its own.

import { createServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type DHT from 'bittorrent-dht';
import { jsonLogger, type Logger, type LogLevel } from '../serve/log.ts';
import { toHex } from '../protocol/bytes.ts';
import { MESSAGE_LIMITS, RELAY_SIGNALLING_PATH } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import type { RelayDescriptor } from '../protocol/messages/index.ts';
import { RelayConnection, type RelayContext } from './connection.ts';
import { DescriptorPublisher, descriptorJson, MAX_PEERS, serveDescriptors } from './descriptor.ts';
import { httpBaseOf } from '../net/relay-http-sources.ts';
import { OnionKeys } from './onion-keys.ts';
import { RelayMetrics } from './metrics.ts';
import { OfferCache } from './offer-cache.ts';
import { OfferItems } from './offer-item.ts';
import { BucketMap, checkLimits, Counter, DEFAULT_LIMITS, ipKey, type RateLimits } from '../serve/rate-limit.ts';
import { Signalling } from '../serve/signalling.ts';
import { WebSocketServer, type WsServer, type WsSocket } from '../serve/ws.ts';
import { SpareCyclesError, UsageError } from '../protocol/errors.ts';
import { ONION_RELAY } from '../protocol/constants.ts';
import { OnionService, type OnionOptions } from './onion-service.ts';

export type { RateLimits } from '../serve/rate-limit.ts';

export interface RelayOptions {
  backend: CryptoBackend;
  /** The relay's long-term key: it signs the relay's descriptor. */
  identity: Identity;
  /** A started DHT node. The caller owns it: the relay never destroys it. */
  dht: DHT;
  /** 0 picks a free port. */
  port?: number;
  /** An IP address; 0.0.0.0 means every IPv4 interface, :: every interface of both families. */
  host?: string;
  /** The URL the descriptor names, for a relay behind a proxy or NAT (wss://relay.example/); defaults to `url`. */
  publicUrl?: string;
  log?: Logger;
  limits?: Partial<RateLimits>;
  /** How long after one offer refresh ends the next begins, and how old the cache may be before a relay-find refreshes it. */
  offerRefreshMs?: number;
  /** How long a relay-find waits for a refresh it started or joined before answering from what is held. */
  findWaitMs?: number;
  /** Deadline of one relay-get's BEP 44 lookup. */
  getTimeoutMs?: number;
  /** Open WebSockets in all. */
  maxConnections?: number;
  /** How often the descriptor is re-signed, put and announced. */
  reannounceMs?: number;
  /** How often each connection is pinged; one that has not answered the last ping is closed. */
  pingMs?: number;
  /** The operator's label in the descriptor: relays under one label are never two hops of one route. */
  family?: string;
  /** Onion forwarding at /onion; without it the relay forwards nothing. */
  onion?: OnionOptions;
  /** Other relays (ws URLs, at most 16) whose /descriptors seed this relay's view, so a private mesh finds itself without DHT walks. */
  peers?: readonly string[];
  /** How often the peers are asked once each has answered (default a minute). */
  peerRefreshMs?: number;
  /** The least time between two refreshes of the view set off by links to relays it does not hold (default 10 s). */
  missRefreshMs?: number;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  offerRefreshMs: 30_000,
  findWaitMs: 10_000,
  getTimeoutMs: 10_000,
  maxConnections: 1024,
  reannounceMs: 10 * 60_000,
  pingMs: 30_000,
};
/** relay-get lookups in flight over all connections. */
const MAX_GETS = 64;
/** How often per-IP buckets that have refilled are forgotten. */
const SWEEP_MS = 60_000;

export interface RelayHealth {
  ok: true;
  uptimeS: number;
  key: string;
  url: string;
  dhtNodes: number;
  cachedOffers: number;
  /** Milliseconds since the offers were last refreshed; null before the first refresh. */
  offersAgeMs: number | null;
  connections: number;
  /** The WebRTC signalling tracker at /announce: its URL, swarms and peers. */
  signalling: { url: string; swarms: number; peers: number };
}

export class RelayServer {
  readonly #opts: Omit<RelayOptions, keyof typeof DEFAULTS | 'limits' | 'log'> & typeof DEFAULTS;
  readonly #limits: RateLimits;
  readonly #log: Logger;
  readonly #metrics = new RelayMetrics();
  readonly #cache: OfferCache;
  readonly #items: OfferItems;
  readonly #ipBuckets: BucketMap;
  readonly #ipConnections = new Counter();
  readonly #connections = new Set<RelayConnection>();
  readonly #context: RelayContext;
  #http: HttpServer | undefined;
  #wss: WsServer | undefined;
  #signalling: Signalling | undefined;
  #descriptor: DescriptorPublisher | undefined;
  #timers: ReturnType<typeof setInterval>[] = [];
  #sockets = 0;
  #port = 0;
  #startedAt = 0;
  #stopping: Promise<void> | undefined;
  #onion: OnionService | undefined;

  constructor(options: RelayOptions) {
    this.#opts = { ...DEFAULTS, ...definedOnly(options), backend: options.backend, identity: options.identity, dht: options.dht };
    const { host, port } = this.#opts;
    if (!isIP(host)) throw new UsageError(`host: expected an IP address, got ${JSON.stringify(host)}`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`port: expected 0..65535, got ${port}`);
    const peers = this.#opts.peers ?? [];
    if (peers.length > MAX_PEERS) throw new UsageError(`peers: expected at most ${MAX_PEERS}, got ${peers.length}`);
    for (const peer of peers) httpBaseOf(peer);
    this.#limits = checkLimits({ ...DEFAULT_LIMITS, ...definedOnly(options.limits ?? {}) });
    const log = options.log ?? jsonLogger(process.stderr);
    this.#log = (line) => {
      try {
        log(line);
      } catch {
        // A broken log sink must not take the relay down with it.
      }
    };
    const { backend, dht } = this.#opts;
    this.#cache = new OfferCache({
      backend,
      dht,
      refreshMs: this.#opts.offerRefreshMs,
      log: this.#log,
      onRefresh: ({ ok, ms }) => this.#metrics.refreshed(ok, ms),
      onRejected: (reason) => this.#metrics.rejected(reason),
    });
    this.#items = new OfferItems({ backend, dht, timeoutMs: this.#opts.getTimeoutMs, maxInFlight: MAX_GETS, log: this.#log });
    this.#ipBuckets = new BucketMap(this.#limits.perIpPerMinute);
    this.#context = {
      limits: this.#limits,
      ipBuckets: this.#ipBuckets,
      cache: this.#cache,
      items: this.#items,
      metrics: this.#metrics,
      findWaitMs: this.#opts.findWaitMs,
      log: this.#log,
      stopping: () => this.#stopping !== undefined,
    };
  }

  get port(): number {
    return this.#port;
  }

  /** Where browsers connect: ws://host:port. */
  get url(): string {
    // Unspecified addresses are for binding; a URL needs one a client can dial.
    const host = this.#opts.host === '0.0.0.0' ? '127.0.0.1' : this.#opts.host === '::' ? '::1' : this.#opts.host;
    return `ws://${isIP(host) === 6 ? `[${host}]` : host}:${this.#port}`;
  }

  /** The WebSocket tracker URL for WebRTC signalling through this relay. */
  get signallingUrl(): string {
    return `${this.url}${RELAY_SIGNALLING_PATH}`;
  }

  get limits(): RateLimits {
    return { ...this.#limits };
  }

  /** The relay's current signed descriptor (also at GET /descriptor). */
  get descriptor(): RelayDescriptor {
    if (!this.#descriptor) throw new SpareCyclesError('INTERNAL', 'relay: no descriptor before start()');
    return this.#descriptor.current;
  }

  async start(): Promise<void> {
    if (this.#http || this.#stopping) throw new SpareCyclesError('INTERNAL', 'relay: start() after start() or stop()');
    const http = createServer((req, res) => this.#route(req, res));
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: MESSAGE_LIMITS.relayRequestBytes,
      clientTracking: false,
      perMessageDeflate: false,
    });
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    const refused = new WeakSet<Duplex>();
    http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (refused.has(socket)) return void socket.destroy();
      refused.add(socket);
      this.#emit('warn', 'relay-bad-http', { message: err.message, code: err.code });
      refuse(socket, err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400, 'bad HTTP request');
    });
    wss.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) => {
      this.#emit('warn', 'relay-bad-handshake', { peer: peerOf(req), message: err.message });
      this.#metrics.refused('bad-handshake');
      refuse(socket, 400, 'bad WebSocket handshake');
    });
    this.#http = http;
    this.#wss = wss;
    this.#signalling = new Signalling({ warn: (message) => this.#emit('warn', 'relay-signalling', { message }) });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.#opts.port, this.#opts.host, () => {
        http.off('error', reject);
        resolve();
      });
    }).catch(async (error) => {
      this.#http = undefined;
      this.#wss = undefined;
      wss.close();
      await this.#signalling?.stop();
      throw error;
    });
    http.on('error', (err: Error) => this.#emit('error', 'relay-server-error', { message: err.message }));
    this.#port = (http.address() as { port: number }).port;
    this.#startedAt = Date.now();

    const { backend, identity, dht } = this.#opts;
    this.#descriptor = new DescriptorPublisher({
      backend,
      identity,
      dht,
      url: this.#opts.publicUrl ?? this.url,
      port: this.#port,
      reannounceMs: this.#opts.reannounceMs,
      log: this.#log,
      // The descriptor lists the onion keys and the exit policy the onion service was given.
      ...(this.#opts.onion?.keys instanceof OnionKeys ? { onionKeys: this.#opts.onion.keys } : {}),
      exit: { mints: [...(this.#opts.onion?.mintOrigins ?? [])], mailboxes: this.#opts.onion !== undefined },
      family: this.#opts.family,
      peers: this.#opts.peers,
      peerRefreshMs: this.#opts.peerRefreshMs,
      missRefreshMs: this.#opts.missRefreshMs,
    });
    if (this.#opts.onion) {
      const publisher = this.#descriptor;
      const lookup = this.#opts.onion.lookup ?? ((id: Uint8Array) => publisher.urlOf(id));
      this.#onion = new OnionService({ ...this.#opts.onion, lookup, backend, identity, metrics: this.#metrics, log: this.#log });
    }
    this.#cache.start();
    this.#descriptor.start();
    this.#every(this.#opts.pingMs, () => {
      for (const conn of this.#connections) conn.heartbeat();
    });
    this.#every(SWEEP_MS, () => this.#ipBuckets.sweep());
    this.#emit('info', 'relay-start', { url: this.url, key: toHex(identity.publicKey), limits: this.#limits });
  }

  /** Closes every connection and the listening socket. Leaves the DHT to its owner. Safe to call more than once. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const timer of this.#timers) clearInterval(timer);
      this.#timers = [];
      this.#cache.stop();
      this.#items.stop();
      this.#descriptor?.stop();
      this.#onion?.stop();
      const http = this.#http;
      const wss = this.#wss;
      this.#http = undefined;
      this.#wss = undefined;
      if (!http) return;
      for (const conn of this.#connections) conn.terminate();
      wss?.close();
      await this.#signalling?.stop();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      this.#emit('info', 'relay-stop', { port: this.#port });
    })();
    return this.#stopping;
  }

  /** Republishes the descriptor now (a fresh ts): put under the relay's key and announce on the relay topic. */
  publishDescriptor(): Promise<void> {
    if (!this.#descriptor) return Promise.reject(new SpareCyclesError('INTERNAL', 'relay: publishDescriptor() before start()'));
    return this.#descriptor.publish();
  }

  /** Asks the DHT and the peers for other relays' descriptors now (or joins the walk running). */
  learnRelays(): Promise<void> {
    if (!this.#descriptor) return Promise.reject(new SpareCyclesError('INTERNAL', 'relay: learnRelays() before start()'));
    return this.#descriptor.learn();
  }

  /** Refreshes the offer cache now (or joins the refresh running). */
  refreshOffers(): Promise<void> {
    return this.#cache.refresh();
  }

  health(): RelayHealth {
    const age = this.#cache.ageMs();
    return {
      ok: true,
      uptimeS: this.#uptimeS(),
      key: toHex(this.#opts.identity.publicKey),
      url: this.url,
      dhtNodes: this.#dhtNodes(),
      cachedOffers: this.#cache.size,
      offersAgeMs: Number.isFinite(age) ? age : null,
      connections: this.#connections.size,
      signalling: { url: this.signallingUrl, ...this.#signalling!.stats() },
    };
  }

  metrics(): string {
    return this.#metrics.render({
      connections: this.#connections.size,
      cachedOffers: this.#cache.size,
      dhtNodes: this.#dhtNodes(),
      lookupsInFlight: this.#items.inFlight,
      uptimeS: this.#uptimeS(),
      ...(this.#onion ? { onion: this.#onion.gauges() } : {}),
    });
  }

  /** The onion service (its exits, mailboxes and router), once started with onion options. */
  get onion(): OnionService | undefined {
    return this.#onion;
  }

  // ---- HTTP ----------------------------------------------------------------------

  #route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      return void res.end('method not allowed\n');
    }
    // Browsers' pages and extensions may read these from anywhere.
    res.setHeader('access-control-allow-origin', '*');
    if (path === '/health') return send(res, 200, 'application/json', JSON.stringify(this.health()));
    if (path === '/metrics') return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', this.metrics());
    if (path === '/descriptor') return send(res, 200, 'application/octet-stream', this.#descriptor!.bytes);
    if (path === '/descriptors') return serveDescriptors(this.#descriptor!, req, res);
    if (path === '/descriptor.json') return send(res, 200, 'application/json', JSON.stringify(descriptorJson(this.#descriptor!.current)));
    send(res, 404, 'application/json', JSON.stringify({ error: 'not found', paths: ['/health', '/metrics', '/descriptor', '/descriptor.json'] }));
  }

  // ---- WebSocket: admission (what each connection says is relay/connection.ts) -------------

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err: Error) => this.#emit('debug', 'relay-socket-error', { peer: peerOf(req), message: err.message }));
    const ip = ipKey(req.socket.remoteAddress);
    const turnAway = (status: number, reason: string, message: string) => {
      this.#metrics.refused(reason);
      this.#emit('warn', 'relay-connection-refused', { peer: peerOf(req), reason: message });
      refuse(socket, status, message);
    };
    if (!this.#wss || this.#stopping) return turnAway(503, 'stopping', 'the relay is shutting down');
    if (this.#sockets >= this.#opts.maxConnections) {
      return turnAway(503, 'server-full', `at the cap of ${this.#opts.maxConnections} connections`);
    }
    if (this.#ipConnections.get(ip) >= this.#limits.perIpConnections) {
      return turnAway(429, 'ip-limit', `at the cap of ${this.#limits.perIpConnections} connections from one address`);
    }
    // Counted from the upgrade request until the socket closes, handshake or not,
    // so a crowd of half-open handshakes counts too.
    this.#sockets++;
    this.#ipConnections.add(ip);
    socket.once('close', () => {
      this.#sockets--;
      this.#ipConnections.remove(ip);
    });
    if ((req.url ?? '').split('?', 1)[0] === RELAY_SIGNALLING_PATH) {
      this.#metrics.connectionsTotal++;
      return this.#signalling!.handleUpgrade(req, socket, head);
    }
    if ((req.url ?? '').split('?', 1)[0] === ONION_RELAY.path) {
      const onion = this.#onion;
      if (!onion) return refuse(socket, 404, 'this relay forwards no onion packets');
      this.#metrics.connectionsTotal++;
      return this.#wss.handleUpgrade(req, socket, head, (ws) => (this.#stopping ? ws.terminate() : onion.accept(ws)));
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, ip, peerOf(req)));
  }

  #accept(ws: WsSocket, ip: string, peer: string): void {
    if (this.#stopping) return ws.terminate();
    const conn = new RelayConnection(ws, ip, peer, this.#context, () => this.#connections.delete(conn));
    this.#connections.add(conn);
    this.#metrics.connectionsTotal++;
    this.#emit('debug', 'relay-connection-open', { peer });
  }

  // ---- Helpers ----------------------------------------------------------------------------

  #every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.#timers.push(timer);
  }

  #uptimeS(): number {
    return this.#startedAt ? Math.round((Date.now() - this.#startedAt) / 1000) : 0;
  }

  #dhtNodes(): number {
    try {
      return this.#opts.dht.toJSON().nodes.length;
    } catch {
      return 0;
    }
  }

  #emit(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.#log({ level, event, ...fields });
  }
}

function peerOf(req: IncomingMessage): string {
  const { remoteAddress, remotePort } = req.socket;
  return `${remoteAddress}:${remotePort}`;
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

/** Answers an upgrade or request the relay will not serve, then closes. */
function refuse(socket: Duplex, status: number, reason: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = `${reason}\n`;
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`,
  );
  // end(), not destroy(): a reset could reach the client before our answer.
  socket.end(body);
  (socket as Socket).setTimeout?.(2000, () => socket.destroy());
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

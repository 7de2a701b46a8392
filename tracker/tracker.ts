// A BitTorrent tracker for SpareCycles swarms: bittorrent-tracker's Server,
// with HTTP, UDP and WebSocket (browsers' WebRTC signalling) on one port.
// A bad peer gets a `failure reason` and a `warn` log line; only our own
// faults are logged as `error`, and nothing a peer sends may crash us.

import type { Socket as UdpSocket } from 'node:dgram';
import { STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { Server, type AnnounceParams, type PeerType } from 'bittorrent-tracker';
import { encode } from '../protocol/bencode.ts';
import { validOffers, WS_MAX_PAYLOAD } from '../serve/signalling.ts';
import { SpareCyclesError, UsageError } from '../protocol/errors.ts';

export type LogLine = Record<string, unknown>;

export interface TrackerOptions {
  /** 0 picks a free port (the same number for TCP and UDP). */
  port?: number;
  /** An IP address; 0.0.0.0 means every IPv4 interface, :: every interface of both families. */
  host?: string;
  log?: (line: LogLine) => void;
  /** Return false to refuse announces for this info-hash (hex). */
  filter?: (infoHash: string, type: PeerType) => boolean;
}

export interface TrackerStats {
  uptimeS: number;
  torrents: number;
  activeTorrents: number;
  /** Swarm memberships: a peer in two swarms counts twice. */
  peers: { total: number; seeders: number; leechers: number } & Record<PeerType, number>;
  announces: number;
  warnings: number;
}

const ANNOUNCE_EVENTS = ['start', 'update', 'complete', 'stop', 'pause'];
const PORT_ATTEMPTS = 5;

export class TrackerServer {
  readonly #opts: TrackerOptions;
  readonly #host: string;
  readonly #log: (line: LogLine) => void;
  #server: Server | undefined;
  #stopping: Promise<void> | undefined;
  #port = 0;
  #startedAt = 0;
  #announces = 0;
  #warnings = 0;

  constructor(opts: TrackerOptions = {}) {
    this.#opts = opts;
    this.#host = opts.host ?? '127.0.0.1';
    if (!isIP(this.#host)) throw new UsageError(`host: expected an IP address, got ${JSON.stringify(this.#host)}`);
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`port: expected 0..65535, got ${port}`);
    this.#log = opts.log ?? ((line) => process.stderr.write(`${JSON.stringify(line)}\n`));
  }

  get port(): number {
    return this.#port;
  }

  get urls(): { http: string; udp: string; ws: string } {
    // Unspecified addresses are for binding; a URL needs one a client can dial.
    const host = this.#host === '0.0.0.0' ? '127.0.0.1' : this.#host === '::' ? '::1' : this.#host;
    const hostPort = `${isIP(host) === 6 ? `[${host}]` : host}:${this.#port}`;
    return { http: `http://${hostPort}/announce`, udp: `udp://${hostPort}`, ws: `ws://${hostPort}` };
  }

  async start(): Promise<void> {
    if (this.#server || this.#stopping) throw new SpareCyclesError('INTERNAL', 'tracker: start() after start() or stop()');
    for (let attempt = 1; ; attempt++) {
      const server = this.#create();
      try {
        this.#port = await bind(server, this.#opts.port ?? 0, this.#host);
        if (this.#stopping) throw new SpareCyclesError('INTERNAL', 'tracker: stop() called during start()');
        this.#server = server;
        break;
      } catch (err) {
        await close(server);
        // With port 0 the kernel's free TCP port may be taken for UDP; try another.
        const retry = !this.#opts.port && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < PORT_ATTEMPTS;
        if (!retry) throw err;
      }
    }
    this.#startedAt = Date.now();
    this.#emit('info', 'start', { host: this.#host, port: this.#port, urls: this.urls });
  }

  /** Closes every socket, WebSocket peers included. Safe to call more than once. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const server = this.#server;
      this.#server = undefined;
      if (!server) return;
      await close(server);
      this.#emit('info', 'stop', { port: this.#port });
    })();
    return this.#stopping;
  }

  stats(): TrackerStats {
    const swarms = Object.values(this.#server?.torrents ?? {});
    const peers = { total: 0, seeders: 0, leechers: 0, http: 0, udp: 0, ws: 0 };
    let activeTorrents = 0;
    for (const swarm of swarms) {
      if (swarm.peers.keys.length > 0) activeTorrents++;
      for (const key of swarm.peers.keys) {
        const peer = swarm.peers.peek(key); // peek: counting must not refresh a peer's LRU age
        if (!peer) continue;
        peers.total++;
        peers[peer.complete ? 'seeders' : 'leechers']++;
        peers[peer.type]++;
      }
    }
    const uptimeS = this.#startedAt ? Math.round((Date.now() - this.#startedAt) / 1000) : 0;
    return { uptimeS, torrents: swarms.length, activeTorrents, peers, announces: this.#announces, warnings: this.#warnings };
  }

  #create(): Server {
    const server = new Server({
      stats: false, // we serve /stats ourselves, from stats()
      ws: { maxPayload: WS_MAX_PAYLOAD, clientTracking: true },
      filter: (infoHash, params, cb) => cb(this.#admit(infoHash, params)),
    });
    // The library adds its own 'request' handler on the next tick and skips
    // requests already answered, so this one, added now, runs first.
    server.http!.on('request', (req: IncomingMessage, res: ServerResponse) => this.#route(req, res));
    const refused = new WeakSet<Socket>();
    server.http!.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // Node's parser may report one bad request more than once.
      if (refused.has(socket)) return void socket.destroy();
      refused.add(socket);
      this.#warn(err, 'http');
      refuse(socket, err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400, 'bad HTTP request');
    });
    server.ws!.on('wsClientError', (err: Error, socket: Socket) => {
      this.#warn(err, 'ws');
      refuse(socket, 400, 'bad WebSocket handshake');
    });
    server.on('warning', (err: Error) => this.#warn(err));
    server.on('error', (err: Error) => {
      // Before listening, bind() reports the error; after, it is ours to fix.
      if (this.#server === server) this.#emit('error', 'error', { message: err.message, code: (err as NodeJS.ErrnoException).code });
    });
    for (const name of ANNOUNCE_EVENTS) server.on(name, () => this.#announces++);
    return server;
  }

  /** Runs before the library touches an announce; an Error here becomes its `failure reason`. */
  #admit(infoHash: string, params: AnnounceParams): Error | null {
    // The library forwards offers[i].offer to other WebSocket peers without
    // checking, outside any try: `offers: [null]` would crash the process.
    if (params.offers !== undefined && !validOffers(params.offers)) return new SpareCyclesError('PROTOCOL', 'invalid offers');
    if (!this.#opts.filter) return null;
    try {
      return this.#opts.filter(infoHash, params.type) ? null : new SpareCyclesError('PROTOCOL', 'torrent not allowed on this tracker');
    } catch (err) {
      this.#emit('error', 'error', { message: `filter threw: ${(err as Error).message}` });
      return new SpareCyclesError('INTERNAL', 'tracker filter failed');
    }
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') return;
    const path = (req.url ?? '').split('?', 1)[0];
    if (path === '/health') sendJson(res, { ok: true, uptimeS: this.stats().uptimeS });
    else if (path === '/stats.json') sendJson(res, this.stats());
    else if (path === '/stats') {
      const s = this.stats();
      const rows: [string, number][] = [
        ['torrents', s.torrents], ['active torrents', s.activeTorrents], ['peers', s.peers.total],
        ['seeders', s.peers.seeders], ['leechers', s.peers.leechers], ['HTTP peers', s.peers.http],
        ['UDP peers', s.peers.udp], ['WebSocket peers', s.peers.ws], ['announces served', s.announces],
        ['warnings', s.warnings], ['uptime (s)', s.uptimeS],
      ];
      const body = rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('\n');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html>\n<title>SpareCycles tracker</title>\n<h1>SpareCycles tracker</h1>\n<table>\n${body}\n</table>\n`);
    }
  }

  #warn(err: Error, source?: string): void {
    this.#warnings++;
    const code = (err as NodeJS.ErrnoException).code;
    this.#emit('warn', 'warning', { message: err.message, ...(source && { source }), ...(code && { code }) });
  }

  #emit(level: 'info' | 'warn' | 'error', event: string, fields: LogLine): void {
    try {
      this.#log({ time: new Date().toISOString(), level, event, ...fields });
    } catch {
      // A broken log sink must not take the tracker down with it.
    }
  }
}

function sendJson(res: ServerResponse, value: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** Answers a request Node's HTTP parser gave up on, with a bencoded reason as the library would. */
function refuse(socket: Socket, status: number, reason: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = encode({ 'failure reason': reason });
  socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n`);
  // end(), not destroy(): a reset could reach the client before our answer.
  // The timeout reaps a client that never closes its side.
  socket.end(body);
  socket.setTimeout(2000, () => socket.destroy());
}

/** Listens HTTP (and so WS) first, then binds UDP to the port it got. */
async function bind(server: Server, port: number, host: string): Promise<number> {
  const family = isIP(host);
  // bittorrent-tracker always makes a udp6 socket and binding it to an IPv4
  // address fails with EINVAL, so only the sockets the host's family needs
  // are bound; `::` binds both, as the library does when given no host.
  const udp4Host = family === 4 ? host : host === '::' ? '0.0.0.0' : undefined;
  const udp6Host = family === 6 ? host : undefined;
  const http = server.http!;
  await listening(http, () => http.listen(port, host));
  const bound = (http.address() as { port: number }).port;
  for (const [socket, udpHost] of [[server.udp4!, udp4Host], [server.udp6!, udp6Host]] as const) {
    if (udpHost === undefined) socket.close();
    else await listening(socket, () => socket.bind(bound, udpHost));
  }
  return bound;
}

function listening(emitter: HttpServer | UdpSocket, go: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      emitter.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      emitter.off('error', onError);
      resolve();
    };
    emitter.once('error', onError);
    emitter.once('listening', onListening);
    go();
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // Neither ws nor http.Server.close() ends open connections, and close()
    // waits for them: end WebSocket peers and half-sent requests ourselves.
    for (const client of server.ws?.clients ?? []) client.terminate();
    server.close(() => resolve());
    server.http?.closeAllConnections();
  });
}

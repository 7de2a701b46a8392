// WebRTC signalling for browsers, without a port of its own: a WebSocket
// tracker (bittorrent-tracker's, as tracker/ runs) whose upgrades another
// server hands over. An edge relay mounts it at /announce, so a browser that
// knows only its relay can still meet taskers and peers over WebRTC: the
// relay passes their offers and answers along and never sees the data.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server } from 'bittorrent-tracker';
import { SpareCyclesError } from '../protocol/errors.ts';

// Big enough for 82 WebRTC offers with full SDP; ws would otherwise take 100 MiB.
export const WS_MAX_PAYLOAD = 256 * 1024;

/** Whether an announce's `offers` have the shape bittorrent-tracker forwards without crashing. */
export function validOffers(offers: unknown): boolean {
  return (
    Array.isArray(offers) &&
    offers.every((o) => typeof o === 'object' && o !== null && typeof o.offer_id === 'string' && typeof o.offer === 'object')
  );
}

export interface SignallingStats {
  swarms: number;
  peers: number;
}

export class Signalling {
  readonly #server: Server;
  #closed = false;

  constructor(options: { warn?: (message: string) => void } = {}) {
    this.#server = new Server({
      http: false,
      udp: false,
      stats: false,
      ws: { noServer: true, maxPayload: WS_MAX_PAYLOAD, clientTracking: true },
      // The library forwards offers[i].offer unchecked, outside any try: refuse malformed ones first.
      filter: (_infoHash, params, cb) => cb(params.offers !== undefined && !validOffers(params.offers) ? new SpareCyclesError('PROTOCOL', 'invalid offers') : null),
    });
    this.#server.on('warning', (err: Error) => options.warn?.(err.message));
    this.#server.on('error', (err: Error) => options.warn?.(err.message));
  }

  /** Takes over an HTTP upgrade request for the signalling path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closed) return void socket.destroy();
    const ws = this.#server.ws!;
    ws.handleUpgrade(req, socket, head, (conn) => ws.emit('connection', conn, req));
  }

  stats(): SignallingStats {
    const swarms = Object.values(this.#server.torrents);
    let peers = 0;
    for (const swarm of swarms) peers += swarm.peers.keys.length;
    return { swarms: swarms.length, peers };
  }

  /** Ends every signalling connection; upgrades after this are refused. Attached to a server of its caller's, it has nothing to start. */
  stop(): Promise<void> {
    this.#closed = true;
    for (const client of this.#server.ws?.clients ?? []) client.terminate();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

// A relay's onion forwarding, put together (docs/relay-onion.md): the
// sockets at the onion path, the links to other relays, the router that
// peels each packet, the mailboxes and the exits. relay/relay.ts mounts it.

import { ONION } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import type { OnionKeyring } from '../protocol/onion/index.ts';
import type { Logger } from '../serve/log.ts';
import type { WsSocket } from '../serve/ws.ts';
import type { OnionGauges, RelayMetrics } from './metrics.ts';
import { MintExit } from './onion-exit.ts';
import { OnionLinks, type LinkLimits } from './onion-links.ts';
import { Mailboxes, type MailboxLimits } from './onion-mailboxes.ts';
import { ExitRegistry, OnionRouter, type RouterLimits, type RouterReplay } from './onion-router.ts';
import { DEFAULT_CLIENT_LIMITS, OnionSocket, type ClientLimits } from './onion-socket.ts';

/** What a relay is given to forward onion packets. */
export interface OnionOptions {
  /** This relay's onion secrets by epoch (relay/onion-keys.ts keeps the real ones). */
  keys: OnionKeyring;
  /** Other relays' URLs by id, for dialing links. Default (in RelayServer): the relay's own view of the directory. */
  lookup?: (id: Uint8Array) => string | undefined;
  /** The current epoch; network-wide hours (ONION.epochMs) unless given. */
  epoch?: () => number;
  /** The exit policy: mints this relay delivers to. */
  mintOrigins?: readonly string[];
  /** The mint exit's fetch (tests hand in their own, or none: the global one). */
  fetch?: typeof fetch;
  limits?: Partial<OnionLimits>;
  /**
   * Where the router keeps replay tags: a DiskReplayStore beside onion keys
   * that outlive a restart (relay/onion-replay-store.ts), which the caller
   * closes after the relay stops. In memory unless given.
   */
  replay?: RouterReplay;
}

export type OnionLimits = LinkLimits & ClientLimits & RouterLimits & { mailboxTtlMs: number; perMailbox: number; maxMailboxes: number };

export interface OnionServiceOptions extends OnionOptions {
  lookup: NonNullable<OnionOptions['lookup']>;
  backend: CryptoBackend;
  identity: Identity;
  metrics: RelayMetrics;
  log: Logger;
}

const SWEEP_MS = 30_000;

export class OnionService {
  readonly exits = new ExitRegistry();
  readonly mailboxes: Mailboxes;
  readonly router: OnionRouter;
  readonly links: OnionLinks;
  readonly #o: OnionServiceOptions;
  readonly #clientLimits: ClientLimits;
  readonly #sockets = new Set<OnionSocket>();
  readonly #mintExit: MintExit | undefined;
  readonly #sweeper: ReturnType<typeof setInterval>;
  #clients = 0;

  constructor(options: OnionServiceOptions) {
    this.#o = options;
    const limits = options.limits ?? {};
    const { backend, identity, metrics, log } = options;
    this.#clientLimits = { ...DEFAULT_CLIENT_LIMITS, ...pick(limits, ['maxClients', 'perClientPerMinute', 'mailboxesPerClient']) };
    this.mailboxes = new Mailboxes(backend, {
      ...(limits.mailboxTtlMs === undefined ? {} : { ttlMs: limits.mailboxTtlMs }),
      ...pick(limits, ['perMailbox', 'maxMailboxes']),
    } satisfies Partial<MailboxLimits>);
    this.router = new OnionRouter({
      backend,
      id: identity.publicKey,
      keys: options.keys,
      epoch: options.epoch ?? (() => Math.floor(Date.now() / ONION.epochMs)),
      send: (next, packet) => this.links.send(next, packet),
      mailboxes: this.mailboxes,
      exits: this.exits,
      metrics,
      log,
      limits: pick(limits, ['maxDelayMs', 'maxDelayed', 'maxReplayTags', 'graceEpochs']),
      ...(options.replay ? { replay: options.replay } : {}),
    });
    this.links = new OnionLinks({
      backend,
      identity,
      lookup: options.lookup,
      receive: (packet) => this.router.receive(packet, 'link'),
      refused: (code) => this.router.refused(code),
      metrics,
      log,
      limits: pick(limits, ['maxLinks', 'perLinkPerMinute', 'idleMs', 'backoffMs', 'maxBackoffMs', 'queue', 'handshakeMs']),
    });
    if (options.mintOrigins && options.mintOrigins.length > 0) {
      this.#mintExit = new MintExit({ backend, origins: options.mintOrigins, ...(options.fetch ? { fetch: options.fetch } : {}) });
      this.#mintExit.register(this.exits);
    }
    this.#sweeper = setInterval(() => {
      this.links.sweep();
      this.mailboxes.sweep();
    }, SWEEP_MS);
    this.#sweeper.unref?.();
  }

  /** A WebSocket that came in at the onion path. */
  accept(ws: WsSocket): void {
    if (this.#clients >= this.#clientLimits.maxClients) {
      this.router.refused('BUSY');
      return ws.close(1013, 'at the cap of onion clients');
    }
    this.#clients++;
    const socket: OnionSocket = new OnionSocket(ws, {
      backend: this.#o.backend,
      identity: this.#o.identity,
      links: this.links,
      mailboxes: this.mailboxes,
      limits: this.#clientLimits,
      receive: (packet, from) => this.router.receive(packet, from),
      refused: (code) => this.router.refused(code),
      clientGone: () => this.#clients--,
    });
    this.#sockets.add(socket);
    ws.once('close', () => this.#sockets.delete(socket));
  }

  gauges(): OnionGauges {
    return {
      links: this.links.size,
      clients: this.#clients,
      mailboxes: this.mailboxes.size,
      held: this.mailboxes.held,
      delayed: this.router.delayed,
      replayTags: this.router.replayTags,
    };
  }

  stop(): void {
    clearInterval(this.#sweeper);
    this.router.stop();
    this.#mintExit?.stop();
    this.links.stop();
    for (const socket of this.#sockets) socket.terminate();
    this.#sockets.clear();
  }
}

function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

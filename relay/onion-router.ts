// What a relay does with each onion packet (docs/relay-onion.md): peel it
// (protocol/onion's processPacket, with this relay's onion keys and replay
// tags), then, after the hop's delay (capped), send it on to the next relay,
// hand its message to a mailbox or an exit, or leave a reply in a mailbox.
// A packet that is refused is counted by its error code and forgotten; no
// packet can throw out of here. The router keeps nothing that ties a packet
// that came in to one that went out: no log line names a packet, and the
// only per-packet state is the replay tag (and a timer while a delay runs).
// With a replay store on disk, a packet also waits until its tag is synced
// (relay/onion-replay-store.ts): none leaves before a restart would still
// refuse its replay.

import { equalBytes, toHex } from '../protocol/bytes.ts';
import type { ErrorCode } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { MemoryReplayStore, processPacket, replyPacket, type OnionKeyring, type Processed, type ReplayStore, type Surb } from '../protocol/onion/index.ts';
import type { Logger } from '../serve/log.ts';
import type { RelayMetrics } from './metrics.ts';
import type { Mailboxes } from './onion-mailboxes.ts';

/** Answers a delivered message on its sender's reply block. */
export type ExitAnswer = (surb: Surb, message: Uint8Array) => void;

/** A service behind this relay that routes deliver to (a mint, later others). Errors it throws or rejects with are counted by code. */
export type ExitHandler = (message: Uint8Array, answer: ExitAnswer) => void | Promise<void>;

/** Exits by destination id: `exits.set(id, handler)` plugs one in. */
export class ExitRegistry {
  readonly #handlers = new Map<string, ExitHandler>();

  set(destination: Uint8Array, handler: ExitHandler): void {
    this.#handlers.set(toHex(destination), handler);
  }

  get(destination: Uint8Array): ExitHandler | undefined {
    return this.#handlers.get(toHex(destination));
  }

  delete(destination: Uint8Array): void {
    this.#handlers.delete(toHex(destination));
  }

  get size(): number {
    return this.#handlers.size;
  }
}

export interface RouterLimits {
  /** The longest a hop's delay is honoured; longer ones are cut to this. */
  maxDelayMs: number;
  /** Packets waiting out a delay at once; more are dropped (BUSY). */
  maxDelayed: number;
  /** Replay tags held before new packets are dropped (BUSY), about 100 bytes each. */
  maxReplayTags: number;
  /** Epochs before the current one whose tags are kept: the keyring's grace. */
  graceEpochs: number;
}

/** The replay tags the router checks packets against: in memory (the default), or on disk (DiskReplayStore). */
export interface RouterReplay extends ReplayStore {
  /** Tags held, across epochs. */
  readonly size: number;
  /** Forgets the tags of every epoch before `epoch`. */
  forgetBefore(epoch: number): void;
  /** Resolves once every tag added so far is durable; undefined when none waits (always, in memory). */
  durable?(): Promise<void> | undefined;
}

export const DEFAULT_ROUTER_LIMITS: RouterLimits = { maxDelayMs: 60_000, maxDelayed: 10_000, maxReplayTags: 4_000_000, graceEpochs: 1 };

export interface OnionRouterOptions {
  backend: CryptoBackend;
  /** This relay's id (its ed25519 identity key): a packet forwarded to it is processed here again. */
  id: Uint8Array;
  keys: OnionKeyring;
  /** The current onion-key epoch; tags of epochs older than the grace are forgotten. */
  epoch: () => number;
  /** Sends (or queues) a packet for the relay `next`, counting it out when it leaves; false when it cannot go. */
  send: (next: Uint8Array, packet: Uint8Array) => boolean;
  mailboxes: Mailboxes;
  exits: ExitRegistry;
  metrics: RelayMetrics;
  log: Logger;
  limits?: Partial<RouterLimits>;
  /** Where replay tags are kept; a fresh in-memory store unless given. */
  replay?: RouterReplay;
}

export class OnionRouter {
  readonly #o: OnionRouterOptions;
  readonly #limits: RouterLimits;
  readonly #replay: RouterReplay;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Packets peeled whose tags are not yet durable. */
  #unsynced = 0;
  #forgotten = Number.NEGATIVE_INFINITY;
  #stopped = false;
  /** The last fault logged: a store that has failed fails every packet with the same error, logged once. */
  #lastFault: unknown;

  constructor(options: OnionRouterOptions) {
    this.#o = options;
    this.#limits = { ...DEFAULT_ROUTER_LIMITS, ...options.limits };
    this.#replay = options.replay ?? new MemoryReplayStore();
  }

  get delayed(): number {
    return this.#timers.size;
  }

  get replayTags(): number {
    return this.#replay.size;
  }

  /** One packet from a link or a client. Never throws. */
  receive(packet: Uint8Array, from: 'link' | 'client'): void {
    if (this.#stopped) return;
    this.#o.metrics.onionPacketIn(from);
    this.#process(packet);
  }

  /** Counts a refusal that happened before the router saw the packet (a rate limit, a frame that is no packet). */
  refused(code: ErrorCode): void {
    this.#o.metrics.onionRefusedWith(code);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #process(packet: Uint8Array): void {
    this.#forgetOldEpochs();
    if (this.#replay.size >= this.#limits.maxReplayTags) return this.refused('BUSY');
    // Packets held for a sync count against the same cap as those held for a delay: a disk that stalls sheds load.
    if (this.#unsynced >= this.#limits.maxDelayed) return this.refused('BUSY');
    let out: Processed;
    try {
      out = processPacket(this.#o.backend, packet, { keys: this.#o.keys, replay: this.#replay });
    } catch (error) {
      return this.#fail(error);
    }
    const durable = this.#replay.durable?.();
    if (durable === undefined) return this.#hold(out);
    this.#unsynced++;
    durable.then(
      () => {
        this.#unsynced--;
        if (!this.#stopped) this.#hold(out);
      },
      (error: unknown) => {
        this.#unsynced--;
        // Its tag may not be on disk: the packet is dropped, never sent.
        if (!this.#stopped) this.#fail(error);
      },
    );
  }

  /** Waits out the hop's delay, then acts. */
  #hold(out: Processed): void {
    const delay = Math.min(out.delayMs, this.#limits.maxDelayMs);
    if (delay === 0) return this.#act(out);
    if (this.#timers.size >= this.#limits.maxDelayed) return this.refused('BUSY');
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#stopped) this.#act(out);
    }, delay);
    timer.unref?.();
    this.#timers.add(timer);
  }

  #act(out: Processed): void {
    try {
      switch (out.kind) {
        case 'forward':
          return this.#forward(out.next, out.packet);
        case 'deliver':
          return this.#deliver(out.destination, out.message);
        case 'reply':
          return this.#mail(out.destination, { data: out.payload, surbId: out.surbId });
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  #forward(next: Uint8Array, packet: Uint8Array): void {
    // A route may pass through this relay twice; it peels its next layer like any other packet.
    if (equalBytes(next, this.#o.id)) return void queueMicrotask(() => this.#process(packet));
    if (!this.#o.send(next, packet)) this.refused('NETWORK');
  }

  #deliver(destination: Uint8Array, message: Uint8Array): void {
    if (this.#o.mailboxes.has(destination)) return this.#mail(destination, { data: message });
    const exit = this.#o.exits.get(destination);
    if (exit === undefined) return this.refused('NOT_FOUND');
    this.#o.metrics.onionDeliveredTo('exit');
    let pending: void | Promise<void>;
    try {
      pending = exit(message, (surb, answer) => this.#answer(surb, answer));
    } catch (error) {
      return this.#fail(error);
    }
    if (pending instanceof Promise) pending.catch((error: unknown) => this.#fail(error));
  }

  #mail(mailbox: Uint8Array, mail: { data: Uint8Array; surbId?: Uint8Array }): void {
    const put = this.#o.mailboxes.put(mailbox, mail);
    if (put === 'unknown') return this.refused('NOT_FOUND');
    if (put === 'full') return this.refused('BUSY');
    this.#o.metrics.onionDeliveredTo('mailbox');
  }

  #answer(surb: Surb, message: Uint8Array): void {
    if (this.#stopped) return;
    const { firstHop, packet } = replyPacket(this.#o.backend, surb, message);
    this.#forward(firstHop, packet);
  }

  #forgetOldEpochs(): void {
    const keep = this.#o.epoch() - this.#limits.graceEpochs;
    if (keep <= this.#forgotten) return;
    this.#replay.forgetBefore(keep);
    this.#forgotten = keep;
  }

  #fail(error: unknown): void {
    if (error instanceof SpareCyclesError && error.code !== 'INTERNAL') return this.refused(error.code);
    // Not a packet's fault: a bug of ours, or a replay store that cannot write. Counted and logged without the packet.
    this.refused('INTERNAL');
    if (error === this.#lastFault) return;
    this.#lastFault = error;
    try {
      this.#o.log({ level: 'error', event: 'relay-onion-fault', message: error instanceof Error ? error.message : String(error) });
    } catch {
      // A broken log sink must not take the relay down with it.
    }
  }
}

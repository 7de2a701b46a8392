// Workers that cheat, built from the engine's own seams instead of hooks in
// it: the unit runner it is given (worker/ports.ts UnitRunner) and the
// channels its torrent port hands it (protocol/channel.ts). Each wraps the
// real part, so an adversary runs the same engine, threads and wires as an
// honest worker and differs only where it chooses to lie.
//
//   wrong      corrupting(runner, edit)         computes, then changes the output
//   lazy       idle(size, output)               never computes; answers at once
//   copying    copying(runner, board)           sends another worker's output as its own
//   colluding  colluding(runner, board, edit)   lies only when a partner holds the same unit
//   replaying  tappedPort(port, tap)            sees every task wire's frames, and can send
//                                               what it saw on one wire down another
//   impostor   new Impostor(backend, identity)  no engine: answers nothing, replays the tasker's
//                                               handshake answer to workers and workers'
//                                               initiations to the tasker, relays one worker's
//                                               handshake and then swallows what follows

import type { FrameChannel, FrameListener } from '../protocol/channel.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { HandshakeClock, Initiation, decodeFrame, type FrameKind } from '../protocol/handshake.ts';
import type { UnitRequest } from '../protocol/unit.ts';
import type { UnitOutcome } from '../units/pool.ts';
import type { TorrentPort, UnitRunner } from '../worker/ports.ts';

/** A worker that computes every unit and sends something else. */
export function corrupting(runner: UnitRunner, edit: (unit: number, output: Uint8Array) => Uint8Array): UnitRunner {
  return {
    get size() {
      return runner.size;
    },
    async run(module, request, timeMs) {
      const outcome = await runner.run(module, request, timeMs);
      return { ...outcome, output: edit(request.unit, outcome.output) };
    },
  };
}

/** A worker that computes nothing: every unit "takes" `busyMs` and yields `output(unit)`. */
export function idle(size: number, output: (unit: number) => Uint8Array, busyMs = 1): UnitRunner {
  return {
    size,
    run: async (_module, request) => ({ output: output(request.unit), busyMs }),
  };
}

/**
 * Where cheaters who cooperate meet: outputs they have seen, and which of
 * them holds which unit. Shared by the adversaries of one test, as a real
 * ring would share a server of its own.
 */
export class Board {
  private readonly outputs = new Map<number, UnitOutcome>();
  private readonly holders = new Map<number, Set<string>>();
  private readonly waiters = new Set<() => void>();

  publish(unit: number, outcome: UnitOutcome): void {
    this.outputs.set(unit, outcome);
    this.wake();
  }

  output(unit: number): UnitOutcome | undefined {
    return this.outputs.get(unit);
  }

  hold(unit: number, who: string): void {
    let set = this.holders.get(unit);
    if (!set) this.holders.set(unit, (set = new Set()));
    set.add(who);
    this.wake();
  }

  release(unit: number, who: string): void {
    this.holders.get(unit)?.delete(who);
  }

  /** Whether someone other than `who` holds `unit`. */
  partnered(unit: number, who: string): boolean {
    return [...(this.holders.get(unit) ?? [])].some((other) => other !== who);
  }

  /** Resolves when `ready()` holds, or false after `ms`. */
  waitFor(ready: () => boolean, ms: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!ready()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, ms);
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}

/**
 * A worker that sends another's output for a unit when the board has one
 * (within `waitMs`), and computes only when it must; what it computes it
 * shares too.
 */
export function copying(runner: UnitRunner, board: Board, waitMs = 0): UnitRunner {
  return {
    get size() {
      return runner.size;
    },
    async run(module, request, timeMs) {
      if (await board.waitFor(() => board.output(request.unit) !== undefined, waitMs)) return board.output(request.unit)!;
      const outcome = await runner.run(module, request, timeMs);
      board.publish(request.unit, outcome);
      return outcome;
    },
  };
}

/**
 * One of a ring of cheaters: it announces each unit it holds and waits up to
 * `waitMs` for a partner to hold the same unit. With a partner, both send the
 * same edited output (so they agree with each other and disagree with the
 * truth); alone, it computes honestly and builds a clean record.
 */
export function colluding(
  runner: UnitRunner,
  board: Board,
  who: string,
  edit: (unit: number, output: Uint8Array) => Uint8Array,
  waitMs: number,
): UnitRunner {
  return {
    get size() {
      return runner.size;
    },
    async run(module, request: UnitRequest, timeMs) {
      board.hold(request.unit, who);
      try {
        const partner = await board.waitFor(() => board.partnered(request.unit, who), waitMs);
        const outcome = await runner.run(module, request, timeMs);
        return partner ? { ...outcome, output: edit(request.unit, outcome.output) } : outcome;
      } finally {
        board.release(request.unit, who);
      }
    },
  };
}

/** What a tap sees of one task wire, and how it speaks on it. */
export interface Tapped {
  channel: FrameChannel;
  /** Every frame that arrived on this wire, as it arrived (encrypted once the handshake is done). */
  received: Uint8Array[];
}

/**
 * A torrent port whose task wires pass through `tap` first: it sees every
 * wire open and every frame arrive before the engine does, may drop a frame
 * by returning false, and may send any frame it holds down any wire it has
 * seen (a replay). The engine behind it is untouched.
 */
export function tappedPort(port: TorrentPort, tap: (event: { channel: Tapped; frame?: Uint8Array }) => boolean | void): TorrentPort {
  return {
    ...port,
    openTask(magnet, listener) {
      const seen = new Map<FrameChannel, Tapped>();
      const wrapped: FrameListener = {
        open(channel) {
          const tapped: Tapped = { channel, received: [] };
          seen.set(channel, tapped);
          tap({ channel: tapped });
          listener.open(channel);
        },
        frame(channel, frame) {
          const tapped = seen.get(channel);
          tapped?.received.push(frame);
          if (tapped && tap({ channel: tapped, frame }) === false) return;
          listener.frame(channel, frame);
        },
        closed(channel) {
          seen.delete(channel);
          listener.closed(channel);
        },
      };
      return port.openTask(magnet, wrapped);
    },
  };
}

function kindOf(frame: Uint8Array): FrameKind | undefined {
  try {
    return decodeFrame(frame).kind;
  } catch {
    return undefined;
  }
}

/**
 * A peer in a task's swarm that tries to pass for others on the task wires,
 * with nothing but what it overhears and a key of its own:
 *
 * - it greets every wire with a handshake of its own, so the tasker answers
 *   it, and it sends that answer down every wire where a worker greeted it
 *   (a replayed tasker hello: it answers another ephemeral key);
 * - it sends each worker's initiation down the tasker's wire twice, late (a
 *   replayed worker hello: the second copy at least is refused by its
 *   timestamp);
 * - for the first worker it also relays the tasker's answer back and the
 *   worker's confirmation on, so that worker holds a channel to the real
 *   tasker through it, and then swallows everything that follows.
 *
 * Pass `frames` to a torrent port's openTask; `stats` counts what it tried.
 */
export class Impostor implements FrameListener {
  readonly stats = { answersReplayed: 0, initiationsReplayed: 0, relayed: 0 };
  private readonly channels = new Set<FrameChannel>();
  /** Workers' wires and the initiation each sent us. */
  private readonly workers = new Map<FrameChannel, Uint8Array>();
  private taskerWire: FrameChannel | undefined;
  private answer: Uint8Array | undefined;
  /** The worker whose handshake goes through, and whether its confirmation did. */
  private relayFor: FrameChannel | undefined;
  private confirmed = false;
  private own: Initiation | undefined;
  private readonly clock = new HandshakeClock();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    private readonly backend: CryptoBackend,
    private readonly identity: Identity,
    private readonly infoHash: Uint8Array,
    private readonly tasker: { key: Uint8Array; noise: Uint8Array },
    private readonly delayMs = 200,
  ) {}

  get frames(): FrameListener {
    return this;
  }

  open(channel: FrameChannel): void {
    this.channels.add(channel);
    this.own = new Initiation({
      backend: this.backend,
      identity: this.identity,
      infoHash: this.infoHash,
      responder: this.tasker,
      ts: this.clock.next(),
      caps: [],
      agent: 'impostor',
    });
    channel.send(this.own.frame);
  }

  closed(channel: FrameChannel): void {
    this.channels.delete(channel);
    this.workers.delete(channel);
  }

  frame(channel: FrameChannel, frame: Uint8Array): void {
    const kind = kindOf(frame);
    if (kind === 'initiation' && !this.workers.has(channel)) {
      this.workers.set(channel, frame);
      this.relayFor ??= channel;
      if (this.answer) this.replayAnswer(channel);
      this.later(() => this.replayInitiation(channel));
    } else if (kind === 'response' && channel !== this.relayFor) {
      if (!this.answer) {
        // Our own greeting's answer: now we know which wire is the tasker's.
        this.answer = frame;
        this.taskerWire = channel;
        for (const worker of this.workers.keys()) this.replayAnswer(worker);
        for (const worker of this.workers.keys()) this.later(() => this.replayInitiation(worker));
      } else if (this.relayFor?.open && !this.confirmed) {
        // The tasker's answer to the first worker's relayed initiation: passed back.
        this.relayFor.send(frame);
        this.stats.relayed++;
      }
    } else if (kind === 'transport' && channel === this.relayFor && !this.confirmed) {
      // The worker's confirmation goes on; after it, nothing from this wire does.
      this.confirmed = true;
      if (this.taskerWire?.open) this.taskerWire.send(frame);
    }
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }

  private later(f: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      f();
    }, this.delayMs);
    this.timers.add(timer);
  }

  private replayAnswer(worker: FrameChannel): void {
    if (!worker.open || worker === this.relayFor || !this.answer) return;
    worker.send(this.answer);
    this.stats.answersReplayed++;
  }

  private replayInitiation(worker: FrameChannel): void {
    const initiation = this.workers.get(worker);
    const tasker = this.taskerWire;
    if (!initiation || !tasker?.open || this.workers.get(tasker)) return;
    // Sent once to the tasker's wire per worker: the first copy may get an answer (relayed for the first worker), the second is a replay.
    this.workers.set(worker, new Uint8Array(0));
    if (initiation.length === 0) return;
    tasker.send(initiation);
    tasker.send(initiation);
    this.stats.initiationsReplayed += 2;
  }
}

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
//   replaying  tappedPort(port, tap)            sees every channel and message, and can send
//                                               what it saw on one channel down another

import type { ChannelListener, MessageChannel } from '../protocol/channel.ts';
import type { Sealed } from '../protocol/messages/index.ts';
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

/** What a tap sees of one channel, and how it speaks on it. */
export interface Tapped {
  channel: MessageChannel;
  /** Every message that arrived on this channel, as it arrived. */
  received: Sealed[];
}

/**
 * A torrent port whose channels pass through `tap` first: it sees every
 * channel open and every message arrive before the engine does, may drop a
 * message by returning false, and may send any sealed message it holds down
 * any channel it has seen (a replay). The engine behind it is untouched.
 */
export function tappedPort(port: TorrentPort, tap: (event: { channel: Tapped; sealed?: Sealed }) => boolean | void): TorrentPort {
  return {
    ...port,
    openTask(magnet, listener) {
      const seen = new Map<MessageChannel, Tapped>();
      const wrapped: ChannelListener = {
        open(channel) {
          const tapped: Tapped = { channel, received: [] };
          seen.set(channel, tapped);
          tap({ channel: tapped });
          listener.open(channel);
        },
        message(channel, sealed) {
          const tapped = seen.get(channel);
          tapped?.received.push(sealed);
          if (tapped && tap({ channel: tapped, sealed }) === false) return;
          listener.message(channel, sealed);
        },
        invalid: (channel, error) => listener.invalid(channel, error),
        closed(channel) {
          seen.delete(channel);
          listener.closed(channel);
        },
      };
      return port.openTask(magnet, wrapped);
    },
  };
}

// Loads a task torrent from its tasker over a stealth stream
// (protocol/messages/task-fetch.ts, docs/stealth.md "Fetching the task"),
// so a stealth worker joins no swarm: the info dictionary first, held to the
// magnet's info-hash, then every piece, each held to its SHA-1 in the info
// dictionary. It is a TaskHandle like a torrent's, and the engine loads the
// task from it exactly as from one.
//
// It sits in front of the secure layer on the stream's frames: plain
// messages (the answers) come here, the task wire's frames go up. Requests go
// a few at a time on the open stream; when the stream ends, those not
// answered go again on the next one. A block that does not fit what was
// asked is dropped; a piece or info dictionary whose hash is wrong is asked
// for again, a few times, before the load fails.

import { fromHex, toHex } from '../protocol/bytes.ts';
import type { FrameChannel, FrameListener } from '../protocol/channel.ts';
import { HashMismatchError, ProtocolError, SpareCyclesError, TimeoutError, UsageError } from '../protocol/errors.ts';
import { decodeMessage, encodeMessage, type TaskBlock, type TaskRefused } from '../protocol/messages/index.ts';
import { isTaskFetchFrame, TASK_FETCH } from '../protocol/messages/task-fetch.ts';
import type { TaskHandle } from './ports.ts';
import { pieceHash, readTaskInfo, type TaskInfo } from './task-info.ts';

export interface RoutedTaskOptions {
  /** Largest task accepted, all files together. */
  maxTaskBytes?: number;
  /** Requests unanswered at once. */
  window?: number;
  /** Wait before asking again what the tasker refused as BUSY. */
  retryMs?: number;
  /** Times one piece (or the info dictionary) may fail its hash before the load fails. */
  hashTries?: number;
  /** Told of every answer dropped. */
  warn?: (error: SpareCyclesError) => void;
}

/** An object the worker fetches: the info dictionary (`piece` undefined) or one piece. */
interface Wanted {
  piece?: number | undefined;
  block: number;
}

const key = (w: Wanted) => `${w.piece ?? 'info'}:${w.block}`;

export class RoutedTask implements TaskHandle {
  readonly infoHash: string;
  private readonly hash: Uint8Array;
  private readonly options: Required<Omit<RoutedTaskOptions, 'warn'>> & Pick<RoutedTaskOptions, 'warn'>;
  private channel: FrameChannel | undefined;
  private readonly queue: Wanted[] = [{ piece: undefined, block: 0 }];
  private readonly inFlight = new Map<string, Wanted>();
  /** The info dictionary's bytes, once its size is known. */
  private infoBytes: Uint8Array | undefined;
  private infoBlocks = new Set<number>();
  private info: TaskInfo | undefined;
  private content: Uint8Array | undefined;
  /** Blocks received per piece not yet verified. */
  private readonly blocks = new Map<number, Set<number>>();
  private verified = 0;
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;
  private readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  private settled = false;

  constructor(magnet: string, options: RoutedTaskOptions = {}) {
    this.infoHash = infoHashOf(magnet);
    this.hash = fromHex(this.infoHash);
    this.options = {
      maxTaskBytes: options.maxTaskBytes ?? 1024 * 1024 * 1024,
      window: options.window ?? 8,
      retryMs: options.retryMs ?? 1000,
      hashTries: options.hashTries ?? 3,
      ...(options.warn ? { warn: options.warn } : {}),
    };
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => {});
  }

  /** The listener for the stream's frames: answers come here, everything else goes to `upper` (the secure layer). */
  frames(upper: FrameListener): FrameListener {
    return {
      open: (channel) => {
        if (!this.channel && !this.settled) {
          this.channel = channel;
          this.pump();
        }
        upper.open(channel);
      },
      frame: (channel, frame) => {
        if (isTaskFetchFrame(frame)) this.onFrame(channel, frame);
        else upper.frame(channel, frame);
      },
      closed: (channel) => {
        if (this.channel === channel) {
          this.channel = undefined;
          // Asked on a stream that is gone: asked again on the next (those waiting after a BUSY are asked by their timers).
          for (const [k, wanted] of this.inFlight) {
            if (k.startsWith('wait:')) continue;
            this.inFlight.delete(k);
            this.queue.unshift(wanted);
          }
        }
        upper.closed(channel);
      },
    };
  }

  complete(timeoutMs: number): Promise<void> {
    if (this.settled) return this.done;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const got = this.info ? `${this.verified} of ${this.info.pieces.length} pieces` : 'no info dictionary';
        reject(new TimeoutError(`task ${this.infoHash} not fetched through routes after ${timeoutMs} ms (${got})`));
      }, timeoutMs);
    });
    return Promise.race([this.done, timeout]).finally(() => clearTimeout(timer));
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    if (!this.info || !this.content || this.verified < this.info.pieces.length) return undefined;
    const file = this.info.files.find((f) => f.path === path);
    return file && this.content.slice(file.offset, file.offset + file.length);
  }

  close(): void {
    this.closed = true;
    this.fail(new SpareCyclesError('NETWORK', 'the task fetch was closed'));
  }

  /** Pieces verified, and how many there are (once the info dictionary is here). */
  progress(): { verified: number; pieces: number | undefined } {
    return { verified: this.verified, pieces: this.info?.pieces.length };
  }

  // ---- asking ---------------------------------------------------------------------------

  private pump(): void {
    const channel = this.channel;
    if (!channel?.open || this.settled || this.closed) return;
    while (this.inFlight.size < this.options.window && this.queue.length > 0) {
      const wanted = this.queue.shift()!;
      // Already in flight (asked again while its answer was on the way): once is enough.
      if (this.inFlight.has(key(wanted))) continue;
      this.inFlight.set(key(wanted), wanted);
      channel.send(encodeMessage({ t: 'task-get', v: 1, task: this.hash, ...(wanted.piece === undefined ? {} : { piece: wanted.piece }), block: wanted.block }));
    }
  }

  // ---- answers --------------------------------------------------------------------------

  private onFrame(channel: FrameChannel, frame: Uint8Array): void {
    if (this.settled) return;
    try {
      const message = decodeMessage(frame);
      if (message.t !== 'task-block' && message.t !== 'task-refused') {
        throw new ProtocolError(`expected task-block or task-refused, got ${message.t}`, { field: 't' });
      }
      if (toHex(message.task) !== this.infoHash) throw new ProtocolError('expected an answer for this task, got one for another', { field: 'task' });
      const wanted = this.inFlight.get(key(message));
      if (channel !== this.channel || !wanted) throw new ProtocolError(`expected an answer to a request in flight, got one for ${key(message)}`, { field: 'block' });
      if (message.t === 'task-refused') this.onRefused(wanted, message);
      else this.onBlock(wanted, message);
    } catch (error) {
      if (error instanceof SpareCyclesError && !this.settled) this.options.warn?.(error);
      else if (!(error instanceof SpareCyclesError)) this.fail(new SpareCyclesError('INTERNAL', (error as Error).message, { cause: error }));
    }
    this.pump();
  }

  private onRefused(wanted: Wanted, refused: TaskRefused): void {
    this.inFlight.delete(key(wanted));
    const error = new SpareCyclesError(refused.code === 'BUSY' ? 'BUSY' : 'PROTOCOL', `the tasker refused ${key(wanted)}: ${refused.code} ${refused.reason}`, { field: 'block' });
    if (refused.code !== 'BUSY') return this.fail(error);
    this.options.warn?.(error);
    // Asked again after a while; until then it keeps its place in the window, so the tasker is not asked for more meanwhile.
    const waiting = `wait:${key(wanted)}`;
    this.inFlight.set(waiting, wanted);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.inFlight.delete(waiting);
      this.queue.unshift(wanted);
      this.pump();
    }, this.options.retryMs);
    this.timers.add(timer);
  }

  private onBlock(wanted: Wanted, block: TaskBlock): void {
    if (wanted.piece === undefined) return this.onInfoBlock(wanted, block);
    const info = this.info!;
    const size = this.pieceSize(wanted.piece);
    if (block.size !== size) throw new ProtocolError(`piece ${wanted.piece}: expected ${size} bytes, got a block of a ${block.size}-byte piece`, { field: 'size' });
    this.inFlight.delete(key(wanted));
    const got = this.blocks.get(wanted.piece);
    // A piece verified already, asked for twice across a lost stream: nothing more to do.
    if (!got) return;
    const start = wanted.piece * info.pieceLength;
    this.content!.set(block.data, start + wanted.block * TASK_FETCH.blockBytes);
    got.add(wanted.block);
    if (got.size < blocksIn(size)) return;
    this.blocks.set(wanted.piece, new Set());
    const hash = pieceHash(this.content!.subarray(start, start + size));
    if (toHex(hash) !== toHex(info.pieces[wanted.piece]!)) {
      this.again(`piece ${wanted.piece}`, new HashMismatchError(`piece ${wanted.piece}: expected SHA-1 ${toHex(info.pieces[wanted.piece]!)}, got ${toHex(hash)}`, { field: 'piece' }));
      for (let b = 0; b < blocksIn(size); b++) this.queue.push({ piece: wanted.piece, block: b });
      return;
    }
    this.blocks.delete(wanted.piece);
    if (++this.verified === info.pieces.length) this.finish();
  }

  private onInfoBlock(wanted: Wanted, block: TaskBlock): void {
    if (this.infoBytes && block.size !== this.infoBytes.length) {
      throw new ProtocolError(`info dictionary: expected ${this.infoBytes.length} bytes, got a block of ${block.size}`, { field: 'size' });
    }
    this.inFlight.delete(key(wanted));
    if (!this.infoBytes) {
      this.infoBytes = new Uint8Array(block.size);
      for (let b = 1; b < blocksIn(block.size); b++) this.queue.push({ piece: undefined, block: b });
    }
    this.infoBytes.set(block.data, wanted.block * TASK_FETCH.blockBytes);
    this.infoBlocks.add(wanted.block);
    if (this.infoBlocks.size < blocksIn(this.infoBytes.length)) return;
    try {
      this.info = readTaskInfo(this.infoBytes, this.hash, this.options.maxTaskBytes);
    } catch (error) {
      if (!(error instanceof HashMismatchError)) return this.fail(error as Error);
      // Spoilt on the way (the rendezvous relay can): start over.
      this.infoBytes = undefined;
      this.infoBlocks = new Set();
      this.again('info', error);
      this.queue.push({ piece: undefined, block: 0 });
      return;
    }
    this.content = new Uint8Array(this.info.length);
    for (let piece = 0; piece < this.info.pieces.length; piece++) {
      this.blocks.set(piece, new Set());
      for (let b = 0; b < blocksIn(this.pieceSize(piece)); b++) this.queue.push({ piece, block: b });
    }
    if (this.info.pieces.length === 0) this.finish();
  }

  /** A hash that failed: warned about, and the load fails when the same object failed too often. */
  private again(what: string, error: HashMismatchError): void {
    const tries = (this.failures.get(what) ?? 0) + 1;
    this.failures.set(what, tries);
    if (tries >= this.options.hashTries) return this.fail(error);
    this.options.warn?.(error);
  }

  private pieceSize(piece: number): number {
    const info = this.info!;
    return piece < info.pieces.length - 1 ? info.pieceLength : info.length - info.pieceLength * (info.pieces.length - 1);
  }

  private finish(): void {
    this.settle(() => this.resolve());
  }

  private fail(error: Error): void {
    this.settle(() => this.reject(error));
  }

  private settle(outcome: () => void): void {
    if (this.settled) return;
    this.settled = true;
    this.queue.length = 0;
    this.inFlight.clear();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    outcome();
  }
}

function blocksIn(size: number): number {
  return Math.ceil(size / TASK_FETCH.blockBytes);
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The info-hash a magnet names (`xt=urn:btih:`, hex or base32), as lowercase hex. */
export function infoHashOf(magnet: string): string {
  const match = /[?&]xt=urn:btih:([0-9a-zA-Z]+)/.exec(magnet);
  const id = match?.[1];
  if (id && /^[0-9a-fA-F]{40}$/.test(id)) return id.toLowerCase();
  if (id && /^[A-Z2-7]{32}$/i.test(id)) {
    let bits = '';
    for (const c of id.toUpperCase()) bits += BASE32.indexOf(c).toString(2).padStart(5, '0');
    return Array.from({ length: 20 }, (_, i) => parseInt(bits.slice(i * 8, i * 8 + 8), 2).toString(16).padStart(2, '0')).join('');
  }
  throw new UsageError(`expected a magnet with a BitTorrent info-hash, got ${magnet.slice(0, 80)}`);
}

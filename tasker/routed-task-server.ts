// Serves the task torrent over stealth streams (protocol/messages/task-fetch.ts,
// docs/stealth.md "Fetching the task"), so a stealth worker can load the task
// without joining its swarm. It stands in front of the secure layer on the
// frames a rendezvous hands the session: on a stream that comes over a route,
// a frame that is a plain message goes here, every other frame goes up as
// before. Frames on the swarm's wires are not served.
//
// Each stream may ask for what one full download takes, twice over (a
// worker that lost its stream asks again on the next), a few blocks at a
// time; past that the answer is a task-refused, never a closed rendezvous.

import type { Torrent } from 'webtorrent';
import { equalBytes, fromHex } from '../protocol/bytes.ts';
import type { FrameChannel, FrameListener } from '../protocol/channel.ts';
import { LIMITS } from '../protocol/constants.ts';
import { blamesPeer, ProtocolError, SpareCyclesError } from '../protocol/errors.ts';
import { decodeMessage, encodeMessage, type TaskGet } from '../protocol/messages/index.ts';
import { blockLength, isTaskFetchFrame, TASK_FETCH } from '../protocol/messages/task-fetch.ts';

/** A seeded task torrent as the server reads it. */
export interface TaskPieces {
  readonly infoHash: Uint8Array;
  /** The bencoded info dictionary, whose SHA-1 is the info-hash. */
  readonly info: Uint8Array;
  readonly pieceLength: number;
  /** Bytes of all files together. */
  readonly length: number;
  /** The whole of piece `index`, as seeded. */
  read(index: number): Promise<Uint8Array>;
}

export interface RoutedTaskServerOptions {
  /** Requests one stream may have unanswered at once; more are refused BUSY. */
  perStream?: number;
  /** Requests all streams together may have unanswered at once. */
  total?: number;
  /** Bytes one stream may be served; more are refused RATE_LIMITED. Twice a full download by default. */
  streamBudget?: number;
  /** Told of every request refused and every frame that does not read. */
  warn?: (error: SpareCyclesError, peer: string) => void;
}

interface StreamState {
  pending: number;
  served: number;
  invalid: number;
}

/** Frames that do not read, per stream, before the stream is closed. */
const MAX_INVALID = 8;
/** Pieces kept read, so the blocks of one piece are read from storage once. */
const CACHED_PIECES = 4;

export class RoutedTaskServer {
  private readonly streams = new Map<FrameChannel, StreamState>();
  private pending = 0;
  private readonly cache = new Map<number, Promise<Uint8Array>>();
  private readonly pieces: number;
  private readonly budget: number;
  /** Within the message bounds (TASK_FETCH): a torrent past them is refused whole. */
  private readonly servable: boolean;
  /** Blocks served and requests refused, all streams together. */
  readonly counts = { served: 0, refused: 0 };

  constructor(
    private readonly source: TaskPieces,
    private readonly options: RoutedTaskServerOptions = {},
  ) {
    this.pieces = Math.ceil(source.length / source.pieceLength);
    this.budget = options.streamBudget ?? 2 * (source.length + source.info.length) + LIMITS.messageBytes;
    this.servable = source.info.length <= TASK_FETCH.maxInfoBytes && source.pieceLength <= TASK_FETCH.maxPieceBytes && this.pieces <= TASK_FETCH.maxPieces;
  }

  /** The listener to hand a rendezvous: task-fetch frames on routed streams are answered here, the rest go to `upper`. */
  frames(upper: FrameListener): FrameListener {
    return {
      open: (channel) => upper.open(channel),
      frame: (channel, frame) => {
        if (channel.route === 'onion' && isTaskFetchFrame(frame)) this.onFrame(channel, frame);
        else upper.frame(channel, frame);
      },
      closed: (channel) => {
        this.streams.delete(channel);
        upper.closed(channel);
      },
    };
  }

  /** Streams that asked for something, and requests unanswered. */
  stats(): { streams: number; pending: number } {
    return { streams: this.streams.size, pending: this.pending };
  }

  private onFrame(channel: FrameChannel, frame: Uint8Array): void {
    let state = this.streams.get(channel);
    if (!state) this.streams.set(channel, (state = { pending: 0, served: 0, invalid: 0 }));
    let get: TaskGet;
    try {
      const message = decodeMessage(frame);
      if (message.t !== 'task-get') throw new ProtocolError(`expected task-get on a stream before its handshake, got ${message.t}`, { field: 't' });
      get = message;
    } catch (error) {
      const e = error instanceof SpareCyclesError ? error : new SpareCyclesError('INTERNAL', (error as Error).message);
      this.options.warn?.(e, channel.peer);
      if (blamesPeer(e) && ++state.invalid >= MAX_INVALID) channel.close();
      return;
    }
    const refused = this.check(state, get);
    if (refused) return this.refuse(channel, get, refused);
    const size = get.piece === undefined ? this.source.info.length : this.pieceSize(get.piece);
    const length = blockLength(size, get.block);
    state.pending++;
    this.pending++;
    state.served += length;
    void this.block(get, size)
      .then(
        (data) => {
          if (!channel.open) return;
          let answer: Uint8Array;
          try {
            answer = encodeMessage({ t: 'task-block', v: 1, task: get.task, ...(get.piece === undefined ? {} : { piece: get.piece }), block: get.block, size, data });
          } catch (error) {
            // Storage that gave a piece of another size: a fault of ours, told as one.
            return this.refuse(channel, get, new SpareCyclesError('INTERNAL', `could not answer: ${(error as Error).message}`));
          }
          this.counts.served++;
          channel.send(answer);
        },
        (error: Error) => this.refuse(channel, get, new SpareCyclesError('INTERNAL', `could not read the piece: ${error.message}`)),
      )
      // A stream that closed while the answer was being made: nothing to tell it.
      .catch((error: Error) => this.options.warn?.(new SpareCyclesError('NETWORK', error.message, { cause: error }), channel.peer))
      .finally(() => {
        state.pending--;
        this.pending--;
      });
  }

  /** Why a request is refused, or undefined to serve it. */
  private check(state: StreamState, get: TaskGet): SpareCyclesError | undefined {
    if (!equalBytes(get.task, this.source.infoHash)) return new SpareCyclesError('NOT_FOUND', 'not the task this rendezvous serves', { field: 'task' });
    if (!this.servable) return new SpareCyclesError('TOO_LARGE', 'this task torrent is past what can be fetched over a stream');
    if (get.piece !== undefined && get.piece >= this.pieces) {
      return new SpareCyclesError('NOT_FOUND', `expected a piece below ${this.pieces}, got ${get.piece}`, { field: 'piece' });
    }
    const size = get.piece === undefined ? this.source.info.length : this.pieceSize(get.piece);
    const length = blockLength(size, get.block);
    if (length === 0) return new SpareCyclesError('NOT_FOUND', `expected a block inside ${size} bytes, got block ${get.block}`, { field: 'block' });
    if (state.pending >= (this.options.perStream ?? 16) || this.pending >= (this.options.total ?? 256)) {
      return new SpareCyclesError('BUSY', 'too many requests unanswered; ask again when some are answered');
    }
    if (state.served + length > this.budget) return new SpareCyclesError('RATE_LIMITED', `this stream has been served ${state.served} bytes, the most is ${this.budget}`);
    return undefined;
  }

  private refuse(channel: FrameChannel, get: TaskGet, error: SpareCyclesError): void {
    this.counts.refused++;
    this.options.warn?.(error, channel.peer);
    if (!channel.open) return;
    channel.send(
      encodeMessage({
        t: 'task-refused',
        v: 1,
        task: get.task,
        ...(get.piece === undefined ? {} : { piece: get.piece }),
        block: get.block,
        code: error.code,
        reason: error.message.slice(0, 120),
      }),
    );
  }

  private pieceSize(index: number): number {
    return index < this.pieces - 1 ? this.source.pieceLength : this.source.length - this.source.pieceLength * (this.pieces - 1);
  }

  private async block(get: TaskGet, size: number): Promise<Uint8Array> {
    const start = get.block * TASK_FETCH.blockBytes;
    const end = start + blockLength(size, get.block);
    if (get.piece === undefined) return this.source.info.subarray(start, end);
    let piece = this.cache.get(get.piece);
    if (!piece) {
      piece = this.source.read(get.piece);
      piece.catch(() => this.cache.delete(get.piece!));
      this.cache.set(get.piece, piece);
      if (this.cache.size > CACHED_PIECES) this.cache.delete(this.cache.keys().next().value!);
    }
    return (await piece).subarray(start, end);
  }
}

interface ChunkStore {
  get(index: number, options: { length?: number } | null, cb: (error: Error | null, buf?: Uint8Array) => void): void;
}

/** The pieces of a torrent this process seeds, read from its chunk store. */
export function torrentPieces(torrent: Torrent): TaskPieces {
  const t = torrent as unknown as { infoBuffer?: Uint8Array; store: ChunkStore | null; pieceLength: number; length: number; pieces: unknown[] };
  if (!t.infoBuffer) throw new SpareCyclesError('INTERNAL', 'the seeded torrent has no info dictionary');
  const count = t.pieces.length;
  const last = t.length - t.pieceLength * (count - 1);
  return {
    infoHash: fromHex(torrent.infoHash),
    info: new Uint8Array(t.infoBuffer),
    pieceLength: t.pieceLength,
    length: t.length,
    read: (index) =>
      new Promise((resolve, reject) => {
        const store = t.store;
        if (!store) return reject(new SpareCyclesError('INTERNAL', 'the torrent is closed'));
        store.get(index, index === count - 1 ? { length: last } : null, (error, buf) => (error || !buf ? reject(error ?? new SpareCyclesError('NOT_FOUND', `the torrent store has no piece ${index}`)) : resolve(new Uint8Array(buf))));
      }),
  };
}

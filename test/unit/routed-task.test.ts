// Fetching a task torrent over a stealth stream (worker/routed-task.ts
// against tasker/routed-task-server.ts), on an in-memory stream marked as
// routed: the worker gets every file, held to the info-hash and the piece
// hashes; a block spoilt on the way is asked for again; a tasker that
// always spoils fails the load with a typed error; and a hostile stream's
// requests (out of range, for another task, past its budget, unreadable)
// get typed refusals while the server keeps serving everyone else.

import { sha1 } from '@noble/hashes/legacy.js';
import { describe, expect, it } from 'vitest';
import { encode } from '../../protocol/bencode.ts';
import { concatBytes, toHex, utf8 } from '../../protocol/bytes.ts';
import type { FrameChannel, FrameListener } from '../../protocol/channel.ts';
import { HashMismatchError, SpareCyclesError } from '../../protocol/errors.ts';
import { decodeMessage, encodeMessage, type Message } from '../../protocol/messages/index.ts';
import { magnetFor } from '../../protocol/magnet.ts';
import { TASK_FETCH } from '../../protocol/messages/task-fetch.ts';
import { RoutedTaskServer, type TaskPieces } from '../../tasker/routed-task-server.ts';
import { infoHashOf, RoutedTask } from '../../worker/routed-task.ts';
import { framePipe, type PipeEnd } from '../support/task-wire.ts';

const PIECE = 2 * TASK_FETCH.blockBytes;
const FILES = [
  { path: 'manifest.json', bytes: utf8('{"name":"routed"}') },
  { path: 'unit.wasm', bytes: new Uint8Array(3 * PIECE + 5).map((_, i) => (i * 31) & 255) },
  { path: 'inputs/0.bin', bytes: new Uint8Array(1000).fill(7) },
];

/** A task torrent as WebTorrent makes one: a multi-file info dictionary, its SHA-1 the info-hash. */
function makeTorrent(): TaskPieces & { magnet: string } {
  const content = concatBytes(...FILES.map((f) => f.bytes));
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < content.length; at += PIECE) pieces.push(sha1(content.subarray(at, at + PIECE)));
  const info = encode({
    files: FILES.map((f) => ({ length: f.bytes.length, path: f.path.split('/') })),
    name: 'sc-routed',
    'piece length': PIECE,
    pieces: concatBytes(...pieces),
  });
  const infoHash = sha1(info);
  return {
    infoHash,
    info,
    pieceLength: PIECE,
    length: content.length,
    read: async (index) => content.slice(index * PIECE, (index + 1) * PIECE),
    magnet: magnetFor(toHex(infoHash), []),
  };
}

const LENGTH = FILES.reduce((n, f) => n + f.bytes.length, 0);
/** Four pieces, the last of 1,022 bytes. */
const PIECES = Math.ceil(LENGTH / PIECE);

const SILENT: FrameListener = { open: () => {}, frame: () => {}, closed: () => {} };

/** The worker's end and the tasker's, back to back, the tasker's marked as routed as a rendezvous's streams are. */
function connect(server: RoutedTaskServer, worker: FrameListener, upper: FrameListener = SILENT): [PipeEnd, PipeEnd] {
  const served = server.frames(upper);
  const routed: FrameListener = {
    open: (channel) => {
      Object.assign(channel, { route: 'onion' });
      served.open(channel);
    },
    frame: (channel, frame) => served.frame(channel, frame),
    closed: (channel) => served.closed(channel),
  };
  return framePipe(worker, routed, ['worker', 'tasker']);
}

/** Every answer the tasker sent on `end`, decoded. */
const answers = (end: PipeEnd): Message[] => end.sent.map((f) => decodeMessage(f));

describe('a task fetched over a stream', () => {
  it('arrives whole, every piece held to its hash, and loads as from a torrent', async () => {
    const torrent = makeTorrent();
    const server = new RoutedTaskServer(torrent);
    const task = new RoutedTask(torrent.magnet, { window: 3 });
    const upper: Uint8Array[] = [];
    connect(server, task.frames({ ...SILENT, frame: (_c, f) => upper.push(f) }));
    await task.complete(5_000);
    for (const f of FILES) expect(toHex((await task.read(f.path))!)).toBe(toHex(f.bytes));
    expect(await task.read('missing')).toBeUndefined();
    expect(task.progress()).toEqual({ verified: PIECES, pieces: PIECES });
    // Nothing of the fetch reached the secure layer above.
    expect(upper).toHaveLength(0);
    expect(server.stats().pending).toBe(0);
  });

  it('asks again for a piece or an info dictionary spoilt on the way, and completes', async () => {
    const torrent = makeTorrent();
    const server = new RoutedTaskServer(torrent);
    const warnings: SpareCyclesError[] = [];
    const task = new RoutedTask(torrent.magnet, { warn: (e) => warnings.push(e) });
    const [, tasker] = connect(server, task.frames(SILENT));
    // The rendezvous relay can change what the tasker sends: once for the info dictionary, once for piece 1.
    const spoilt = new Set<string>();
    tasker.intercept = (frame) => {
      const message = decodeMessage(frame);
      const what = message.t === 'task-block' ? `${message.piece ?? 'info'}` : '';
      if (message.t === 'task-block' && (what === 'info' || what === '1') && !spoilt.has(what)) {
        spoilt.add(what);
        const data = message.data.slice();
        data[0]! ^= 1;
        return tasker.hear(encodeMessage({ ...message, data }));
      }
      tasker.hear(frame);
    };
    await task.complete(5_000);
    for (const f of FILES) expect(toHex((await task.read(f.path))!)).toBe(toHex(f.bytes));
    expect(warnings.filter((w) => w instanceof HashMismatchError).map((w) => w.field).sort()).toEqual(['info', 'piece']);
  });

  it('fails with a typed error when every copy of a piece is forged', async () => {
    const torrent = makeTorrent();
    const forged: TaskPieces = { ...torrent, read: async (index) => (index === 2 ? new Uint8Array(PIECE).fill(9) : torrent.read(index)) };
    const server = new RoutedTaskServer(forged);
    const task = new RoutedTask(torrent.magnet, { hashTries: 2 });
    connect(server, task.frames(SILENT));
    const error = await task.complete(5_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HashMismatchError);
    expect(await task.read('manifest.json')).toBeUndefined();
  });

  it('refuses requests out of range, for another task, past the budget, and survives garbage', async () => {
    const torrent = makeTorrent();
    const warned: string[] = [];
    // One download's worth per stream.
    const server = new RoutedTaskServer(torrent, { streamBudget: LENGTH + torrent.info.length, warn: (e) => warned.push(e.code) });
    const [worker, tasker] = connect(server, SILENT);
    const task = torrent.infoHash;
    const get = (fields: { piece?: number; block: number; task?: Uint8Array }) => worker.send(encodeMessage({ t: 'task-get', v: 1, task, ...fields }));
    get({ piece: PIECES, block: 0 });
    get({ piece: PIECES - 1, block: 1 });
    get({ block: 5 });
    get({ task: new Uint8Array(20), block: 0 });
    await Promise.resolve();
    const refusals = answers(tasker).map((m) => (m.t === 'task-refused' ? m.code : m.t));
    expect(refusals).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
    // The whole task once is this stream's budget: one block more is refused.
    get({ block: 0 });
    for (let piece = 0; piece < PIECES; piece++) for (let b = 0; b * TASK_FETCH.blockBytes < Math.min(PIECE, LENGTH - piece * PIECE); b++) get({ piece, block: b });
    get({ piece: 0, block: 0 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const served = answers(tasker).slice(4).map((m) => (m.t === 'task-refused' ? m.code : m.t));
    expect(served.filter((t) => t === 'task-block')).toHaveLength(1 + 2 * (PIECES - 1) + 1);
    expect(served.filter((t) => t !== 'task-block')).toEqual(['RATE_LIMITED']);
    // Frames that look like messages but are not, or are the wrong ones: warned about, and the stream closed after a few.
    for (let i = 0; i < 7; i++) worker.send(i % 2 ? utf8('d1:ti0ee') : encodeMessage({ t: 'task-block', v: 1, task, block: 0, size: 1, data: utf8('x') }));
    expect(tasker.open).toBe(true);
    worker.send(utf8('dgarbage'));
    expect(tasker.open).toBe(false);
    expect(warned.filter((c) => c === 'SCHEMA' || c === 'DECODE' || c === 'PROTOCOL')).toHaveLength(8);
    // Another stream is served as if nothing happened.
    const fresh = new RoutedTask(torrent.magnet);
    connect(server, fresh.frames(SILENT));
    await fresh.complete(5_000);
    expect(toHex((await fresh.read('unit.wasm'))!)).toBe(toHex(FILES[1]!.bytes));
  });

  it('asks again what the tasker was too busy for, and moves to the next stream when one closes', async () => {
    const torrent = makeTorrent();
    const server = new RoutedTaskServer(torrent, { perStream: 1 });
    const warnings: SpareCyclesError[] = [];
    const task = new RoutedTask(torrent.magnet, { window: 4, retryMs: 5, warn: (e) => warnings.push(e) });
    const frames = task.frames(SILENT);
    const [first] = connect(server, frames);
    // Cut the first stream after the first answers.
    let heard = 0;
    first.other.intercept = (frame) => {
      first.other.hear(frame);
      if (++heard === 3) queueMicrotask(() => first.close());
    };
    await new Promise((resolve) => setTimeout(resolve, 20));
    connect(server, frames);
    await task.complete(5_000);
    for (const f of FILES) expect(toHex((await task.read(f.path))!)).toBe(toHex(f.bytes));
    expect(warnings.some((w) => w.code === 'BUSY')).toBe(true);
  });

  it('ignores answers nobody asked for, and frames on the swarm are not served', async () => {
    const torrent = makeTorrent();
    const warnings: SpareCyclesError[] = [];
    const task = new RoutedTask(torrent.magnet, { warn: (e) => warnings.push(e) });
    const server = new RoutedTaskServer(torrent);
    const [, tasker] = connect(server, task.frames(SILENT));
    tasker.send(encodeMessage({ t: 'task-block', v: 1, task: torrent.infoHash, piece: 0, block: 1, size: PIECE, data: new Uint8Array(TASK_FETCH.blockBytes) }));
    expect(warnings.map((w) => w.code)).toContain('PROTOCOL');
    await task.complete(5_000);

    // A swarm wire (not routed): a plain message is the secure layer's to refuse, never answered with the task.
    const upper: Uint8Array[] = [];
    const swarm = server.frames({ ...SILENT, frame: (_c, f) => upper.push(f) });
    const wire = { open: true, peer: 'swarm', send: () => { throw new Error('must not answer'); }, close: () => {} } as FrameChannel;
    swarm.frame(wire, encodeMessage({ t: 'task-get', v: 1, task: torrent.infoHash, block: 0 }));
    expect(upper).toHaveLength(1);
  });

  it('reads the info-hash of a magnet in hex or base32', () => {
    const hex = '1d9e57d4e3453eb6476d316d0fb60fe0f4c3d65b';
    expect(infoHashOf(`magnet:?xt=urn:btih:${hex}&dn=x`)).toBe(hex);
    expect(infoHashOf('magnet:?xt=urn:btih:DWPFPVHDIU7LMR3NGFWQ7NQP4D2MHVS3')).toBe(hex);
    expect(() => infoHashOf('magnet:?dn=x')).toThrow(SpareCyclesError);
  });
});

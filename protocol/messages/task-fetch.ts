// Fetching a task torrent from its tasker over a stealth stream, so that a
// stealth worker joins no swarm (docs/stealth.md, "Fetching the task"). The
// worker asks for blocks of two kinds of object: the torrent's info
// dictionary (no `piece`), whose SHA-1 is the info-hash the worker already
// knows, and piece `piece`, whose SHA-1 the info dictionary lists. Blocks are
// BitTorrent's 16 KiB (BEP 3's requests, BEP 9's metadata pieces), so one
// answer fits a message with room to spare.
//
// These messages go on the stream in the clear, before the task wire's
// handshake: the worker cannot greet the tasker before it holds the
// manifest, which names the tasker's Noise key. Nothing in them is secret
// (the torrent is public) and everything is checked against the info-hash,
// so the relay that sees them learns which task is fetched, which the
// rendezvous it keeps already tells it, and can spoil a block, which the
// worker refuses and asks for again.

import { MESSAGE_LIMITS } from '../constants.ts';
import { bytes, int, optional, text, type Infer } from '../schema.ts';
import { infoHash, invalid, unsignedMessage } from './envelope.ts';

export const TASK_FETCH = {
  /** Bytes in every block of an object but its last. */
  blockBytes: 16 * 1024,
  /** Largest info dictionary (BEP 9 metadata) either end handles. */
  maxInfoBytes: 4 * 1024 * 1024,
  /** Largest piece: BitTorrent clients stop at 16 MiB. */
  maxPieceBytes: 16 * 1024 * 1024,
  /** Most pieces one task torrent may have. */
  maxPieces: 1 << 20,
} as const;

const piece = optional(int(0, TASK_FETCH.maxPieces - 1));
const block = int(0, TASK_FETCH.maxPieceBytes / TASK_FETCH.blockBytes - 1);

/** Bytes block `block` of an object of `size` bytes holds. */
export function blockLength(size: number, block: number): number {
  return Math.max(0, Math.min(TASK_FETCH.blockBytes, size - block * TASK_FETCH.blockBytes));
}

/** The largest an object named with or without a piece index may be. */
function maxSize(m: { piece?: number }): number {
  return m.piece === undefined ? TASK_FETCH.maxInfoBytes : TASK_FETCH.maxPieceBytes;
}

/** The worker asks for one block of the info dictionary (no `piece`) or of a piece. */
export const taskGet = unsignedMessage('task-get', {
  task: infoHash,
  piece,
  block,
});

/** The tasker's answer: the block's bytes, and the size of the whole object, so the worker knows how many blocks there are. */
export const taskBlock = unsignedMessage(
  'task-block',
  {
    task: infoHash,
    piece,
    block,
    size: int(1, TASK_FETCH.maxPieceBytes),
    data: bytes({ max: TASK_FETCH.blockBytes }),
  },
  (m) => {
    if (m.size > maxSize(m)) throw invalid('size', `expected at most ${maxSize(m)} bytes, got ${m.size}`);
    const length = blockLength(m.size, m.block);
    if (length === 0) throw invalid('block', `expected a block inside ${m.size} bytes, got block ${m.block}`);
    if (m.data.length !== length) throw invalid('data', `expected ${length} bytes, got ${m.data.length}`);
  },
);

/** The tasker will not answer a task-get: `code` is an error code (NOT_FOUND, BUSY, RATE_LIMITED, SCHEMA). */
export const taskRefused = unsignedMessage('task-refused', {
  task: infoHash,
  piece,
  block,
  code: text({ min: 1, max: MESSAGE_LIMITS.relayCodeBytes, pattern: /^[A-Z][A-Z0-9_]*$/ }),
  reason: text({ max: MESSAGE_LIMITS.reasonBytes }),
});

export type TaskGet = Infer<typeof taskGet.schema>;
export type TaskBlock = Infer<typeof taskBlock.schema>;
export type TaskRefused = Infer<typeof taskRefused.schema>;

/**
 * True for a frame on a stealth stream that carries one of these messages in
 * the clear: a bencoded dictionary begins with `d`, while every frame of the
 * task wire begins with the handshake's version byte (1, protocol/handshake.ts).
 */
export function isTaskFetchFrame(frame: Uint8Array): boolean {
  return frame[0] === 0x64;
}

// A task torrent's info dictionary (BEP 3), read by a worker that fetched it
// over a route instead of from the swarm: its SHA-1 must be the info-hash the
// magnet named, and then it gives the piece length, the piece hashes and the
// files, checked for bounds before anything is allocated by them.

import { sha1 } from '@noble/hashes/legacy.js';
import { decode, isDict, type BDict, type BValue } from '../protocol/bencode.ts';
import { equalBytes, fromUtf8, toHex } from '../protocol/bytes.ts';
import { HashMismatchError, SchemaError, SpareCyclesError } from '../protocol/errors.ts';
import { TASK_FETCH } from '../protocol/messages/task-fetch.ts';

export interface TaskFile {
  /** The path inside the task, as the manifest names it (the torrent's name left out). */
  path: string;
  offset: number;
  length: number;
}

export interface TaskInfo {
  pieceLength: number;
  /** SHA-1 of every piece, in order. */
  pieces: Uint8Array[];
  files: TaskFile[];
  /** Bytes of all files together. */
  length: number;
}

/** Reads an info dictionary fetched for `infoHash`; HashMismatchError if it is another, SchemaError or TOO_LARGE if it does not fit. */
export function readTaskInfo(bytes: Uint8Array, infoHash: Uint8Array, maxLength: number): TaskInfo {
  if (!equalBytes(sha1(bytes), infoHash)) {
    throw new HashMismatchError(`info dictionary: expected SHA-1 ${toHex(infoHash)}, got ${toHex(sha1(bytes))}`, { field: 'info' });
  }
  const info = decode(bytes, { maxBytes: TASK_FETCH.maxInfoBytes });
  if (!isDict(info)) throw new SchemaError('info: expected a dictionary', { field: 'info' });
  const pieceLength = integer(info['piece length'], 'piece length', 1, TASK_FETCH.maxPieceBytes);
  const hashes = info.pieces;
  if (!(hashes instanceof Uint8Array) || hashes.length === 0 || hashes.length % 20 !== 0) {
    throw new SchemaError('info.pieces: expected a non-empty multiple of 20 bytes', { field: 'pieces' });
  }
  const name = textOf(info.name, 'name');
  const files: TaskFile[] = [];
  let length = 0;
  const add = (path: string, size: number) => {
    files.push({ path, offset: length, length: size });
    length += size;
    if (length > maxLength) throw new SpareCyclesError('TOO_LARGE', `info: the task is past ${maxLength} bytes`, { field: 'length' });
  };
  if (info.files === undefined) {
    add(name, integer(info.length, 'length', 0, maxLength));
  } else {
    if (!Array.isArray(info.files) || info.files.length === 0) throw new SchemaError('info.files: expected a non-empty list', { field: 'files' });
    info.files.forEach((entry: BValue, i: number) => {
      if (!isDict(entry)) throw new SchemaError(`info.files[${i}]: expected a dictionary`, { field: `files[${i}]` });
      const path = pathOf(entry, i);
      add(path, integer(entry.length, `files[${i}].length`, 0, maxLength));
    });
  }
  const count = hashes.length / 20;
  if (count !== Math.ceil(length / pieceLength) || count > TASK_FETCH.maxPieces) {
    throw new SchemaError(`info.pieces: expected ${Math.ceil(length / pieceLength)} piece hashes for ${length} bytes, got ${count}`, { field: 'pieces' });
  }
  const pieces = Array.from({ length: count }, (_, i) => hashes.slice(i * 20, i * 20 + 20));
  return { pieceLength, pieces, files, length };
}

/** SHA-1 of a piece, to hold against the info dictionary's. */
export function pieceHash(bytes: Uint8Array): Uint8Array {
  return sha1(bytes);
}

function integer(value: BValue | undefined, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new SchemaError(`info.${field}: expected an integer in [${min}, ${max}]`, { field });
  }
  return value;
}

function textOf(value: BValue | undefined, field: string): string {
  if (!(value instanceof Uint8Array) || value.length === 0) throw new SchemaError(`info.${field}: expected text`, { field });
  return fromUtf8(value);
}

function pathOf(entry: BDict, i: number): string {
  const parts = entry.path;
  if (!Array.isArray(parts) || parts.length === 0) throw new SchemaError(`info.files[${i}].path: expected a non-empty list`, { field: `files[${i}].path` });
  return parts.map((part: BValue, j: number) => textOf(part, `files[${i}].path[${j}]`)).join('/');
}

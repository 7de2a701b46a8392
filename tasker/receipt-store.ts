// The tasker's held receipts on disk: one JSON file per task, so pay the
// tasker made still reaches its workers after the tasker's process ends and
// starts again. (The session holds only receipts that carry pay.) The file is
//
//   { "v": 1, "task": "<info-hash, 40 hex>",
//     "receipts": [ { "worker": "<key, 64 hex>", "lease": "<32 hex>", "unit": 7,
//                     "at": <Unix ms first held>, "receipt": "<the signed receipt's bytes, hex>" } ] }
//
// Each write replaces the file atomically (store/atomic-file.ts), so after a
// crash the file holds the receipts before or after a change, never half of
// either. Writes are coalesced: one write covers every change made before it
// starts. A file that does not read is an error, never overwritten.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHex, toHex } from '../protocol/bytes.ts';
import { SpareCyclesError, UsageError } from '../protocol/errors.ts';
import { openMessage } from '../protocol/messages/index.ts';
import type { Receipt, Sealed } from '../protocol/messages/index.ts';
import { removeFileDurably, writeFileAtomic } from '../store/atomic-file.ts';
import { sparecyclesHome } from '../store/keys.ts';
import { MemoryReceiptOutbox, OUTBOX_LIMITS, type DroppedListener, type HeldReceipt, type OutboxLimits, type ReceiptOutbox } from './receipt-outbox.ts';

export const RECEIPT_FILE_VERSION = 1;

/** Where `cycles publish` keeps held receipts unless told otherwise. */
export function defaultReceiptDir(): string {
  return join(sparecyclesHome(), 'receipts');
}

/** The file a task's receipts are kept in, inside `dir`. */
export function receiptFileFor(dir: string, task: string): string {
  return join(dir, `${task}.json`);
}

interface StoredReceipt {
  worker: string;
  lease: string;
  unit: number;
  at: number;
  receipt: string;
}

interface StoredFile {
  v: typeof RECEIPT_FILE_VERSION;
  task: string;
  receipts: StoredReceipt[];
}

export interface ReceiptFileOptions {
  limits?: OutboxLimits;
  dropped?: DroppedListener;
}

export class ReceiptFile implements ReceiptOutbox {
  private readonly memory: MemoryReceiptOutbox;
  /** The last write started or queued. */
  private writing: Promise<void> = Promise.resolve();
  /** A write queued behind `writing` and not started yet: changes made now are in it. */
  private next: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    readonly task: string,
    options: ReceiptFileOptions,
  ) {
    this.memory = new MemoryReceiptOutbox(options.limits ?? OUTBOX_LIMITS, options.dropped);
  }

  /** The receipts kept for `task` (40 hex digits) in `path`, none if there is no file yet. SpareCyclesError FORMAT if it does not read. */
  static async open(path: string, task: string, options: ReceiptFileOptions = {}): Promise<ReceiptFile> {
    if (!/^[0-9a-f]{40}$/.test(task)) throw new UsageError(`task: expected an info-hash of 40 hex digits, got ${task}`);
    const file = new ReceiptFile(path, task, options);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) for (const held of readReceiptFile(text, path, task)) file.memory.add(held);
    return file;
  }

  get size(): number {
    return this.memory.size;
  }

  held(worker: string): HeldReceipt[] {
    return this.memory.held(worker);
  }

  workers(): string[] {
    return this.memory.workers();
  }

  put(receipt: HeldReceipt): Promise<void> {
    this.memory.add(receipt);
    return this.persist();
  }

  ack(worker: string, lease: string): boolean {
    if (!this.memory.ack(worker, lease)) return false;
    // A failed write is retried with the next change; until then the receipt is only sent once more than needed.
    this.persist().catch(() => {});
    return true;
  }

  expire(before: number): HeldReceipt[] {
    const gone = this.memory.expire(before);
    if (gone.length > 0) this.persist().catch(() => {});
    return gone;
  }

  flush(): Promise<void> {
    return this.next ?? this.writing;
  }

  private persist(): Promise<void> {
    if (this.next) return this.next;
    const next = this.writing.catch(() => {}).then(() => {
      // From here on, a change needs a write of its own: this one may already have read the state.
      this.next = undefined;
      return this.write();
    });
    this.next = next;
    this.writing = next;
    return next;
  }

  private async write(): Promise<void> {
    const receipts = this.memory.all();
    if (receipts.length === 0) return removeFileDurably(this.path);
    const data: StoredFile = {
      v: RECEIPT_FILE_VERSION,
      task: this.task,
      receipts: receipts.map((r) => ({ worker: r.worker, lease: r.lease, unit: r.unit, at: r.at, receipt: toHex(r.sealed.bytes) })),
    };
    await writeFileAtomic(this.path, `${JSON.stringify(data)}\n`);
  }
}

// ---- reading ----------------------------------------------------------------------------

function fail(path: string, field: string, message: string, cause?: unknown): never {
  throw new SpareCyclesError('FORMAT', `${path}: ${field}: ${message}`, { field, ...(cause === undefined ? {} : { cause }) });
}

function hexField(path: string, field: string, value: unknown, digits: number): string {
  if (typeof value !== 'string' || value.length !== digits || !/^[0-9a-f]*$/.test(value)) fail(path, field, `expected ${digits} lowercase hex digits`);
  return value;
}

/** The held receipts in a receipt file's text, each checked against the receipt it carries. */
export function readReceiptFile(text: string, path: string, task: string): HeldReceipt[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    fail(path, 'file', 'expected JSON', cause);
  }
  const d = json as Partial<StoredFile> | null;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) fail(path, 'file', 'expected an object');
  if (d.v !== RECEIPT_FILE_VERSION) fail(path, 'v', `expected version ${RECEIPT_FILE_VERSION}, got ${JSON.stringify(d.v)}`);
  if (d.task !== task) fail(path, 'task', `expected the receipts of task ${task}`);
  if (!Array.isArray(d.receipts)) fail(path, 'receipts', 'expected a list');
  return d.receipts.map((raw: unknown, i): HeldReceipt => {
    const field = `receipts[${i}]`;
    const r = raw as Partial<StoredReceipt> | null;
    if (typeof r !== 'object' || r === null) fail(path, field, 'expected an object');
    const worker = hexField(path, `${field}.worker`, r.worker, 64);
    const lease = hexField(path, `${field}.lease`, r.lease, 32);
    if (!Number.isSafeInteger(r.at) || r.at! < 0) fail(path, `${field}.at`, 'expected a time in milliseconds');
    if (typeof r.receipt !== 'string' || r.receipt.length % 2 !== 0 || !/^[0-9a-f]+$/.test(r.receipt)) fail(path, `${field}.receipt`, 'expected hex');
    let sealed: Sealed;
    try {
      sealed = openMessage(fromHex(r.receipt));
    } catch (cause) {
      fail(path, `${field}.receipt`, 'expected a receipt message', cause);
    }
    const m = sealed.message;
    if (m.t !== 'receipt' || m.status === 'pending') fail(path, `${field}.receipt`, 'expected a final receipt');
    if (toHex(m.task) !== task || toHex(m.lease) !== lease || m.unit !== r.unit) {
      fail(path, `${field}.receipt`, 'expected the receipt of the task, lease and unit it is filed under');
    }
    return { worker, lease, unit: m.unit, at: r.at!, sealed: sealed as Sealed<Receipt> };
  });
}

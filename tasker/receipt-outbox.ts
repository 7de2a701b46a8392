// Final receipts the tasker has sent or must send, kept until their worker
// acknowledges them (an `ack`). An accepted receipt carries the mint's blind
// signatures, the worker's only copy of its pay, so a receipt that is lost on
// the way (the wire closed, the worker's process ended before it kept the
// pay) must be there to send again. The session holds only receipts that
// carry pay: anyone can earn a rejection with a throwaway key, so held
// rejections would let a flood of keys that never acknowledge push paid
// receipts out.
//
// Bounded per worker, in total, and in age: a worker that never comes back
// (or a flood of keys) costs at most `total` entries. Over a limit, a receipt
// without pay goes first if any is held (the oldest of the worker holding
// the most of them), so a paid receipt never makes room for an unpaid one;
// otherwise the worker holding the most loses its oldest, so one busy or
// hostile key cannot push out everyone else's pay.
//
// The session sees only the ReceiptOutbox interface; the outbox in memory is
// here, one on disk in receipt-store.ts.

import { PAY_LIMITS } from '../protocol/constants.ts';
import type { Receipt, Sealed } from '../protocol/messages/index.ts';
import { UsageError } from '../protocol/errors.ts';

export interface OutboxLimits {
  perWorker: number;
  total: number;
  /** How long an unacknowledged receipt is kept. */
  maxAgeMs: number;
}

export const OUTBOX_LIMITS: OutboxLimits = { perWorker: 256, total: 4096, maxAgeMs: PAY_LIMITS.receiptHoldMs };

/** One final receipt held for its worker. */
export interface HeldReceipt {
  /** The worker's key, hex. */
  worker: string;
  /** The lease the receipt answers, hex: with the worker, what an ack names. */
  lease: string;
  unit: number;
  /** When it was first held, Unix milliseconds. */
  at: number;
  /** The signed receipt, as sent. */
  sealed: Sealed<Receipt>;
}

export interface ReceiptOutbox {
  /** Receipts held, for all workers. */
  readonly size: number;
  /** What is held for `worker`, oldest first. */
  held(worker: string): HeldReceipt[];
  /** The workers something is held for. */
  workers(): string[];
  /** Keeps a receipt (replacing one held for the same worker and lease); resolves once it is durable. */
  put(receipt: HeldReceipt): Promise<void>;
  /** Forgets the receipt for `worker`'s `lease`; true if one was held. */
  ack(worker: string, lease: string): boolean;
  /** Forgets receipts held since before `before` (Unix ms), and returns them. */
  expire(before: number): HeldReceipt[];
  /** Resolves once every change so far is durable. */
  flush(): Promise<void>;
}

/** Whether a held receipt carries pay (the mint's blind signatures): the worker's only copy of it. */
export function carriesPay(receipt: HeldReceipt): boolean {
  return receipt.sealed.message.paid !== undefined;
}

/** Told of every receipt dropped to stay within the limits. */
export type DroppedListener = (receipt: HeldReceipt) => void;

/** The outbox in memory: for tests, and the state a stored outbox keeps on disk. */
export class MemoryReceiptOutbox implements ReceiptOutbox {
  /** Per worker, by lease, in the order they were put (a Map keeps insertion order). */
  private readonly byWorker = new Map<string, Map<string, HeldReceipt>>();
  /** Per worker, how many of its receipts carry no pay (absent when none). */
  private readonly unpaid = new Map<string, number>();
  private count = 0;

  constructor(
    readonly limits: OutboxLimits = OUTBOX_LIMITS,
    private readonly dropped: DroppedListener = () => {},
  ) {
    for (const [field, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) throw new UsageError(`${field}: expected a positive integer, got ${value}`);
    }
  }

  get size(): number {
    return this.count;
  }

  held(worker: string): HeldReceipt[] {
    return [...(this.byWorker.get(worker)?.values() ?? [])];
  }

  workers(): string[] {
    return [...this.byWorker.keys()];
  }

  /** Every receipt held, worker by worker, oldest first. */
  all(): HeldReceipt[] {
    return [...this.byWorker.values()].flatMap((queue) => [...queue.values()]);
  }

  async put(receipt: HeldReceipt): Promise<void> {
    this.add(receipt);
  }

  /** put(), for a caller that needs no promise. */
  add(receipt: HeldReceipt): void {
    const { worker } = receipt;
    this.ack(worker, receipt.lease);
    let queue = this.byWorker.get(worker);
    if (!queue) this.byWorker.set(worker, (queue = new Map()));
    queue.set(receipt.lease, receipt);
    this.count++;
    if (!carriesPay(receipt)) this.unpaid.set(worker, (this.unpaid.get(worker) ?? 0) + 1);
    // The receipt just put counts among the unpaid, so when it is one, no paid receipt makes room for it.
    if (queue.size > this.limits.perWorker) this.drop(worker, this.unpaid.has(worker));
    if (this.count > this.limits.total) {
      const unpaid = this.mostUnpaid();
      if (unpaid !== undefined) this.drop(unpaid, true);
      else this.drop(this.fullest(), false);
    }
  }

  ack(worker: string, lease: string): boolean {
    const queue = this.byWorker.get(worker);
    const gone = queue?.get(lease);
    if (!queue || !gone) return false;
    queue.delete(lease);
    this.count--;
    if (queue.size === 0) this.byWorker.delete(worker);
    if (!carriesPay(gone)) {
      const left = this.unpaid.get(worker)! - 1;
      if (left === 0) this.unpaid.delete(worker);
      else this.unpaid.set(worker, left);
    }
    return true;
  }

  expire(before: number): HeldReceipt[] {
    const gone: HeldReceipt[] = [];
    for (const receipt of this.all()) {
      if (receipt.at < before && this.ack(receipt.worker, receipt.lease)) gone.push(receipt);
    }
    return gone;
  }

  async flush(): Promise<void> {}

  private fullest(): string {
    let worst = '';
    let most = 0;
    for (const [worker, queue] of this.byWorker) {
      if (queue.size > most) [worst, most] = [worker, queue.size];
    }
    return worst;
  }

  /** The worker holding the most receipts without pay, if any are held. */
  private mostUnpaid(): string | undefined {
    let worst: string | undefined;
    let most = 0;
    for (const [worker, n] of this.unpaid) {
      if (n > most) [worst, most] = [worker, n];
    }
    return worst;
  }

  /** Drops `worker`'s oldest receipt, or its oldest without pay. */
  private drop(worker: string, unpaidOnly: boolean): void {
    let oldest: HeldReceipt | undefined;
    for (const held of this.byWorker.get(worker)?.values() ?? []) {
      if (!unpaidOnly || !carriesPay(held)) {
        oldest = held;
        break;
      }
    }
    if (oldest === undefined || !this.ack(worker, oldest.lease)) return;
    this.dropped(oldest);
  }
}

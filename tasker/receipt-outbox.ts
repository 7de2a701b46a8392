// Final receipts the tasker could not send because the worker had no open
// wire at the time, kept until that worker greets again. An accepted receipt
// carries the mint's blind signatures, the worker's only copy of its pay, so
// dropping it loses the pay for good. Bounded per worker and in total: a
// worker that never comes back (or a flood of keys) costs at most `total`
// entries, and when the total is full the worker holding the most loses its
// oldest, so one busy or hostile key cannot push out everyone else's pay.

export interface OutboxLimits {
  perWorker: number;
  total: number;
}

export const OUTBOX_LIMITS: OutboxLimits = { perWorker: 256, total: 4096 };

export class ReceiptOutbox<T> {
  private readonly byWorker = new Map<string, T[]>();
  private count = 0;

  constructor(
    private readonly limits: OutboxLimits = OUTBOX_LIMITS,
    /** Told of every entry dropped to stay within the limits. */
    private readonly dropped: (worker: string, item: T) => void = () => {},
  ) {
    for (const [field, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${field}: expected a positive integer, got ${value}`);
    }
  }

  get size(): number {
    return this.count;
  }

  held(worker: string): number {
    return this.byWorker.get(worker)?.length ?? 0;
  }

  put(worker: string, item: T): void {
    let queue = this.byWorker.get(worker);
    if (!queue) this.byWorker.set(worker, (queue = []));
    queue.push(item);
    this.count++;
    if (queue.length > this.limits.perWorker) this.dropOldest(worker);
    if (this.count > this.limits.total) this.dropOldest(this.fullest());
  }

  /** Everything held for `worker`, oldest first, and forgets it. */
  take(worker: string): T[] {
    const queue = this.byWorker.get(worker) ?? [];
    this.byWorker.delete(worker);
    this.count -= queue.length;
    return queue;
  }

  private fullest(): string {
    let worst = '';
    let most = 0;
    for (const [worker, queue] of this.byWorker) {
      if (queue.length > most) [worst, most] = [worker, queue.length];
    }
    return worst;
  }

  private dropOldest(worker: string): void {
    const queue = this.byWorker.get(worker);
    const item = queue?.shift();
    if (!queue || item === undefined) return;
    this.count--;
    if (queue.length === 0) this.byWorker.delete(worker);
    this.dropped(worker, item);
  }
}

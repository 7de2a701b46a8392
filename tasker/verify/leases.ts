// Leases: the right to return one result for one unit, once. A lease is 16
// random bytes handed to one worker; the coordinator looks results up by it,
// so a result without a live lease of its sender's own is ignored.

import { toHex } from '../../protocol/bytes.ts';

export const LEASE_BYTES = 16;

export interface Lease {
  id: string;
  bytes: Uint8Array;
  worker: string;
  unit: number;
  issued: number;
  deadline: number;
  /** Leases its worker already held when this one was issued: the queue it waits behind. */
  held: number;
}

export class LeaseTable {
  private readonly byId = new Map<string, Lease>();
  private readonly byWorker = new Map<string, Set<string>>();

  constructor(private readonly random: () => number) {}

  get size(): number {
    return this.byId.size;
  }

  issue(worker: string, unit: number, issued: number, deadline: number): Lease {
    let bytes: Uint8Array;
    let id: string;
    do {
      bytes = Uint8Array.from({ length: LEASE_BYTES }, () => Math.floor(this.random() * 256) & 255);
      id = toHex(bytes);
    } while (this.byId.has(id));
    const lease: Lease = { id, bytes, worker, unit, issued, deadline, held: this.count(worker) };
    this.byId.set(id, lease);
    let mine = this.byWorker.get(worker);
    if (!mine) this.byWorker.set(worker, (mine = new Set()));
    mine.add(id);
    return lease;
  }

  find(bytes: Uint8Array): Lease | undefined {
    if (!(bytes instanceof Uint8Array) || bytes.length !== LEASE_BYTES) return undefined;
    return this.byId.get(toHex(bytes));
  }

  drop(lease: Lease): void {
    this.byId.delete(lease.id);
    const mine = this.byWorker.get(lease.worker);
    mine?.delete(lease.id);
    // A key that holds nothing costs nothing here: throwaway keys come and go by the thousand.
    if (mine?.size === 0) this.byWorker.delete(lease.worker);
  }

  /** Keys holding at least one lease. */
  get holders(): number {
    return this.byWorker.size;
  }

  count(worker: string): number {
    return this.byWorker.get(worker)?.size ?? 0;
  }

  heldBy(worker: string): Lease[] {
    return [...(this.byWorker.get(worker) ?? [])].map((id) => this.byId.get(id)!);
  }

  all(): Lease[] {
    return [...this.byId.values()];
  }
}

// What workers hear back about their results, and what they are paid.
//
// Two sources of final verdicts. 'settle': the coordinator's settle() returns
// them once they are final (after the epoch a result arrived in has closed),
// and says which are paid. 'session': for a coordinator without settle(), the
// receipts the session used to decide itself: a unit's results accepted and
// paid the moment it is verified, and every open result of a worker proven to
// cheat rejected at once.

import { toHex } from '../../protocol/bytes.ts';
import type { Judgment, Settlement, SubmitOutcome } from '../../tasker/verify/coordinator.ts';
import type { CoordinatorPort } from './tasker.ts';

export type ReceiptSource = 'session' | 'settle';

export interface SimReceipt {
  unit: number;
  lease: string;
  status: 'accepted' | 'rejected';
  reason?: string;
  paid: boolean;
}

interface LeaseRecord {
  key: string;
  unit: number;
  lease: string;
  hash: string;
  settled: boolean;
}

export class Receipts {
  private readonly byUnit = new Map<number, LeaseRecord[]>();
  private readonly openByKey = new Map<string, Set<LeaseRecord>>();
  private readonly paidCount = new Map<string, number>();

  constructor(
    private readonly coordinator: CoordinatorPort,
    private readonly source: ReceiptSource,
    private readonly deliver: (key: string, receipt: SimReceipt) => void,
  ) {}

  /** Paid results of `key`. */
  paid(key: string): number {
    return this.paidCount.get(key) ?? 0;
  }

  /** A result went in and the coordinator answered with `outcome`. */
  submitted(key: string, unit: number, lease: Uint8Array, hash: Uint8Array, outcome: SubmitOutcome): void {
    if (this.source !== 'session' || outcome.status === 'ignored') return;
    const record: LeaseRecord = { key, unit, lease: toHex(lease), hash: toHex(hash), settled: false };
    const list = this.byUnit.get(unit);
    if (list) list.push(record);
    else this.byUnit.set(unit, [record]);
    if (outcome.status === 'rejected' || outcome.status === 'disputed') {
      this.finish(record, 'rejected', outcome.reason ?? outcome.status);
    } else {
      let open = this.openByKey.get(key);
      if (!open) this.openByKey.set(key, (open = new Set()));
      open.add(record);
    }
    for (const { unit: u } of outcome.verified ?? []) this.settleUnit(u);
    for (const worker of outcome.penalised ?? []) this.settleWorker(worker);
    this.settleUnit(unit);
  }

  /** The tasker's own recomputation judged these results. */
  judged(unit: number, judgments: Judgment[]): void {
    if (this.source !== 'session') return;
    for (const j of judgments) if (j.status === 'rejected') this.settleWorker(j.worker);
    this.settleUnit(unit);
  }

  /** Takes the coordinator's final verdicts reached since the last poll. */
  poll(): void {
    if (this.source !== 'settle') return;
    for (const s of this.coordinator.settle()) this.onSettlement(s);
  }

  private onSettlement(s: Settlement): void {
    if (s.paid) this.count(s.worker);
    this.deliver(s.worker, {
      unit: s.unit,
      lease: toHex(s.lease),
      status: s.status,
      ...(s.reason === undefined ? {} : { reason: s.reason }),
      paid: s.paid,
    });
  }

  // ---- the session's receipts (tasker/session.ts settleUnit, settleWorker) ----

  private settleUnit(unit: number): void {
    const verified = this.coordinator.verifiedHash(unit);
    if (!verified) return;
    const hex = toHex(verified);
    for (const record of this.byUnit.get(unit) ?? []) {
      if (record.settled) continue;
      const ok = record.hash === hex && !this.coordinator.reputation.isBanned(record.key);
      this.finish(record, ok ? 'accepted' : 'rejected', ok ? undefined : 'does not match the verified output');
    }
  }

  private settleWorker(key: string): void {
    for (const record of this.openByKey.get(key) ?? []) this.finish(record, 'rejected', 'worker proven to cheat');
  }

  private finish(record: LeaseRecord, status: 'accepted' | 'rejected', reason: string | undefined): void {
    record.settled = true;
    this.openByKey.get(record.key)?.delete(record);
    const paid = status === 'accepted';
    if (paid) this.count(record.key);
    this.deliver(record.key, { unit: record.unit, lease: record.lease, status, ...(reason ? { reason } : {}), paid });
  }

  private count(key: string): void {
    this.paidCount.set(key, (this.paidCount.get(key) ?? 0) + 1);
  }
}

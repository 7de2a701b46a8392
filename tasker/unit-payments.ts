// The tasker pays each worker once per unit, however many leases of that
// unit the worker held. A unit counts as paid from the moment its payment
// starts (so two leases settling together do not both pay), and stops
// counting the moment that payment fails: otherwise a failed payment would
// leave the unit marked paid, and a later accepted lease of it would go
// unpaid as well.

import type { Paid, Payer } from './payer.ts';

/** What the session needs of a Payer: tests wrap one to delay or fail payments. */
export type PayerPort = Pick<Payer, 'price' | 'pay'>;

export class UnitPayments {
  /** `worker:unit` pairs paid, or being paid. */
  private readonly paid = new Set<string>();

  constructor(readonly payer: PayerPort) {}

  /**
   * The mint's signatures for this worker's unit, or undefined when it is
   * paid (or being paid) already. Throws what the payer throws, and then the
   * unit is unpaid again.
   */
  async pay(worker: string, unit: number, blinded: readonly Uint8Array[]): Promise<Paid | undefined> {
    const key = `${worker}:${unit}`;
    if (this.paid.has(key)) return undefined;
    this.paid.add(key);
    try {
      return await this.payer.pay(blinded);
    } catch (error) {
      this.paid.delete(key);
      throw error;
    }
  }
}

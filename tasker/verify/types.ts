// The coordinator's public shapes: what it is built from and what it answers.

import type { Defence } from './defence.ts';
import type { ReputationBook } from './reputation.ts';
import type { LocalReason } from './unit-state.ts';

/** The manifest's `verify` block. Rates are parts per million. */
export interface VerifyPolicy {
  replication: number;
  canaryPpm: number;
  samplePpm: number;
  minUnitMs: number;
}

export interface CoordinatorOptions {
  units: number;
  policy: VerifyPolicy;
  /** Unit index → the output hash the tasker already knows. Ordinary units of the task: they look like the rest. */
  canaries: Map<number, Uint8Array>;
  random?: () => number;
  now?: () => number;
  /** How long a worker has for one unit before it is reissued. */
  leaseMs: number;
  /** Most leases one worker may hold at once, at the top of the trust ramp. Default 16: a key cannot hoard. */
  maxBatch?: number;
  reputation?: ReputationBook;
  /** Clean results in a row before a worker may have a unit accepted alone. Default 10. */
  adaptiveStreak?: number;
  /** The checks against coordinated cheaters; each defaults to DEFENCE's value. */
  defence?: Partial<Defence>;
  /**
   * How long a key that holds nothing (no lease, no verdict owed, no answer
   * a unit still rests on) is remembered after it last claimed or answered.
   * Default four lease times. Forgotten, it returns as a fresh key.
   */
  forgetAfterMs?: number;
}

/** How many keys the coordinator keeps state for, map by map: what throwaway keys would grow. */
export interface CoordinatorStats {
  /** Keys remembered at all. */
  keys: number;
  profiles: number;
  answered: number;
  told: number;
  paced: number;
  leaseHolders: number;
  /** Leases of caught keys whose refusal is still to be told. */
  refused: number;
  /** Answers kept on units, all units together. */
  answers: number;
  /** Reputation records, and bans kept without one (zero for a book the coordinator does not own). */
  records: number;
  bans: number;
  /** Keys forgotten so far. */
  forgotten: number;
}

export interface Assignment {
  unit: number;
  lease: Uint8Array;
  deadline: number;
}

export interface SubmitOutcome {
  status: 'accepted' | 'rejected' | 'pending' | 'disputed' | 'ignored';
  reason?: string;
  /** Units that became verified in this step (earlier submitters learn their fate here too). */
  verified?: Array<{ unit: number; hash: Uint8Array }>;
  /** Workers proven to cheat, and banned, in this step. */
  penalised?: string[];
}

export interface Judgment {
  worker: string;
  unit: number;
  status: 'accepted' | 'rejected';
}

export interface LocalCheck {
  unit: number;
  reason: LocalReason;
}

export interface Progress {
  verified: number;
  units: number;
  outstanding: number;
  pendingChecks: number;
}

/** Where a worker reaches the tasker from. Keys in one group never verify a unit only among themselves. */
export interface WorkerProfile {
  /** An address class: an IPv4 /16 or an IPv6 /32 prefix, or `stealth` for every worker on an onion route (STEALTH_GROUP in tasker/address-group.ts). */
  group: string;
}

/**
 * A final verdict on one result: what its receipt says. Nothing is final
 * before the unit's hold has passed (or the task merges), so a receipt never
 * tells a worker which of its units were checks.
 */
export interface Settlement {
  worker: string;
  unit: number;
  lease: Uint8Array;
  status: 'accepted' | 'rejected';
  reason?: string;
  /** Accepted and past the key's unpaid warm-up: the tasker pays for it. */
  paid: boolean;
}

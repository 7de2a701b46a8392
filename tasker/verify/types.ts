// The coordinator's public shapes: what it is built from and what it answers.

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
  /** Most leases one worker may hold at once, at the top of the trust ramp. Default 64. */
  maxBatch?: number;
  reputation?: ReputationBook;
  /** Clean results in a row before a worker may have a unit accepted alone. Default 10. */
  adaptiveStreak?: number;
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

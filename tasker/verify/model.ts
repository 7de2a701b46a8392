// The verification policy's bound on wrong units, as a function of the
// adversary and the policy (docs/threat-model.md, "Verification"). The
// simulation (testnet/sim) checks measured runs against it over many seeds.
//
// The adversary controls a share `f` of the compute through `identities`
// keys, coordinates perfectly (it always knows which of its keys hold which
// unit), lists whatever known-answer units its throwaway keys can probe, and
// cheats on a unit only when every replica of it is one of its own keys.
//
// What the policy guarantees:
// 1. No unit is verified by young keys alone (verify/defence.ts,
//    `matureAfter`), so only the adversary's mature keys can verify a wrong
//    unit. Maturing a key costs `matureAfter` results verified honest, so
//    its compute buys at most f·R / matureAfter mature keys, R being the
//    results the whole task takes.
// 2. Replicas are assigned at random and a key cannot hoard leases, so a
//    unit's replicas are all the adversary's with probability at most f^r.
// 3. Each cheat is caught with probability at least q: the sampling rate,
//    plus the chance that a unit a partner also holds is a co-issued
//    known-answer unit. Receipts tell nothing before the epoch closes, so the
//    adversary cannot tell a check from a unit until it is too late.
// 4. One catch unravels a whole group of keys that cheated together: every
//    unit a caught key vouched for is recomputed when others agreed with it,
//    and each partner caught there is unravelled in turn.
//
// So wrong units come only from groups of keys that are never caught. A
// group that cheats c times survives with (1−q)^c, and c·(1−q)^c is at most
// 1/(e·λ) with λ = −ln(1−q). There are at most as many groups as mature
// keys. Hence, per task of U units,
//
//   E[wrong] ≤ min( U · f^r · (1−q),  keys / (e·λ) ),
//   keys = min(identities, f·R / matureAfter).

import { UsageError } from '../../protocol/errors.ts';

export interface Adversary {
  /** Share of the task's compute the adversary controls, 0 to 1. */
  share: number;
  /** Keys it can bring. */
  identities: number;
}

export interface PolicyModel {
  units: number;
  replication: number;
  /** Results the whole task takes, over units (replication plus checks), about replication × 1.1. */
  resultsPerUnit: number;
  /** The probability that one cheat is caught. */
  catchRate: number;
  matureAfter: number;
}

/** The bound on wrong units per 10,000 units, and what it is made of. */
export function wrongUnitBound(adversary: Adversary, policy: PolicyModel): { per10k: number; perTask: number; matureKeys: number } {
  const { share: f, identities } = adversary;
  const { units, replication, resultsPerUnit, catchRate: q, matureAfter } = policy;
  if (!(f >= 0 && f <= 1)) throw new UsageError(`share: expected a fraction, got ${f}`);
  if (!(q > 0 && q <= 1)) throw new UsageError(`catchRate: expected a probability above 0, got ${q}`);
  const results = units * resultsPerUnit;
  const matureKeys = matureAfter > 0 ? Math.min(identities, (f * results) / matureAfter) : identities;
  const byOpportunity = units * f ** replication * (1 - q);
  const lambda = q >= 1 ? Infinity : -Math.log(1 - q);
  const byGroups = matureKeys / (Math.E * lambda);
  const perTask = Math.min(byOpportunity, byGroups);
  return { per10k: (perTask / units) * 10_000, perTask, matureKeys };
}

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
// 1. A unit is verified only by `replication` answers of which at least two
//    (one, for a trusted key's solo unit) come from mature keys in more than
//    one address group (verify/defence.ts, `matureAfter`): a young key's
//    answer counts for nothing on its own. So a lie needs `r` mature keys of
//    the adversary's, and maturing a key costs `matureAfter` credited honest
//    results: its compute buys at most K = f·R / matureAfter mature keys, R
//    being the results the whole task takes.
// 2. Replicas are assigned at random and a key cannot hoard leases, so a
//    unit's replicas are all the adversary's with probability at most f^r.
// 3. Each lie is caught with probability at least q: the sampling rate. Keys
//    with fewer than `wellKnownAfter` credits are newcomers, and a unit only
//    newcomers verified is sampled at `newcomerCatchRate` at least; keys past
//    that are fewer still, K' = f·R / wellKnownAfter.
// 4. One catch unravels a whole group of keys that lied together: every
//    unit a caught key vouched for is recomputed when others agreed with it,
//    and each partner caught there is unravelled in turn.
//
// So wrong units come only from groups of keys that are never caught. A
// group holding a share s of the compute meets n = U·s^r units it holds
// every replica of; lying on c of them it survives with (1−q)^c, so it keeps
// at most h(s) = g(min(n, 1/λ)) wrong units in expectation, g(c) = c·(1−q)^c,
// λ = −ln(1−q). Over any split of f into groups, Σ h(sᵢ) ≤ f·max h(s)/s;
// and since each group needs r mature keys, there are at most K/r groups,
// each keeping at most g(1/λ) = 1/(e·λ). Per task of U units, for a class
// of K keys caught at rate q, the bound is the least of
//
//   U·f^r·(1−q),   f·max_s h(s)/s,   (K/r)/(e·λ);
//
// the task's bound is the lesser of all mature keys as one class at the
// sampling rate, and newcomers at theirs plus well-known keys at the
// sampling rate. It does not count on the adversary needing its
// partner to hold a unit at the same moment (a result held back for one is
// recomputed), which is what keeps measured runs far below it.

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
  /** The least probability that one lie is caught: the sampling rate. */
  catchRate: number;
  matureAfter: number;
  /** Credits past which a key is no longer a newcomer (4 × matureAfter by default). */
  wellKnownAfter?: number;
  /** The least sampling of a unit only newcomers verified (DEFENCE.newcomerSample); 0 to leave it out. */
  newcomerCatchRate?: number;
}

/** The bound on wrong units per 10,000 units, and what it is made of. */
export function wrongUnitBound(adversary: Adversary, policy: PolicyModel): { per10k: number; perTask: number; matureKeys: number } {
  const { share: f, identities } = adversary;
  const { units, replication: r, resultsPerUnit, catchRate: q, matureAfter } = policy;
  if (!(f >= 0 && f <= 1)) throw new UsageError(`share: expected a fraction, got ${f}`);
  if (!(q > 0 && q <= 1)) throw new UsageError(`catchRate: expected a probability above 0, got ${q}`);
  const results = units * resultsPerUnit;
  const keysAfter = (credits: number) => (credits > 0 ? Math.min(identities, (f * results) / credits) : identities);
  const matureKeys = keysAfter(matureAfter);
  const wellKnownAfter = policy.wellKnownAfter ?? 4 * matureAfter;
  const newcomerRate = Math.max(q, policy.newcomerCatchRate ?? 0);
  // Every mature key at the sampling rate is a bound; newcomers at their own
  // rate plus the fewer well-known keys at the sampling rate is another.
  const oneClass = classBound(units, f, r, q, matureKeys);
  const twoClasses = classBound(units, f, r, newcomerRate, matureKeys) + classBound(units, f, r, q, keysAfter(wellKnownAfter));
  const perTask = Math.min(oneClass, twoClasses);
  return { per10k: (Math.min(perTask, units) / units) * 10_000, perTask: Math.min(perTask, units), matureKeys };
}

/** Expected wrong units per task from one class of keys caught at rate q, of which there are `keys`. */
function classBound(units: number, f: number, r: number, q: number, keys: number): number {
  if (f <= 0 || keys < r) return 0;
  const byOpportunity = units * f ** r * (1 - q);
  if (q >= 1) return 0;
  const lambda = -Math.log(1 - q);
  const g = (c: number) => c * (1 - q) ** c;
  const byKeys = keys / r / (Math.E * lambda);
  // f·max h(s)/s over group shares s in (0, f], on a fine logarithmic grid:
  // h(s)/s is smooth with one peak, where U·s^r = (r−1)/(r·λ) while that is below 1/λ.
  let bySplit = 0;
  const lowest = f * 1e-4;
  for (let i = 0; i <= 4000; i++) {
    const s = lowest * (f / lowest) ** (i / 4000);
    bySplit = Math.max(bySplit, (f / s) * g(Math.min(units * s ** r, 1 / lambda)));
  }
  return Math.min(byOpportunity, bySplit, byKeys);
}

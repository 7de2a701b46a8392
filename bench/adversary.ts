// adversary_wrong_units: wrong units per 10,000 in the final output under the
// worst attack at 30% of the compute and 1,000 keys, from the in-process
// simulation (testnet/sim) of the real coordinator over many seeds, with the
// verification overhead that attack costs the task.

import { WRONG_UNITS_TARGET_PER_10K, attacks, campaign } from '../testnet/sim/campaign.ts';
import type { CampaignFigures } from '../testnet/sim/campaign.ts';
import type { Figure } from './results-file.ts';

const SEEDS = Array.from({ length: 10 }, (_, i) => 1 + i);
const SHARE = 0.3;

const round = (x: number, places: number): number => Math.round(x * 10 ** places) / 10 ** places;

export async function benchAdversary(): Promise<Record<string, Figure>> {
  const all: CampaignFigures[] = [];
  for (const attack of attacks(SHARE)) all.push(await campaign(attack, SEEDS));
  // A what-if: copiers if outputs leaked (docs/threat-model.md, "Copying"); the protocol keeps them private.
  const leaked = { name: 'copying-if-outputs-leaked', adversary: { mode: 'copying' as const, share: SHARE, identities: 1_000, spread: 'one' as const } };
  all.push(await campaign(leaked, SEEDS, (config) => (config.task.outputs = 'leaked')));
  // The worst: most wrong units; among equals, the one that costs the most verification.
  const worst = all.reduce((a, b) => (b.wrongPer10k > a.wrongPer10k || (b.wrongPer10k === a.wrongPer10k && b.overhead > a.overhead) ? b : a));
  const value = round(worst.wrongPer10k, 1);
  const bound = worst.boundPer10k;
  return {
    adversary_wrong_units: {
      value,
      unit: 'wrong units per 10,000',
      target: `<= the model's bound, and <= ${WRONG_UNITS_TARGET_PER_10K}`,
      pass: worst.complete === worst.seeds && value <= Math.min(bound, WRONG_UNITS_TARGET_PER_10K),
      attack: worst.attack,
      model_bound_per_10k: round(bound, 1),
      overhead_computations_per_unit: round(worst.overhead, 2),
      tasker_recomputations_per_unit: round(worst.taskerOverhead, 3),
      per_attack: Object.fromEntries(
        all.map((f) => [
          f.attack,
          {
            wrong_per_10k: round(f.wrongPer10k, 1),
            overhead: round(f.overhead, 2),
            tasker_overhead: round(f.taskerOverhead, 3),
            honest_credits_per_cpu_s: round(f.honestEarnings, 3),
            adversary_credits_per_cpu_s: round(f.adversaryEarnings, 3),
            banned_cheater_keys: f.bannedCheaterKeys,
            complete: `${f.complete}/${f.seeds}`,
          },
        ]),
      ),
      notes: `${SEEDS.length} seeds of 512 units per attack, adversary at ${SHARE * 100}% of the compute with 1,000 keys, default policy (replication 2, 5% canaries, 2% samples); outputs are private (inline in the encrypted session, or in result torrents encrypted under a key only the result message carries); copying-if-outputs-leaked is a what-if in which every output becomes public, where copiers out-earn honest work`,
    },
  };
}

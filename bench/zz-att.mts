import { attacks, campaign } from '../testnet/sim/campaign.ts';
const seeds = Array.from({ length: Number(process.env.N ?? 10) }, (_, i) => i + 1);
const only = process.env.ONLY?.split(',');
for (const attack of attacks(Number(process.env.SHARE ?? 0.3))) {
  if (only && !only.includes(attack.name)) continue;
  const t = performance.now();
  const f = await campaign(attack, seeds);
  console.log(attack.name.padEnd(18), 'wrong/10k', f.wrongPer10k.toFixed(1).padStart(6), 'runs', f.reports.map((r) => r.wrongUnits).join(','), 'complete', f.complete, 'adv', f.adversaryEarnings.toFixed(2), 'honest', f.honestEarnings.toFixed(2), 'ovh', f.overhead.toFixed(2), 'tasker', f.taskerOverhead.toFixed(2), 'time', (f.meanTimeMs / 1000).toFixed(0), 'real', ((performance.now() - t) / 1000).toFixed(1));
}

// `npm run bench`: prints each figure and writes them all to bench/results.json.
// `npm run bench -- verify pipeline` runs only the named ones.

import { SpareCyclesError } from '../protocol/errors.ts';
import { benchAdversary } from './adversary.ts';
import { benchExtensionWasm } from './extension.ts';
import { benchMessagePath } from './messages.ts';
import { benchMint } from './mint.ts';
import { benchOnion } from './onion.ts';
import { benchOnionRtt } from './onion-rtt.ts';
import { benchFirstResult, benchPipeline, benchUploadRatio } from './network.ts';
import { recordFigures, show } from './results-file.ts';
import type { Figure } from './results-file.ts';
import { benchStealthPipeline } from './stealth-pipeline.ts';
import { benchVerify } from './verify.ts';

const BENCHES: Record<string, () => Promise<Record<string, Figure>>> = {
  verify: benchVerify,
  messages: benchMessagePath,
  pipeline: () => benchPipeline(),
  'stealth-pipeline': () => benchStealthPipeline(),
  'first-result': benchFirstResult,
  'upload-ratio': () => benchUploadRatio(),
  extension: () => benchExtensionWasm(),
  mint: benchMint,
  onion: benchOnion,
  'onion-rtt': benchOnionRtt,
  adversary: benchAdversary,
};

const chosen = process.argv.slice(2);
for (const name of chosen) {
  if (!(name in BENCHES)) throw new SpareCyclesError('USAGE', `expected a benchmark (${Object.keys(BENCHES).join(', ')}), got ${name}`);
}
for (const [name, bench] of Object.entries(BENCHES)) {
  if (chosen.length && !chosen.includes(name)) continue;
  const figures = await bench();
  for (const [key, figure] of Object.entries(figures)) show(key, figure);
  await recordFigures(figures);
}

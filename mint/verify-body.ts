// The mint's credit-checking thread: C = k·H(x) for each job of a batch,
// answering Y = H(x) for a genuine credit and null otherwise.

import { parentPort } from 'node:worker_threads';
import { checkCredit } from '../protocol/credits/bdhke.ts';
import { loadSodiumCurve } from './sodium-curve.ts';
import type { CheckBatch, CheckReply } from './verifier.ts';

const curve = await loadSodiumCurve();
const check = (j: CheckBatch['jobs'][number]) => {
  try {
    return checkCredit(curve, j.k, j.x, j.C) ?? null;
  } catch {
    return null;
  }
};
parentPort!.on('message', (batch: CheckBatch) => {
  let offset = 0;
  batch.sizes.forEach((size, part) => {
    const reply: CheckReply = { id: batch.id, part, ys: batch.jobs.slice(offset, offset + size).map(check) };
    offset += size;
    parentPort!.postMessage(reply);
  });
});
parentPort!.postMessage({ ready: true });

// A unit thread on Node: a worker_threads Worker that runs one job at a time.

import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { UnitCrashError } from '../../protocol/errors.ts';
import { cpuBudget } from '../cpu-budget.ts';
import { UnitPool } from '../pool.ts';
import type { UnitThread } from '../pool.ts';
import type { ThreadJob, ThreadMessage, ThreadReply } from '../unit-thread.ts';

const ENTRY = new URL('./thread-entry.mjs', import.meta.url);

export function spawnNodeThread(): UnitThread {
  // Wasm memory lives outside the JS heap; these bound only the thread's own JS.
  const worker = new Worker(ENTRY, { resourceLimits: { maxOldGenerationSizeMb: 256 } });
  worker.unref();
  // Jobs handed over and not yet answered, in the order the thread runs them:
  // the thread answers on one port, so each message is about the oldest.
  const jobs: Array<{ resolve: (r: ThreadReply) => void; reject: (e: unknown) => void; onStart: () => void }> = [];
  const fail = (error: unknown) => {
    for (const job of jobs.splice(0)) job.reject(error);
  };
  worker.on('message', (message: ThreadMessage) => {
    if (message.type === 'start') jobs[0]?.onStart();
    else jobs.shift()?.resolve(message.reply);
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new UnitCrashError(`unit thread exited with code ${code}`)));
  return {
    run(job: ThreadJob, onStart: () => void) {
      return new Promise<ThreadReply>((resolve, reject) => {
        jobs.push({ resolve, reject, onStart });
        worker.postMessage(job);
      });
    },
    terminate() {
      jobs.splice(0);
      void worker.terminate();
    },
  };
}

/** A pool sized from a CPU fraction of this machine. */
export function nodeUnitPool(cpuFraction: number, cores = cpus().length): UnitPool {
  const budget = cpuBudget(cpuFraction, cores);
  return new UnitPool({ ...budget, spawn: spawnNodeThread });
}

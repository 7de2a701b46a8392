// Checking credits is the mint's one heavy step: a constant-time scalar
// multiplication per credit. On a machine with a core to spare it runs in a
// thread of its own, so the main thread keeps parsing requests and committing
// while the previous ones are checked. Jobs that arrive in the same turn of
// the event loop go over as one message, and each request's answer comes
// back as soon as its own credits are checked, not when the whole batch is.

import { Worker } from 'node:worker_threads';
import { checkCredit } from '../protocol/credits/bdhke.ts';
import type { CreditCurve } from '../protocol/credits/curve.ts';
import { SpareCyclesError } from '../protocol/errors.ts';

export interface CheckJob {
  k: Uint8Array;
  x: Uint8Array;
  C: Uint8Array;
}

export interface CheckBatch {
  id: number;
  jobs: CheckJob[];
  /** How many of the jobs belong to each request, in order: each request gets its answer as soon as its own jobs are done. */
  sizes: number[];
}

export interface CheckReply {
  id: number;
  /** Which request of the batch this answers. */
  part: number;
  /** Y = H(x) for each genuine credit, null for the others. */
  ys: (Uint8Array | null)[];
}

export interface CreditChecker {
  /** Y = H(x) for each credit whose C = k·H(x), undefined for the others. */
  check(jobs: CheckJob[]): Promise<(Uint8Array | undefined)[]>;
  close(): Promise<void>;
}

export function inlineChecker(curve: CreditCurve): CreditChecker {
  return {
    check: async (jobs) => jobs.map((j) => checkCredit(curve, j.k, j.x, j.C)),
    close: async () => {},
  };
}

const ENTRY = new URL('./verify-entry.mjs', import.meta.url);

export function threadChecker(): CreditChecker {
  let worker: Worker | undefined;
  let nextId = 0;
  let queued: { jobs: CheckJob[]; resolve: (ys: (Uint8Array | undefined)[]) => void; reject: (e: unknown) => void }[] = [];
  const inFlight = new Map<number, typeof queued>();
  let scheduled = false;

  const start = (): Worker => {
    const w = new Worker(ENTRY);
    w.unref();
    w.on('message', (reply: CheckReply | { ready: true }) => {
      if (!('id' in reply)) return;
      const callers = inFlight.get(reply.id);
      callers?.[reply.part]?.resolve(reply.ys.map((y) => y ?? undefined));
      if (callers && reply.part === callers.length - 1) inFlight.delete(reply.id);
    });
    const fail = (error: unknown) => {
      // A dead thread fails what it held; the next check starts a new one.
      if (worker === w) worker = undefined;
      for (const callers of inFlight.values()) for (const c of callers) c.reject(error);
      inFlight.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new SpareCyclesError('INTERNAL', `the credit-checking thread exited with ${code}`)));
    return w;
  };

  const flush = () => {
    scheduled = false;
    const callers = queued;
    queued = [];
    if (callers.length === 0) return;
    const id = nextId++;
    inFlight.set(id, callers);
    worker ??= start();
    worker.postMessage({ id, jobs: callers.flatMap((c) => c.jobs), sizes: callers.map((c) => c.jobs.length) } satisfies CheckBatch);
  };

  return {
    check(jobs) {
      return new Promise((resolve, reject) => {
        queued.push({ jobs, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    async close() {
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}

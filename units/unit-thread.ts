// What runs inside a unit thread, Node worker thread or browser Web Worker
// alike: take a job, run it, answer with the output or a typed error record.

import { SpareCyclesError, UnitCrashError, toErrorRecord } from '../protocol/errors.ts';
import type { ErrorRecord } from '../protocol/errors.ts';
import { runUnit } from '../protocol/unit.ts';
import type { UnitRequest } from '../protocol/unit.ts';

export interface ThreadJob {
  module: WebAssembly.Module;
  request: UnitRequest;
}

export type ThreadReply = { ok: true; output: Uint8Array; busyMs: number } | { ok: false; error: ErrorRecord };

/** What a thread posts back: first that it has begun, then the reply. */
export type ThreadMessage = { type: 'start' } | { type: 'reply'; reply: ThreadReply };

export function handleJob(job: ThreadJob): ThreadReply {
  const started = performance.now();
  try {
    const output = runUnit(job.module, job.request);
    return { ok: true, output, busyMs: performance.now() - started };
  } catch (error) {
    const typed =
      error instanceof SpareCyclesError ? error : new UnitCrashError(`unit thread failed: ${String(error)}`);
    return { ok: false, error: toErrorRecord(typed) };
  }
}

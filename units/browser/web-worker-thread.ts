// A unit thread in the browser: a Web Worker (unit-worker.ts) driven
// through comlink. `terminate()` kills it outright, which is the only way to
// stop a Wasm loop; the pool then spawns a fresh one.

import * as Comlink from 'comlink';
import { UnitCrashError } from '../../protocol/errors.ts';
import type { UnitThread } from '../pool.ts';
import type { ThreadJob, ThreadReply } from '../unit-thread.ts';
import type { UnitWorkerApi } from './unit-worker.ts';
// Vite bundles the worker (with comlink and the unit runtime) as its own file.
// `new Worker(new URL(…, import.meta.url))` is not used: WXT defines
// import.meta.url as self.location.href, which hides it from Vite's worker plugin.
import UnitWorker from './unit-worker.ts?worker';

export function spawnWebWorkerThread(): UnitThread {
  const worker = new UnitWorker({ name: 'sparecycles-unit' });
  const remote = Comlink.wrap<UnitWorkerApi>(worker);
  // Jobs handed over and not yet answered: comlink answers each call on its
  // own, but a crash ends them all.
  const failers = new Set<(error: unknown) => void>();
  const fail = (error: unknown) => {
    for (const f of [...failers]) f(error);
  };
  // A crash inside the worker (or a module that fails to load) never answers
  // the comlink call: turn it into a rejection of the jobs it holds.
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    fail(new UnitCrashError(`unit worker failed: ${event.message || 'unknown error'}`));
  });
  worker.addEventListener('messageerror', () => fail(new UnitCrashError('unit worker sent a message that could not be read')));
  return {
    run(job: ThreadJob, onStart: () => void): Promise<ThreadReply> {
      return new Promise<ThreadReply>((resolve, reject) => {
        const settle = (done: () => void) => {
          if (!failers.delete(failer)) return;
          done();
        };
        const failer = (error: unknown) => settle(() => reject(error));
        failers.add(failer);
        remote.run(job, Comlink.proxy(onStart)).then(
          (reply) => settle(() => resolve(reply)),
          (error: unknown) => failer(error),
        );
      });
    },
    terminate() {
      failers.clear();
      worker.terminate();
    },
  };
}

// The body of a browser unit thread: a module Web Worker that runs one job at
// a time through the same handleJob as Node's worker threads. The host talks
// to it through comlink; `onStart` is a comlink proxy, called before the unit
// runs so that the host starts the unit's clock only then.

import * as Comlink from 'comlink';
import { handleJob } from '../unit-thread.ts';
import type { ThreadJob, ThreadReply } from '../unit-thread.ts';

export interface UnitWorkerApi {
  run(job: ThreadJob, onStart: () => void): ThreadReply;
}

const api: UnitWorkerApi = {
  run(job, onStart) {
    // The proxy call posts its message at once, before the Wasm blocks this thread.
    void onStart();
    const reply = handleJob(job);
    return reply.ok ? Comlink.transfer(reply, [reply.output.buffer as ArrayBuffer]) : reply;
  },
};

Comlink.expose(api);

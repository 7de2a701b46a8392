import { parentPort } from 'node:worker_threads';
import { handleJob } from '../unit-thread.ts';
import type { ThreadJob, ThreadMessage } from '../unit-thread.ts';
import { SpareCyclesError } from '../../protocol/errors.ts';

const port = parentPort;
if (!port) throw new SpareCyclesError('INTERNAL', 'thread-body must run in a worker thread');
port.on('message', (job: ThreadJob) => {
  port.postMessage({ type: 'start' } satisfies ThreadMessage);
  const reply = handleJob(job);
  port.postMessage({ type: 'reply', reply } satisfies ThreadMessage, reply.ok ? [reply.output.buffer as ArrayBuffer] : []);
});

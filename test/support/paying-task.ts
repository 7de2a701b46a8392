// A task that pays at the mesh's mint and takes one result per unit, as the
// browser tests publish it (the extension is their only worker), with the
// tasker's verdicts collected as they come.

import type { LogLine } from '../../serve/log.ts';
import type { TaskerSession } from '../../tasker/session.ts';
import type { Mesh } from '../../testnet/mesh.ts';

export type Verdict = { worker: string; unit: number; status: string };

export async function publishPayingTask(
  mesh: Mesh,
  taskDir: string,
  pay: { price: number; units: number },
  log?: (line: LogLine) => void,
): Promise<{ session: TaskerSession; results: Verdict[] }> {
  const session = await mesh.publish(taskDir, {
    log,
    // Enough for every unit twice over, so no payment fails for want of funds.
    pay: { price: pay.price, deposit: pay.units * pay.price * 2 },
    change: (task) => {
      task.body.verify.replication = 1;
    },
  });
  const results: Verdict[] = [];
  session.on('result', (r) => results.push(r));
  return { session, results };
}

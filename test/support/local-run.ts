// The output a task gives on this machine alone (`cycles run-local`): what
// every networked run is compared with, byte for byte.

import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { runLocal, type LocalRunResult } from '../../tasker/local-run.ts';
import { loadTaskDir } from '../../tasker/task-dir.ts';
import { nodeUnitPool } from '../../units/node/node-thread.ts';

/** Runs every unit of the task folder in a pool of its own, which is stopped afterwards. */
export async function runLocally(taskDir: string, cpu = 1): Promise<LocalRunResult> {
  const pool = nodeUnitPool(cpu);
  try {
    return await runLocal(nodeCrypto, await loadTaskDir(nodeCrypto, taskDir), pool);
  } finally {
    await pool.stop();
  }
}

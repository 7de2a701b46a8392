import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { runLocal } from '../tasker/local-run.ts';
import { loadTaskDir } from '../tasker/task-dir.ts';
import { nodeUnitPool } from '../units/node/node-thread.ts';
import { progress } from './progress.ts';
import { UsageError, parseCpu } from './usage.ts';

export const usage = 'cycles run-local <task-dir> --out <file> [--cpu 1.0] [--json]';

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string' }, cpu: { type: 'string' }, json: { type: 'boolean' } },
  });
  const dir = positionals[0];
  if (!dir || positionals.length > 1 || !values.out) throw new UsageError(`usage: ${usage}`);
  const cpu = parseCpu(values.cpu ?? '1');
  const task = await loadTaskDir(nodeCrypto, dir);
  const pool = nodeUnitPool(cpu);
  const bar = progress(task.body.name);
  try {
    const result = await runLocal(nodeCrypto, task, pool, (p) => {
      if (values.json) process.stdout.write(`${JSON.stringify({ event: 'unit', ...p })}\n`);
      else bar.update(p.done + p.failed, p.total, p.failed ? `(${p.failed} failed)` : '');
    });
    await writeFile(values.out, result.merged);
    const line = {
      event: 'done',
      out: values.out,
      units: task.body.units,
      bytes: result.merged.length,
      wallMs: Math.round(result.wallMs),
      busyMs: Math.round(result.busyMs),
      threads: pool.size,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(line)}\n`);
    else bar.finish(`wrote ${values.out} (${line.bytes} bytes, ${line.units} units in ${line.wallMs} ms on ${line.threads} threads)`);
    return 0;
  } finally {
    await pool.stop();
  }
}

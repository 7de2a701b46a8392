import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main as runLocal } from './run-local.ts';

export const summary = 'the local demo: run the Mandelbrot example on this machine';
export const usage = 'cycles demo';

const EXAMPLE = fileURLToPath(new URL('../examples/mandelbrot', import.meta.url));

export async function main(): Promise<number> {
  const out = join(await mkdtemp(join(tmpdir(), 'sparecycles-demo-')), 'mandelbrot.png');
  process.stderr.write(`SpareCycles demo: computing ${EXAMPLE} locally\n`);
  const status = await runLocal([EXAMPLE, '--out', out]);
  if (status === 0) process.stdout.write(`${out}\n`);
  return status;
}

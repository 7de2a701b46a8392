// External programs a test needs. Under CI (CI=true) a missing one fails the
// run, because .ci/run installs them; on a developer's machine the error says
// what to install.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function requireTool(name: string, debianPackage = name): Promise<string> {
  try {
    const { stdout } = await run('sh', ['-c', `command -v ${name}`]);
    return stdout.trim();
  } catch {
    const hint = process.env.CI ? '.ci/run should have installed it' : `apt-get install ${debianPackage}`;
    throw new Error(`${name} is missing (${hint})`);
  }
}

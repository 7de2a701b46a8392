// Part of `npm run test:long`: an install without dev dependencies
// (`npm ci --omit=dev`) of this working tree leaves a `cycles` that starts,
// runs units in its threads, and runs the demo. test/unit/dependencies.test.ts
// checks the same from the imports, in seconds; this checks it for real, in
// minutes (npm ci builds better-sqlite3 from source where no prebuilt is
// reachable).

import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MINUTE = 60_000;
const dir = mkdtempSync(join(tmpdir(), 'sparecycles-omit-dev-'));
// Keys, wallets and the demo's files stay in the copy, which goes at the end.
const env = { ...process.env, SPARECYCLES_HOME: join(dir, 'home'), TMPDIR: join(dir, 'tmp') };
mkdirSync(env.TMPDIR);

function fail(message: string): never {
  process.stderr.write(`check-omit-dev: ${message}\n`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}

function run(command: string, args: string[], options: SpawnSyncOptions & { timeout: number }): string {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env, ...options });
  if (result.status !== 0) {
    const why = result.error?.message ?? `exit ${result.status ?? result.signal}`;
    fail(`${command} ${args.join(' ')} failed (${why}):\n${String(result.stdout)}${String(result.stderr)}`);
  }
  return String(result.stdout);
}

/** The working tree as git sees it: tracked files and new ones not ignored, so that uncommitted work is checked too. */
function copyWorkingTree(to: string): void {
  const listed = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, timeout: MINUTE });
  for (const file of listed.split('\0')) {
    if (!file || !existsSync(join(ROOT, file))) continue; // deleted but not yet committed
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(join(ROOT, file), join(to, file));
  }
}

/** Packages the lock file marks dev-only: none of them may be installed. */
function devOnlyPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => entry.dev === true && path.startsWith('node_modules/'))
    .map(([path]) => path);
}

function check(): void {
  copyWorkingTree(dir);
  process.stdout.write(`check-omit-dev: npm ci --omit=dev in ${dir}\n`);
  run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: dir, timeout: 20 * MINUTE });

  const installed = devOnlyPackages().filter((path) => existsSync(join(dir, path)));
  if (installed.length > 0) fail(`dev-only packages were installed: ${installed.join(', ')}`);

  const cycles = join(dir, 'bin/cycles.mjs');
  const help = run(process.execPath, [cycles, '--help'], { cwd: dir, timeout: 2 * MINUTE });
  if (!help.startsWith('usage: cycles')) fail(`cycles --help printed:\n${help}`);
  process.stdout.write('check-omit-dev: cycles --help works\n');

  // Unit threads load the sources through their own entry, so they are checked apart from the command.
  run(process.execPath, [cycles, 'run-local', 'examples/mandelbrot', '--out', join(dir, 'mandelbrot.png')], {
    cwd: dir,
    timeout: 5 * MINUTE,
  });
  process.stdout.write('check-omit-dev: cycles run-local works\n');

  const demo = run(process.execPath, [cycles, 'demo'], { cwd: dir, timeout: 5 * MINUTE });
  if (!/^output magnet: +magnet:/m.test(demo)) fail(`cycles demo printed no output magnet:\n${demo}`);
  process.stdout.write('check-omit-dev: cycles demo works\n');
}

check();
rmSync(dir, { recursive: true, force: true });
process.stdout.write('check-omit-dev: passed\n');

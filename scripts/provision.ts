// The first step of `npm test`: install what the tests take from the system
// (testnet/system-tools.ts) before any of them runs. As root with apt-get it
// installs what is missing; otherwise it stops at once with the command to
// run. A library that `npm ci` builds against (libsodium, for the mint's
// addon) may have been missing when `npm ci` ran: then what is built against
// it is built again here.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  SYSTEM_TOOLS,
  findOnPath,
  isPresent,
  provisioningPlan,
  toolName,
  type SystemTool,
} from '../testnet/system-tools.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function listed(tools: readonly SystemTool[]): string {
  return tools.map((tool) => `  ${toolName(tool)} (Debian package ${tool.debianPackage}): ${tool.why}`).join('\n');
}

/** Runs a command quietly; its output is shown only if it fails. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  const result = spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status === 0) return true;
  process.stderr.write(`provision: ${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})\n`);
  process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
  return false;
}

function loads(name: string): boolean {
  return spawnSync(process.execPath, ['-e', `require(${JSON.stringify(name)})`], { cwd: ROOT, stdio: 'ignore' }).status === 0;
}

/** The spec package.json gives `name` (an optional dependency may have been left out by `npm ci` when its build failed). */
function declaredSpec(name: string): string | undefined {
  const manifest = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as Record<string, Record<string, string> | undefined>;
  return manifest.optionalDependencies?.[name] ?? manifest.dependencies?.[name] ?? manifest.devDependencies?.[name];
}

/** Builds `name` again; when its build failed at `npm ci`, npm left it out, so it is put back first. */
function rebuild(name: string): boolean {
  process.stdout.write(`provision: building ${name} again\n`);
  if (!existsSync(`${ROOT}node_modules/${name}`)) {
    const spec = declaredSpec(name);
    if (spec === undefined) {
      process.stderr.write(`provision: ${name} is not declared in package.json\n`);
      return false;
    }
    if (!run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', `${name}@${spec}`])) return false;
  }
  return run('npm', ['rebuild', name]) && loads(name);
}

function main(): number {
  const root = process.getuid?.() === 0;
  const missing = SYSTEM_TOOLS.filter((tool) => !isPresent(tool));
  const apt = findOnPath('apt-get') !== undefined;
  const plan = provisioningPlan(missing, root, apt);

  if (plan.action === 'instruct') {
    process.stderr.write(
      `npm test needs these from the system, and they are missing:\n${listed(missing)}\n` +
        `Install them, then run npm test again:\n  ${plan.command}\n` +
        (apt ? '' : 'That is the Debian or Ubuntu command; elsewhere install the same programs your own way.\n'),
    );
    return 1;
  }
  if (plan.action === 'install') {
    process.stdout.write(`provision: apt-get install ${plan.packages.join(' ')}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (!run('apt-get', ['update', '-qq'], env)) return 1;
    if (!run('apt-get', ['install', '-y', '-qq', ...plan.packages], env)) return 1;
    const still = SYSTEM_TOOLS.filter((tool) => !isPresent(tool));
    if (still.length > 0) {
      process.stderr.write(`provision: still missing after apt-get install:\n${listed(still)}\n`);
      return 1;
    }
  }

  // Checked even when nothing was installed: the library may have arrived after `npm ci`.
  for (const tool of SYSTEM_TOOLS) {
    for (const name of tool.builds ?? []) {
      if (loads(name)) continue;
      if (!rebuild(name)) {
        process.stderr.write(`provision: ${name} does not build against ${toolName(tool)}\n`);
        return 1;
      }
    }
  }
  return 0;
}

process.exitCode = main();

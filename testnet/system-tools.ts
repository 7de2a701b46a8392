// What the tests, the benchmarks and `npm ci` take from the system rather than
// from npm: one list, read by the provisioning step that `npm test` runs first
// (scripts/provision.ts), by requireTool's hint, and by the test that scans
// the sources for every program they start (test/unit/provisioning.test.ts).

import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface SystemTool {
  /** A program looked up on PATH; or, for a library, `file` is what its package installs. */
  command?: string;
  file?: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  why: string;
  /** npm packages that `npm ci` builds against it, and that must be built again once it is installed. */
  builds?: readonly string[];
}

export const SYSTEM_TOOLS: readonly SystemTool[] = [
  {
    command: 'chromium',
    debianPackage: 'chromium',
    why: 'the extension and the protocol library are tested in Chromium (puppeteer-core drives it)',
  },
  {
    command: 'firefox-esr',
    debianPackage: 'firefox-esr',
    why: 'the Firefox build of the extension is tested in Firefox',
  },
  {
    command: 'aria2c',
    debianPackage: 'aria2',
    why: 'a real BitTorrent client downloads a task from the tasker',
  },
  {
    command: 'openssl',
    debianPackage: 'openssl',
    why: "the verify benchmark compares with OpenSSL's own ed25519 speed",
  },
  {
    command: 'make',
    debianPackage: 'make',
    why: "node-gyp builds better-sqlite3 (the mint's ledger) and ristretto-sodium at npm ci",
  },
  {
    command: 'g++',
    debianPackage: 'g++',
    why: "node-gyp builds better-sqlite3 (the mint's ledger) and ristretto-sodium at npm ci",
  },
  {
    command: 'python3',
    debianPackage: 'python3',
    why: 'node-gyp runs gyp',
  },
  {
    file: '/usr/include/sodium.h',
    debianPackage: 'libsodium-dev',
    why: "the mint's native ristretto255 (packages/ristretto-sodium) builds against the system's libsodium; under CI a test requires it",
    builds: ['ristretto-sodium'],
  },
];

/** How a tool is named in messages: its command, or the file it stands for. */
export function toolName(tool: SystemTool): string {
  return tool.command ?? tool.file ?? tool.debianPackage;
}

export function toolForCommand(command: string, tools: readonly SystemTool[] = SYSTEM_TOOLS): SystemTool | undefined {
  return tools.find((tool) => tool.command === command);
}

/** The first executable `command` on `path` (a PATH-style list), like `command -v`. */
export function findOnPath(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  return undefined;
}

export function isPresent(tool: SystemTool, path = process.env.PATH ?? ''): boolean {
  if (tool.command !== undefined) return findOnPath(tool.command, path) !== undefined;
  return tool.file !== undefined && existsSync(tool.file);
}

/** The Debian packages that provide `tools`, each once, in list order. */
export function debianPackages(tools: readonly SystemTool[]): string[] {
  return [...new Set(tools.map((tool) => tool.debianPackage))];
}

/** The command a person runs to install `tools`: `sudo` unless they already are root. */
export function installCommand(tools: readonly SystemTool[], root: boolean): string {
  return `${root ? '' : 'sudo '}apt-get install -y ${debianPackages(tools).join(' ')}`;
}

export type ProvisioningPlan =
  | { action: 'none' }
  /** Root with apt: install these packages. */
  | { action: 'install'; packages: string[] }
  /** Nothing this process may install: stop, and tell the person what to run. */
  | { action: 'instruct'; command: string };

/** What to do about the `missing` tools, as root or not, with or without apt-get. */
export function provisioningPlan(missing: readonly SystemTool[], root: boolean, apt: boolean): ProvisioningPlan {
  if (missing.length === 0) return { action: 'none' };
  if (root && apt) return { action: 'install', packages: debianPackages(missing) };
  return { action: 'instruct', command: installCommand(missing, root) };
}

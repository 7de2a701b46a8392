// External programs a test needs, each from the list in system-tools.ts, which
// `npm test` provisions before any test runs. A tool missing here means that
// step was bypassed (vitest run directly) or the list lacks it.

import { SpareCyclesError } from '../protocol/errors.ts';
import { findOnPath, installCommand, toolForCommand } from './system-tools.ts';

/** The path of `command`, which must be listed in SYSTEM_TOOLS so that `npm test` installs it. */
export async function requireTool(command: string, path = process.env.PATH ?? ''): Promise<string> {
  const tool = toolForCommand(command);
  if (!tool) {
    throw new SpareCyclesError('NOT_FOUND', `${command} is not in testnet/system-tools.ts, so npm test does not install it: list it there`);
  }
  const found = findOnPath(command, path);
  if (found) return found;
  throw new SpareCyclesError(
    'NOT_FOUND',
    `${command} is missing: npm test installs it as root, or run ${installCommand([tool], process.getuid?.() === 0)} (${tool.why})`,
  );
}

// The `cycles` command: a table of sub-commands, one file each.

import { SpareCyclesError } from '../protocol/errors.ts';
import { UsageError } from './usage.ts';

interface Command {
  summary: string;
  usage: string;
  main(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  'run-local': () => import('./run-local.ts'),
  publish: () => import('./publish.ts'),
  worker: () => import('./worker.ts'),
  demo: () => import('./demo.ts'),
  tracker: () => import('./tracker.ts'),
  relay: () => import('./relay.ts'),
  mint: () => import('./mint.ts'),
  deposit: () => import('./deposit.ts'),
  wallet: () => import('./wallet.ts'),
  redeem: () => import('./redeem.ts'),
};

/** Roles still to come: listed so `--help` shows the whole product. */
const PLANNED: Record<string, string> = {};

async function help(): Promise<void> {
  const lines = ['usage: cycles <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const command = await load();
    lines.push(`  ${name.padEnd(10)} ${command.summary}`, `  ${''.padEnd(10)} ${command.usage}`);
  }
  for (const [name, summary] of Object.entries(PLANNED)) lines.push(`  ${name.padEnd(10)} ${summary}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await help();
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(
      name in PLANNED ? `cycles ${name}: not built yet\n` : `cycles: unknown command ${JSON.stringify(name)}; try cycles --help\n`,
    );
    return 2;
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.summary}\nusage: ${command.usage}\n`);
    return 0;
  }
  return command.main(rest);
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`cycles: ${(error as Error).message}\n`);
    process.exitCode = 2;
  } else if (error instanceof SpareCyclesError) {
    process.stderr.write(`cycles: ${error.code}: ${error.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`cycles: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}

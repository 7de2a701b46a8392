// The `cycles` command: a table of sub-commands, one file each.

import { SpareCyclesError } from '../protocol/errors.ts';
import { UsageError } from './usage.ts';

interface Command {
  usage: string;
  main(argv: string[]): Promise<number>;
}

/**
 * Each sub-command's one-line summary, and how to load it. The summaries live
 * here so that `cycles --help` loads no sub-command: some pull in WebTorrent,
 * which takes longer to load than everything else the help needs.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  'run-local': {
    summary: 'run every unit of a task on this machine and write the merged output',
    load: () => import('./run-local.ts'),
  },
  publish: {
    summary: 'publish a task as a magnet link, run it to the end and publish the merged output',
    load: () => import('./publish.ts'),
  },
  worker: {
    summary: 'volunteer this machine: find offers (or take a magnet), compute units, return results',
    load: () => import('./worker.ts'),
  },
  status: {
    summary: 'show what the nodes running here are doing, over their control sockets',
    load: () => import('./status.ts'),
  },
  demo: {
    summary: 'the local mesh demo: a tasker pays two workers to compute Mandelbrot on loopback',
    load: () => import('./demo.ts'),
  },
  tracker: {
    summary: 'run a BitTorrent tracker: HTTP, UDP and WebSocket on one port',
    load: () => import('./tracker.ts'),
  },
  relay: {
    summary: 'run an edge relay: answers DHT questions for browsers over WebSocket',
    load: () => import('./relay.ts'),
  },
  mint: {
    summary: "run a credit mint: taskers' deposits, blind issuance, and each credit redeemed once",
    load: () => import('./mint.ts'),
  },
  deposit: {
    summary: "credit a tasker's account at a mint (the mint operator's escrow deposit)",
    load: () => import('./deposit.ts'),
  },
  wallet: { summary: 'show, export and import credits', load: () => import('./wallet.ts') },
  redeem: {
    summary: 'redeem credits at a mint: to an account, or for fresh credits (a swap)',
    load: () => import('./redeem.ts'),
  },
};

function help(): void {
  const lines = ['usage: cycles <command> [options]', '', 'commands:'];
  for (const [name, { summary }] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${summary}`);
  lines.push('', "`cycles <command> --help` shows a command's options.");
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    help();
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`cycles: unknown command ${JSON.stringify(name)}; try cycles --help\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${entry.summary}\nusage: ${command.usage}\n`);
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

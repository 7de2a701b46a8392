// `cycles status`: what the nodes running under this state folder are doing,
// read over their control sockets (docs/control-api.md) with their cookies.

import { lstat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { SpareCyclesError } from '../protocol/errors.ts';
import { ControlClient, type ControlHello } from '../serve/control-client.ts';
import { CONTROL_ROLES, controlPaths, cookieFileFor, type ControlPaths } from '../serve/control-paths.ts';
import { sparecyclesHome } from '../store/keys.ts';
import { pause, stopSignal } from './signals.ts';
import { UsageError } from './usage.ts';

export const usage = 'cycles status [--watch] [--json] [--control SOCKET]';

/** How often --watch asks again. */
const WATCH_MS = 1_000;
const BAR = 24;

interface Node {
  client: ControlClient;
  hello: ControlHello;
}

type Json = Record<string, unknown>;

/**
 * Without --json: a line per node, a line with a progress bar per task, and
 * its wallet. With --json: each node's status object, one JSON line per node
 * (per node and second, with --watch). Exit status 1 when no node answers.
 */
export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { watch: { type: 'boolean' }, json: { type: 'boolean' }, control: { type: 'string' } },
  });
  if (positionals.length) throw new UsageError(`usage: ${usage}`);
  const nodes = await connect(values.control);
  const out = process.stdout;
  const tty = out.isTTY === true && !values.json;
  try {
    if (!values.watch) {
      out.write(await render(nodes, values.json === true));
      return 0;
    }
    const stop = stopSignal();
    let drawn = 0;
    while (!stop.signal.aborted) {
      const live = nodes.filter((n) => !n.client.closed);
      if (live.length === 0) {
        if (!values.json) out.write('no node is running any more\n');
        return 0;
      }
      const text = await render(live, values.json === true).catch((error: Error) => (error instanceof SpareCyclesError && error.code === 'NETWORK' ? '' : Promise.reject(error)));
      // On a terminal the block is drawn again in place; to a file or a pipe, one block a second.
      if (tty && drawn > 0) out.write(`\x1b[${drawn}F\x1b[J`);
      out.write(text);
      drawn = text.split('\n').length - 1;
      await pause(WATCH_MS, stop.signal);
    }
    return 0;
  } finally {
    for (const n of nodes) n.client.close();
  }
}

/** The node named by --control, or every node whose socket is in the state folder. */
async function connect(socket: string | undefined): Promise<Node[]> {
  const candidates: ControlPaths[] = socket
    ? [{ socket, cookieFile: cookieFileFor(socket) }]
    : CONTROL_ROLES.map((role) => controlPaths(role));
  const nodes: Node[] = [];
  for (const paths of candidates) {
    if (!socket && !(await lstat(paths.socket).then((s) => s.isSocket(), () => false))) continue;
    try {
      nodes.push(await ControlClient.open(paths.socket, paths.cookieFile));
    } catch (error) {
      // A socket left by a node that crashed answers nothing: not a running node.
      if (!socket && error instanceof SpareCyclesError && error.code === 'NETWORK') continue;
      for (const n of nodes) n.client.close();
      throw error;
    }
  }
  if (nodes.length === 0) throw new SpareCyclesError('NOT_FOUND', `no node is running under ${sparecyclesHome()} (start one, or name its socket with --control)`);
  return nodes;
}

async function render(nodes: Node[], json: boolean): Promise<string> {
  const blocks: string[] = [];
  for (const node of nodes) {
    const status = (await node.client.call('status')) as Json;
    if (json) {
      blocks.push(`${JSON.stringify(status)}\n`);
      continue;
    }
    const has = (m: string) => node.hello.methods.includes(m);
    const tasks = has('tasks') ? (((await node.client.call('tasks')) as { tasks: Json[] }).tasks ?? []) : [];
    const wallet = has('wallet') ? ((await node.client.call('wallet')) as Json) : undefined;
    blocks.push(describe(node.hello.role, status, tasks, wallet));
  }
  return blocks.join('');
}

function describe(role: string, status: Json, tasks: Json[], wallet: Json | undefined): string {
  const key = typeof status.key === 'string' ? ` ${status.key.slice(0, 16)}…` : '';
  const cpu = typeof status.threads === 'number' ? `  ${status.threads} thread(s) at ${Math.round(Number(status.dutyCycle) * 100)}%` : '';
  const lines = [`${role}${key}  ${String(status.stage)}${status.paused ? ' (paused)' : ''}${cpu}`];
  for (const task of tasks) lines.push(`  ${taskLine(task)}`);
  if (role === 'worker' && tasks.length === 0) lines.push('  no task yet');
  if (wallet) lines.push(`  wallet ${String(wallet.total)}`);
  return `${lines.join('\n')}\n`;
}

/** `name [#####.....] computed/units  accepted A  rejected R  pending P`. */
function taskLine(task: Json): string {
  const p = (task.progress ?? {}) as Record<string, number>;
  const total = typeof task.units === 'number' ? task.units : undefined;
  const name = typeof task.name === 'string' ? task.name : String(task.infohash).slice(0, 12);
  const done = p.computed ?? 0;
  const filled = total ? Math.min(BAR, Math.round((done / total) * BAR)) : 0;
  const bar = total ? `[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${done}/${total}` : `${done} computed`;
  return `${name} ${bar}  accepted ${p.accepted ?? 0}  rejected ${p.rejected ?? 0}  pending ${p.pending ?? 0}${task.stage && task.stage !== 'working' ? `  (${String(task.stage)})` : ''}`;
}

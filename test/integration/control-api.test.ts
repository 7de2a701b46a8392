// The worker's local control API as a user meets it: a real `cycles worker`
// process on a loopback testnet, steered over its control socket while it
// finds and computes a paying task, and read by `cycles status` processes.
// Every method is called; a caller without the cookie is refused; the CPU
// limit changes twice mid-task and no unit is lost: the merged output is
// still run-local's, byte for byte.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../serve/control-client.ts';
import { RPC_CODES } from '../../serve/control-protocol.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { compileFixture } from '../../testnet/wasm-fixtures.ts';
import { waitFor } from '../../testnet/wait.ts';
import { runLocally } from '../support/local-run.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CYCLES = join(ROOT, 'bin/cycles.mjs');
const PRICE = 3;
const UNITS = 12;

// Answers as the test reads them: shapes asserted with toMatchObject.
type Json = Record<string, any>;

let taskDir: string;
let expected: Uint8Array;
let mesh: Mesh | undefined;
const children: ChildProcess[] = [];

/**
 * Units slow enough (slow.wat spins input[0] million rounds first, a few
 * hundred milliseconds) that a unit is still running, or waiting behind one,
 * when the CPU limit changes; outputs small enough to ride inline.
 */
async function makeSlowTask(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-control-task-'));
  await mkdir(join(dir, 'inputs'));
  await writeFile(join(dir, 'unit.wasm'), await compileFixture('slow'));
  for (let unit = 0; unit < UNITS; unit++) {
    await writeFile(join(dir, `inputs/${unit}.bin`), new Uint8Array(64).map((_, i) => (i === 0 ? 250 : (i * 13 + unit) & 255)));
  }
  await writeFile(
    join(dir, 'task.json'),
    JSON.stringify({
      name: 'slow-units',
      units: UNITS,
      inputs: Array.from({ length: UNITS }, (_, u) => `inputs/${u}.bin`),
      limits: { memoryPages: 64, unitTimeMs: 20_000, outputBytes: 4096 },
      verification: { replication: 1, canaryRate: 0, sampleRate: 0, minUnitMs: 0 },
      merge: { kind: 'concat' },
    }),
  );
  return dir;
}

beforeAll(async () => {
  taskDir = await makeSlowTask();
  expected = (await runLocally(taskDir)).merged;
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await mesh?.stop();
  if (taskDir) await rm(taskDir, { recursive: true, force: true });
});

/** Waits until units are handed to the worker and not yet computed: the moment to resize the pool under them. */
async function unitsInFlight(client: ControlClient): Promise<Json> {
  return waitFor('units in flight', async () => {
    const s = (await client.call('status')) as Json;
    return s.units.assigned > s.units.computed + s.units.failed && s;
  }, 60_000, 5);
}

/** `cycles …` run to its end under `home`. */
function cyclesOnce(home: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CYCLES, ...args], { env: { ...process.env, SPARECYCLES_HOME: home }, timeout: 60_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('cycles worker over its control socket', () => {
  it('serves every method while it finds and computes a task, and loses no unit when the CPU limit changes', { timeout: 300_000 }, async () => {
    mesh = await Mesh.start({ mint: true, transports: 'tcp' });
    const home = join(mesh.dir, 'cli');
    const net = ['--dht-bootstrap', mesh.net.bootstrap.join(','), ...mesh.trackers.flatMap((t) => ['--tracker', t])];
    const worker = spawn(process.execPath, [CYCLES, 'worker', '--json', '--cpu', '0.25', ...net], {
      env: { ...process.env, SPARECYCLES_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(worker);
    const exited = once(worker, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const printed: Json[] = [];
    createInterface({ input: worker.stdout! }).on('line', (line) => printed.push(JSON.parse(line)));
    let stderr = '';
    worker.stderr!.on('data', (d) => (stderr += d));
    const socket = join(home, 'worker.sock');
    const cookieFile = join(home, 'worker.cookie');
    await waitFor('the worker to start', () => {
      if (worker.exitCode !== null) throw new Error(`the worker exited: ${stderr}`);
      return printed.some((e) => e.event === 'started');
    }, 60_000);
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
    expect((await stat(cookieFile)).mode & 0o777).toBe(0o600);

    // A caller without the cookie: refused, then cut off.
    const stranger = await ControlClient.connect(socket);
    await expect(stranger.call('status')).rejects.toMatchObject({ code: 'UNAUTHORIZED', rpcCode: RPC_CODES.unauthorized });
    await expect(stranger.call('auth', { cookie: '00'.repeat(32) })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(stranger.call('stop')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await waitFor('the stranger to be cut off', () => stranger.closed);

    // A second worker under the same state folder is refused while this one runs.
    const second = await cyclesOnce(home, 'worker', '--json', '--cpu', '0.25', '--wallet', join(home, 'other-wallet.json'), ...net);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^cycles: BUSY: another node is running with its control socket at /m);

    const { client, hello } = await ControlClient.open(socket, cookieFile);
    expect(hello).toMatchObject({ api: 1, role: 'worker' });
    expect(hello.methods).toEqual(expect.arrayContaining(['status', 'pause', 'resume', 'setCpu', 'tasks', 'wallet', 'stop', 'subscribe']));
    const events: Array<[string, Json]> = [];
    client.on('event', (name, params) => events.push([name, params]));
    expect(await client.call('subscribe', {})).toEqual({ events: ['ready', 'assigned', 'computed', 'failed', 'receipt', 'paid', 'stopping'] });

    // Paused before it has a task: it finds one, fetches and checks it, and claims nothing.
    expect(await client.call('pause')).toEqual({ paused: true });
    const waiting = (await client.call('status')) as Json;
    expect(waiting).toMatchObject({ role: 'worker', stage: 'waiting', paused: true, task: null, cpu: 0.25 });
    expect(waiting.key).toBe(printed.find((e) => e.event === 'started')!.key);
    expect(await client.call('tasks')).toEqual({ tasks: [] });

    // Replication 1: this worker alone finishes the task.
    const session = await mesh.publish(taskDir, { offer: true, pay: { price: PRICE, deposit: UNITS * PRICE } });
    const ready = await waitFor('the worker to hold the task, checked', async () => {
      const s = (await client.call('status')) as Json;
      return s.stage === 'working' && s;
    }, 120_000);
    expect(ready).toMatchObject({ paused: true, task: { infohash: session.infoHash, name: 'slow-units', units: UNITS }, units: { assigned: 0, computed: 0 } });
    expect(events.find(([name]) => name === 'ready')).toEqual(['ready', { task: session.infoHash, name: 'slow-units', units: UNITS }]);

    // Read by `cycles status --json` from another process while the task is held.
    const polled = await cyclesOnce(home, 'status', '--json');
    expect(polled.code).toBe(0);
    expect(JSON.parse(polled.stdout)).toMatchObject({ role: 'worker', key: waiting.key, stage: 'working', paused: true, task: { infohash: session.infoHash } });

    expect(await client.call('resume')).toEqual({ paused: false });
    const computed = () => events.filter(([name]) => name === 'computed').length;
    await waitFor('a unit computed', () => computed() >= 1, 60_000);

    // More CPU mid-task: every core, flat out.
    const cores = cpus().length;
    await unitsInFlight(client);
    expect(await client.call('setCpu', { cpu: 1 })).toEqual({ cpu: 1, threads: cores, dutyCycle: 1 });
    await expect(client.call('setCpu', { cpu: 2 })).rejects.toMatchObject({ code: 'USAGE', field: 'cpu', rpcCode: RPC_CODES.invalidParams });
    await expect(client.call('setCpu', {})).rejects.toMatchObject({ code: 'USAGE', rpcCode: RPC_CODES.invalidParams });

    // `cycles status` (and --json) while units run.
    const running = await cyclesOnce(home, 'status', '--json');
    const status = JSON.parse(running.stdout) as Json;
    expect(status).toMatchObject({ stage: 'working', paused: false, cpu: 1, threads: cores, dutyCycle: 1, task: { name: 'slow-units' } });
    expect(status.units.computed).toBeGreaterThanOrEqual(1);
    const text = await cyclesOnce(home, 'status');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^worker [0-9a-f]{16}… {2}working {2}\d+ thread\(s\) at 100%$/m);
    expect(text.stdout).toMatch(/^ {2}slow-units \[[#.]{24}\] \d+\/12 {2}accepted \d+ {2}rejected 0 {2}pending \d+$/m);

    // Less CPU mid-task, with units in flight: surplus threads retire once their units are done.
    const before = computed();
    await waitFor('another unit computed', () => computed() > before, 60_000);
    await unitsInFlight(client);
    expect(await client.call('setCpu', { cpu: 0.25 })).toMatchObject({ cpu: 0.25, threads: Math.max(1, Math.ceil(0.25 * cores)) });

    const tasks = ((await client.call('tasks')) as Json).tasks as Json[];
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ infohash: session.infoHash, name: 'slow-units', units: UNITS, mode: expect.any(String), price: PRICE, mint: mesh.net.mint!.url });
    expect(tasks[0]!.progress.computed).toBeGreaterThan(0);

    const merged = await session.done;
    expect(Buffer.compare(merged, expected)).toBe(0);

    // No unit lost: every unit handed to this worker was computed, none failed, and every result has its final receipt.
    const settled = await waitFor('every result answered', async () => {
      const s = (await client.call('status')) as Json;
      return s.units.pending === 0 && s.units.computed === s.units.assigned && s.units.accepted + s.units.rejected === s.units.computed && s;
    }, 60_000);
    expect(settled.units.failed).toBe(0);
    expect(settled.units.rejected).toBe(0);
    expect(events.some(([name]) => name === 'failed')).toBe(false);
    const assigned = events.filter(([name]) => name === 'assigned').flatMap(([, p]) => p.units as number[]);
    expect(assigned.length).toBe(settled.units.assigned);
    expect(computed()).toBe(settled.units.computed);
    expect(events.filter(([name]) => name === 'receipt').length).toBeGreaterThanOrEqual(settled.units.accepted);

    // The wallet: what the paid events brought, at the task's mint (a new key's first units go unpaid, its admission warm-up).
    const paid = events.filter(([name]) => name === 'paid').reduce((sum, [, p]) => sum + (p.amount as number), 0);
    expect(paid).toBeGreaterThan(0);
    const wallet = (await client.call('wallet')) as Json;
    expect(wallet).toEqual({ mints: [{ mint: mesh.net.mint!.url, balance: paid }], total: paid });
    expect(settled.credits).toBe(paid);

    // Stop: it answers, says so to subscribers, settles and exits cleanly, taking its socket and cookie along.
    expect(await client.call('stop')).toEqual({ stopping: true });
    await waitFor('the stopping event', () => events.some(([name]) => name === 'stopping'));
    expect(await exited).toEqual([0, null]);
    expect(printed.at(-1)).toEqual({ event: 'stopped' });
    await expect(stat(socket)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(cookieFile)).rejects.toMatchObject({ code: 'ENOENT' });
    await waitFor('the control connection to close', () => client.closed);
    const gone = await cyclesOnce(home, 'status');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^cycles: NOT_FOUND: no node is running under /);
    expect(await readFile(join(home, 'worker.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
  });
});

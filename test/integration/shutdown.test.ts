// Every long-running command exits promptly on SIGTERM, even when what it
// depends on does not answer: a DHT bootstrap, a tracker or a mint on a
// loopback port where nothing listens. Under systemd a stop that outlasts the
// stop timeout ends in SIGKILL, so the bound below is the requirement itself.
//
// Each command is started as an operator starts it (bin/cycles.mjs), waited
// for until it says it is up, given work that waits on the silent network
// where it can be (a relay's DHT lookups), then sent SIGTERM. It must exit
// with status 0 within the bound and say that it stopped.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../protocol/messages/index.ts';
import { WebSocketClient } from '../../serve/ws.ts';
import { waitFor } from '../../testnet/wait.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const EXAMPLE = join(ROOT, 'examples/mandelbrot');
/** From SIGTERM to exit: the requirement (systemd's default stop timeout is 90 s; an operator's patience is less). */
const EXIT_BOUND_MS = 5_000;
/** Starting takes a while on a loaded two-core machine; this bounds the wait, it is not under test. */
const UP_MS = 45_000;

let home: string;
/** A port with nothing listening, for UDP (the DHT) and TCP (a tracker, a mint). */
let deadPort: number;

/** A free port number on 127.0.0.1, for both TCP and UDP, released again. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  // The same number must be free for UDP too, or a DHT packet would reach someone.
  const udp = createSocket('udp4');
  const bound = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, '127.0.0.1', () => resolve(true));
  });
  await new Promise<void>((resolve) => udp.close(() => resolve()));
  return bound ? port : freePort();
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'sc-shutdown-'));
  deadPort = await freePort();
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

function cycles(name: string, args: string[]): Running {
  const child = spawn(process.execPath, [join(ROOT, 'bin/cycles.mjs'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SPARECYCLES_HOME: join(home, name) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return { child, stdout: () => stdout, stderr: () => stderr, exited: once(child, 'exit') as Running['exited'] };
}

/** The JSON lines of a stream; other lines (a progress bar, say) are skipped. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').flatMap((line) => {
    try {
      const value = JSON.parse(line) as unknown;
      return value && typeof value === 'object' ? [value as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

const events = (text: string) => jsonLines(text).map((l) => l.event);

/**
 * Starts a command, waits until `up` says it is up, runs `busy` (work that
 * waits on the silent network), sends SIGTERM and returns the exit and how
 * long it took. Kills it outright if it outlives the test.
 */
async function stopAfterUp(
  run: Running,
  up: (r: Running) => boolean,
  busy: () => Promise<void> = async () => {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  try {
    await waitFor(
      'the command to say it is up',
      () => {
        if (run.child.exitCode !== null) throw new Error(`it exited with ${run.child.exitCode} before it was up: ${run.stderr().slice(-2000)}`);
        return up(run);
      },
      UP_MS,
    );
    await busy();
    const sent = performance.now();
    run.child.kill('SIGTERM');
    const outcome = await Promise.race([run.exited, new Promise<'still running'>((r) => setTimeout(r, EXIT_BOUND_MS * 4, 'still running'))]);
    const ms = performance.now() - sent;
    if (outcome === 'still running') return { code: null, signal: null, ms };
    return { code: outcome[0], signal: outcome[1], ms };
  } finally {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  }
}

const bootstrap = () => ['--dht-bootstrap', `127.0.0.1:${deadPort}`];
const tracker = () => ['--tracker', `http://127.0.0.1:${deadPort}/announce`];

describe('SIGTERM with the network not answering', { timeout: UP_MS + 8 * EXIT_BOUND_MS }, () => {
  it('cycles tracker exits at once and logs its stop', async () => {
    const run = cycles('tracker', ['tracker', '--port', '0', '--host', '127.0.0.1']);
    const exit = await stopAfterUp(run, (r) => r.stdout().split('\n').length > 3);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(EXIT_BOUND_MS);
    expect(events(run.stderr())).toEqual(expect.arrayContaining(['start', 'signal', 'stop']));
    expect(jsonLines(run.stderr()).filter((l) => l.level === 'error')).toEqual([]);
  });

  it('cycles relay exits at once with DHT lookups in flight, and logs its stop', async () => {
    const run = cycles('relay', ['relay', '--port', '0', '--host', '127.0.0.1', ...bootstrap()]);
    const exit = await stopAfterUp(
      run,
      (r) => r.stdout().includes('\n'),
      async () => {
        // What a browser asks: a relay-find starts an offer refresh (a topic
        // lookup), a relay-get a BEP 44 get; on this DHT neither can finish.
        const url = run.stdout().trim();
        const ws = new WebSocketClient(url);
        await once(ws, 'open');
        ws.send(encodeMessage({ t: 'relay-find', v: 1, id: randomBytes(8) }), { binary: true });
        ws.send(encodeMessage({ t: 'relay-get', v: 1, id: randomBytes(8), key: randomBytes(32) }), { binary: true });
        const metrics = `${url.replace(/^ws:/, 'http:')}/metrics`;
        // Requests are served in order: once the get is in flight, so is the refresh the find started.
        await waitFor('a relay-get lookup in flight', async () => /^sparecycles_relay_item_lookups_in_flight 1$/m.test(await (await fetch(metrics)).text()));
        ws.on('error', () => {});
      },
    );
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(EXIT_BOUND_MS);
    expect(events(run.stderr())).toEqual(expect.arrayContaining(['relay-start', 'signal', 'relay-stop']));
    expect(jsonLines(run.stderr()).filter((l) => l.level === 'error')).toEqual([]);
  });

  it('cycles mint exits at once and logs its stop', async () => {
    const run = cycles('mint', ['mint', '--db', join(home, 'mint', 'ledger.db'), '--port', '0']);
    const exit = await stopAfterUp(run, (r) => r.stdout().includes('\n'));
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(EXIT_BOUND_MS);
    expect(events(run.stderr())).toEqual(expect.arrayContaining(['mint.started', 'signal', 'mint.stopped']));
    expect(jsonLines(run.stderr()).filter((l) => l.level === 'error')).toEqual([]);
  });

  it('cycles worker exits at once while it looks for offers, and says it stopped', async () => {
    const run = cycles('worker-find', ['worker', '--json', '--cpu', '0.25', ...bootstrap(), ...tracker()]);
    const exit = await stopAfterUp(run, (r) => events(r.stdout()).includes('started'));
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(EXIT_BOUND_MS);
    expect(events(run.stdout())).toEqual(['started', 'stopped']);
  });

  it('cycles worker exits at once while it waits for a task nobody serves, and says it stopped', async () => {
    const magnet = `magnet:?xt=urn:btih:${randomBytes(20).toString('hex')}&tr=${encodeURIComponent(`http://127.0.0.1:${deadPort}/announce`)}`;
    const run = cycles('worker-magnet', ['worker', '--json', '--cpu', '0.25', '--magnet', magnet, ...bootstrap(), ...tracker()]);
    const exit = await stopAfterUp(run, (r) => events(r.stdout()).includes('worker'));
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(EXIT_BOUND_MS);
    expect(events(run.stdout())).toEqual(expect.arrayContaining(['started', 'worker', 'stopped']));
  });

  it('cycles publish exits at once while its task waits for workers, and says it stopped', async () => {
    const out = join(home, 'publish.png');
    const run = cycles('publish', ['publish', EXAMPLE, '--json', '--out', out, ...bootstrap(), ...tracker()]);
    const exit = await stopAfterUp(run, (r) => events(r.stdout()).includes('magnet'));
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(EXIT_BOUND_MS);
    expect(events(run.stdout())).toEqual(expect.arrayContaining(['magnet', 'stopped']));
    expect(events(run.stdout())).not.toContain('done');
  });

  it('cycles publish refuses at once a task whose mint does not answer', async () => {
    const run = cycles('publish-mint', ['publish', EXAMPLE, '--json', '--mint', `http://127.0.0.1:${deadPort}`, ...bootstrap(), ...tracker()]);
    const outcome = await Promise.race([run.exited, new Promise<'still running'>((r) => setTimeout(r, UP_MS, 'still running'))]);
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
    expect(outcome).toEqual([2, null]);
    expect(run.stderr()).toMatch(/^cycles: the task pays at http:\/\/127\.0\.0\.1:\d+, but the mint could not be asked: /m);
  });
});

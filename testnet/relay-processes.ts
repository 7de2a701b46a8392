// `cycles relay --onion` processes as an operator runs them, on a private
// DHT: each on its own loopback address (127.0.0.2, .3, …; Linux routes all
// of 127/8 to loopback), naming the others with --peer, so a route through
// them crosses real processes and real links. Their ports are chosen before
// any starts, since each must name the others' URLs.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../protocol/bytes.ts';
import { NetworkError, SpareCyclesError } from '../protocol/errors.ts';
import { decodeMessage } from '../protocol/messages/index.ts';
import { decodeDescriptorList } from '../protocol/messages/relay.ts';
import type { LogLine } from '../serve/log.ts';
import { waitFor } from './wait.ts';

const CYCLES = new URL('../bin/cycles.mjs', import.meta.url).pathname;
/** How long a process may take to print its URL, and the mesh to form. */
const START_MS = 30_000;
/** SIGTERM, then SIGKILL after this. */
const STOP_MS = 20_000;

export interface RelayProcess {
  readonly child: ChildProcess;
  /** ws://host:port, as it printed. */
  readonly url: string;
  /** Its JSON log lines so far (stderr). */
  lines(): LogLine[];
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
}

export interface RelayProcessesOptions {
  /** The DHT to join: host:port of each bootstrap node. */
  bootstrap: string[];
  /** One loopback address per relay. Default 127.0.0.2, .3, .4. */
  hosts?: string[];
  /** More flags for relay `i` (an --exit-mint, say). */
  extraArgs?: (i: number) => string[];
}

export interface RelayProcesses {
  readonly relays: RelayProcess[];
  /** Each relay's key in hex, from its GET /descriptor. */
  readonly keys: string[];
  /** Waits until every relay's GET /descriptors lists all of them: until each can dial the others. */
  meshFormed(timeoutMs?: number): Promise<void>;
  /** Every log line of every process, at `level`. */
  linesAt(level: LogLine['level']): LogLine[];
  /** Stops every process (SIGTERM, SIGKILL if it lingers) and removes their folders; the exits in relay order. */
  stop(): Promise<[number | null, NodeJS.Signals | null][]>;
}

/** A port free on `host` now. */
export async function freePort(host: string): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function httpOf(ws: string): string {
  return ws.replace(/^ws/, 'http');
}

async function getBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new NetworkError(`GET ${url}: expected 200, got ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function keyOf(ws: string): Promise<string> {
  const message = decodeMessage(await getBytes(`${httpOf(ws)}/descriptor`));
  if (message.t !== 'relay-descriptor') throw new SpareCyclesError('PROTOCOL', `expected a relay-descriptor, got ${message.t}`);
  return toHex(message.key);
}

async function viewOf(ws: string): Promise<string[]> {
  return decodeDescriptorList(await getBytes(`${httpOf(ws)}/descriptors`)).map((bytes) => {
    const message = decodeMessage(bytes);
    return message.t === 'relay-descriptor' ? toHex(message.key) : '';
  });
}

async function stopOne(child: ChildProcess, exited: RelayProcess['exited']): Promise<[number | null, NodeJS.Signals | null]> {
  if (child.exitCode !== null || child.signalCode !== null) return [child.exitCode, child.signalCode];
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Starts one `cycles relay --onion` per host and waits for each one's URL; on failure, stops whatever started. */
export async function startRelayProcesses(options: RelayProcessesOptions): Promise<RelayProcesses> {
  const hosts = options.hosts ?? ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const home = await mkdtemp(join(tmpdir(), 'sc-relays-'));
  const relays: RelayProcess[] = [];
  const children: ChildProcess[] = [];
  const exits: Promise<[number | null, NodeJS.Signals | null]>[] = [];
  const logs: (() => LogLine[])[] = [];
  const dirOf = (i: number) => join(home, `relay-${i}`);

  const startOne = async (i: number, urls: string[], port: number): Promise<RelayProcess> => {
    const args = [
      'relay',
      '--onion',
      '--host', hosts[i]!,
      '--port', String(port),
      '--dht-bootstrap', options.bootstrap.join(','),
      '--key', join(dirOf(i), 'relay.key'),
      '--state-dir', join(dirOf(i), 'state'),
      '--family', `operator-${i}`,
      ...urls.filter((_, j) => j !== i).flatMap((u) => ['--peer', u]),
      ...(options.extraArgs?.(i) ?? []),
    ];
    const child = spawn(process.execPath, [CYCLES, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SPARECYCLES_HOME: dirOf(i) },
    });
    children.push(child);
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    exits.push(exited);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const lines = () =>
      stderr.split('\n').flatMap((l) => {
        if (!l) return [];
        try {
          return [JSON.parse(l) as LogLine];
        } catch {
          return [{ level: 'error', event: 'unparsed', message: l } as LogLine];
        }
      });
    logs.push(lines);
    await waitFor('a relay URL on stdout', () => stdout.includes('\n') || child.exitCode !== null, START_MS, 20);
    if (!stdout.includes('\n')) throw new SpareCyclesError('INTERNAL', `cycles relay exited before printing its URL: ${stderr.slice(-2000)}`);
    return { child, url: stdout.trim(), lines, exited };
  };

  const stop = async (): Promise<[number | null, NodeJS.Signals | null][]> => {
    const done = await Promise.all(children.map((child, i) => stopOne(child, exits[i]!)));
    await rm(home, { recursive: true, force: true });
    return done;
  };

  try {
    const ports: number[] = [];
    for (const host of hosts) ports.push(await freePort(host));
    const urls = hosts.map((host, i) => `ws://${host}:${ports[i]}`);
    relays.push(...(await Promise.all(hosts.map((_, i) => startOne(i, urls, ports[i]!)))));
    const keys = await Promise.all(relays.map((r) => keyOf(r.url)));
    return {
      relays,
      keys,
      meshFormed: (timeoutMs = START_MS) =>
        waitFor(
          'every relay to know the others',
          async () => (await Promise.all(relays.map((r) => viewOf(r.url)))).every((view) => keys.every((k) => view.includes(k))),
          timeoutMs,
          100,
        ).then(() => undefined),
      linesAt: (level) => logs.flatMap((lines) => lines()).filter((l) => l.level === level),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

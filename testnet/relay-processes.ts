// `cycles relay --onion` processes as an operator runs them, on a private
// DHT: each on its own loopback address (127.0.0.2, .3, …; Linux routes all
// of 127/8 to loopback), naming the others with --peer, so a route through
// them crosses real processes and real links. Their ports are chosen before
// any starts, since each must name the others' URLs. RelayFleet and the
// pieces under it (one process, its stop, its descriptor and view) also
// serve tests that kill a relay and start it again.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../protocol/bytes.ts';
import { NetworkError, SpareCyclesError } from '../protocol/errors.ts';
import { decodeMessage, type RelayDescriptor } from '../protocol/messages/index.ts';
import { decodeDescriptorList } from '../protocol/messages/relay.ts';
import type { OnionHop } from '../protocol/onion/index.ts';
import type { LogLine } from '../serve/log.ts';
import { waitFor } from './wait.ts';

const CYCLES = new URL('../bin/cycles.mjs', import.meta.url).pathname;
/** How long a process may take to print its URL, and the mesh to form. */
const START_MS = 30_000;
/** SIGTERM, then SIGKILL after this. */
const STOP_MS = 20_000;

/** How a process ended: its exit code, or the signal that ended it. */
export type RelayExit = [number | null, NodeJS.Signals | null];

export interface RelayProcess {
  readonly child: ChildProcess;
  /** ws://host:port, as it printed. */
  readonly url: string;
  /** Its JSON log lines so far (stderr); a line that is not JSON counts as an error. */
  lines(): LogLine[];
  readonly exited: Promise<RelayExit>;
}

export interface RelayProcessesOptions {
  /** The DHT to join: host:port of each bootstrap node. */
  bootstrap: string[];
  /** One loopback address per relay. Default 127.0.0.2, .3, .4. */
  hosts?: string[];
  /** More flags for relay `i` (an --exit-mint, say). */
  extraArgs?: (i: number) => string[];
}

export interface RelayFleetOptions extends RelayProcessesOptions {
  /** Relay `i` keeps its key and state in home/relay-i, which is also its SPARECYCLES_HOME. */
  home: string;
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
  stop(): Promise<RelayExit[]>;
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

/** A free port on each host, in order. */
async function freePorts(hosts: string[]): Promise<number[]> {
  const ports: number[] = [];
  for (const host of hosts) ports.push(await freePort(host));
  return ports;
}

/** The http:// base of a relay's ws:// URL. */
function httpOf(ws: string): string {
  return ws.replace(/^ws/, 'http');
}

function parseLines(text: string): LogLine[] {
  return text.split('\n').flatMap((l) => {
    if (!l) return [];
    try {
      return [JSON.parse(l) as LogLine];
    } catch {
      return [{ level: 'error', event: 'unparsed', message: l } as LogLine];
    }
  });
}

/**
 * Starts `cycles <args>` with SPARECYCLES_HOME=`home` and waits for the URL it
 * prints on stdout. If none comes, the process is stopped before this throws,
 * so a failed start leaves nothing running.
 */
export async function spawnRelay(args: string[], home: string): Promise<RelayProcess> {
  const child = spawn(process.execPath, [CYCLES, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SPARECYCLES_HOME: home },
  });
  const exited = once(child, 'exit') as Promise<RelayExit>;
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const relay = { child, url: '', lines: () => parseLines(stderr), exited };
  try {
    await waitFor('a relay URL on stdout', () => stdout.includes('\n') || child.exitCode !== null, START_MS, 20);
    if (!stdout.includes('\n')) throw new SpareCyclesError('INTERNAL', `cycles relay exited before printing its URL: ${stderr.slice(-2000)}`);
  } catch (error) {
    await stopRelay(relay);
    throw error;
  }
  return { ...relay, url: stdout.trim() };
}

/** SIGTERM, then SIGKILL if it has not exited within STOP_MS; how it ended (at once if it already had). */
export async function stopRelay(relay: Pick<RelayProcess, 'child' | 'exited'>): Promise<RelayExit> {
  const { child } = relay;
  if (child.exitCode !== null || child.signalCode !== null) return [child.exitCode, child.signalCode];
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
  try {
    return await relay.exited;
  } finally {
    clearTimeout(timer);
  }
}

async function getBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new NetworkError(`GET ${url}: expected 200, got ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The descriptor a relay serves at `httpBase`/descriptor. */
export async function relayDescriptorAt(httpBase: string): Promise<RelayDescriptor> {
  const message = decodeMessage(await getBytes(`${httpBase}/descriptor`));
  if (message.t !== 'relay-descriptor') throw new SpareCyclesError('PROTOCOL', `expected a relay-descriptor, got ${message.t}`);
  return message;
}

/** The hop a packet built for `epoch` takes through the relay `descriptor` names. */
export function onionHopOf(descriptor: RelayDescriptor, epoch: number): OnionHop {
  const key = descriptor.onion.find((k) => k.epoch === epoch);
  if (!key) throw new SpareCyclesError('NOT_FOUND', `relay ${toHex(descriptor.key).slice(0, 8)} lists no onion key for epoch ${epoch}`);
  return { id: descriptor.key, onionKey: key.key };
}

/** The keys (hex) of the relays a relay hands on at `httpBase`/descriptors: its view. */
export async function relayViewAt(httpBase: string): Promise<string[]> {
  return decodeDescriptorList(await getBytes(`${httpBase}/descriptors`)).map((bytes) => {
    const message = decodeMessage(bytes);
    return message.t === 'relay-descriptor' ? toHex(message.key) : '';
  });
}

/** Waits until the view of every relay at `httpBases` holds every key in `keys`: until each can dial those relays. */
export async function waitForViews(httpBases: string[], keys: string[], timeoutMs = START_MS): Promise<void> {
  await waitFor(
    `${httpBases.join(', ')} to know ${keys.map((k) => k.slice(0, 8)).join(', ')}`,
    async () => (await Promise.all(httpBases.map(relayViewAt))).every((view) => keys.every((k) => view.includes(k))),
    timeoutMs,
    100,
  );
}

/**
 * One `cycles relay --onion` per host, each on a port chosen up front, so
 * that each can name the others with --peer and relay `i` can be started
 * again (after a kill, say) on the same URL, key and state. Every process's
 * log is kept, a killed one's too. stop() waits for starts still under way,
 * then stops those still running, so a failed start leaves nothing behind.
 */
export class RelayFleet {
  /** ws://host:port of relay `i`. */
  readonly urls: string[];
  readonly #options: RelayFleetOptions;
  readonly #hosts: string[];
  readonly #ports: number[];
  readonly #running = new Set<RelayProcess>();
  readonly #logs: (() => LogLine[])[] = [];
  readonly #starting = new Set<Promise<unknown>>();

  private constructor(options: RelayFleetOptions, hosts: string[], ports: number[]) {
    this.#options = options;
    this.#hosts = hosts;
    this.#ports = ports;
    this.urls = hosts.map((host, i) => `ws://${host}:${ports[i]}`);
  }

  /** Chooses a free port on each host; starts nothing. */
  static async create(options: RelayFleetOptions): Promise<RelayFleet> {
    const hosts = options.hosts ?? ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
    return new RelayFleet(options, hosts, await freePorts(hosts));
  }

  dirOf(i: number): string {
    return join(this.#options.home, `relay-${i}`);
  }

  httpOf(i: number): string {
    return httpOf(this.urls[i]!);
  }

  /** Starts relay `i`, naming every other as --peer and with family operator-i, and waits for its URL. */
  async start(i: number): Promise<RelayProcess> {
    const args = [
      'relay',
      '--onion',
      '--host', this.#hosts[i]!,
      '--port', String(this.#ports[i]),
      '--dht-bootstrap', this.#options.bootstrap.join(','),
      '--key', join(this.dirOf(i), 'relay.key'),
      '--state-dir', join(this.dirOf(i), 'state'),
      '--family', `operator-${i}`,
      ...this.urls.filter((_, j) => j !== i).flatMap((url) => ['--peer', url]),
      ...(this.#options.extraArgs?.(i) ?? []),
    ];
    const starting = spawnRelay(args, this.dirOf(i));
    this.#starting.add(starting);
    try {
      const relay = await starting;
      this.#logs.push(relay.lines);
      this.#running.add(relay);
      void relay.exited.then(() => this.#running.delete(relay));
      return relay;
    } finally {
      this.#starting.delete(starting);
    }
  }

  /** Those not yet exited. */
  get running(): RelayProcess[] {
    return [...this.#running];
  }

  linesAt(level: LogLine['level']): LogLine[] {
    return this.#logs.flatMap((lines) => lines()).filter((l) => l.level === level);
  }

  /** Stops those still running; their exits. */
  async stop(): Promise<RelayExit[]> {
    await Promise.allSettled(this.#starting);
    return Promise.all(this.running.map(stopRelay));
  }
}

/** Starts one `cycles relay --onion` per host and waits for each one's URL; on failure, stops whatever started. */
export async function startRelayProcesses(options: RelayProcessesOptions): Promise<RelayProcesses> {
  const home = await mkdtemp(join(tmpdir(), 'sc-relays-'));
  let fleet: RelayFleet | undefined;
  try {
    fleet = await RelayFleet.create({ ...options, home });
    return await startAll(fleet, home);
  } catch (error) {
    await fleet?.stop();
    await rm(home, { recursive: true, force: true });
    throw error;
  }
}

async function startAll(fleet: RelayFleet, home: string): Promise<RelayProcesses> {
  const relays = await Promise.all(fleet.urls.map((_, i) => fleet.start(i)));
  const keys = await Promise.all(relays.map(async (r) => toHex((await relayDescriptorAt(httpOf(r.url))).key)));
  return {
    relays,
    keys,
    meshFormed: (timeoutMs = START_MS) => waitForViews(relays.map((r) => httpOf(r.url)), keys, timeoutMs),
    linesAt: (level) => fleet.linesAt(level),
    // Every relay's exit, one that ended by itself included, so a crash shows.
    stop: async () => {
      const exits = await Promise.all(relays.map(stopRelay));
      await rm(home, { recursive: true, force: true });
      return exits;
    },
  };
}

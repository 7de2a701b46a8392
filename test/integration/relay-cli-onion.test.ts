// `cycles relay --onion` as an operator runs it: three real relay processes,
// each on its own loopback address (127.0.0.2, .3 and .4; Linux routes all of
// 127/8 to loopback), sharing a private DHT and naming each other with
// --peer. They find each other, and a packet built here on the onion keys
// they publish crosses all three to a mailbox opened at the last one. The
// middle relay is then killed and restarted on the same --state-dir and
// --key: it publishes the same onion key, and a packet built on the key it
// published before it died still goes through. Any log line at level 'error'
// fails the run; every process is stopped at the end.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../protocol/bytes.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { decodeMessage, type RelayDescriptor } from '../../protocol/messages/index.ts';
import { decodeDescriptorList, epochAt } from '../../protocol/messages/relay.ts';
import { createPacket, type OnionHop } from '../../protocol/onion/index.ts';
import { ONION_KEYS_FILE } from '../../relay/onion-keys.ts';
import type { LogLine } from '../../serve/log.ts';
import { startTestnet, type Testnet } from '../../testnet/testnet.ts';
import { freePort } from '../../testnet/relay-processes.ts';
import { waitFor } from '../../testnet/wait.ts';
import { closeOnionClients, OnionClient } from '../support/onion-client.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CYCLES = join(ROOT, 'bin/cycles.mjs');
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const MINT = 'http://127.0.0.1:8300';

interface RelayProcess {
  child: ChildProcess;
  url: string;
  /** Its JSON log lines so far. */
  lines(): LogLine[];
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

let testnet: Testnet;
let home: string;
const ports: number[] = [];
const running = new Set<RelayProcess>();
/** Every process's log, those killed included, checked for errors at the end. */
const logs: (() => LogLine[])[] = [];

const dirOf = (i: number) => join(home, `relay-${i}`);
const urlOf = (i: number) => `ws://${HOSTS[i]}:${ports[i]}`;
const httpOf = (i: number) => `http://${HOSTS[i]}:${ports[i]}`;

function argsOf(i: number): string[] {
  return [
    'relay',
    '--onion',
    '--host', HOSTS[i]!,
    '--port', String(ports[i]),
    '--dht-bootstrap', testnet.bootstrap.join(','),
    '--key', join(dirOf(i), 'relay.key'),
    '--state-dir', join(dirOf(i), 'state'),
    '--family', `operator-${i}`,
    ...[0, 1, 2].filter((j) => j !== i).flatMap((j) => ['--peer', urlOf(j)]),
    ...(i === 2 ? ['--exit-mint', MINT] : []),
  ];
}

/** Starts `cycles relay` number `i` and waits for its URL on stdout. */
async function startRelay(i: number): Promise<RelayProcess> {
  const child = spawn(process.execPath, [CYCLES, ...argsOf(i)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SPARECYCLES_HOME: dirOf(i) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const lines = () =>
    stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine);
  logs.push(lines);
  const relay: RelayProcess = { child, url: '', lines, exited: once(child, 'exit') as RelayProcess['exited'] };
  running.add(relay);
  void relay.exited.then(() => running.delete(relay));
  await waitFor('a relay URL on stdout', () => stdout.includes('\n') || child.exitCode !== null, 30_000, 20);
  if (!stdout.includes('\n')) throw new Error(`cycles relay exited before printing its URL: ${stderr.slice(-2000)}`);
  relay.url = stdout.trim();
  return relay;
}

/** SIGTERM, then SIGKILL if it has not exited within 20 s. */
async function stopRelay(relay: RelayProcess): Promise<[number | null, NodeJS.Signals | null]> {
  if (relay.child.exitCode !== null || relay.child.signalCode !== null) return [relay.child.exitCode, relay.child.signalCode];
  relay.child.kill('SIGTERM');
  const timer = setTimeout(() => relay.child.kill('SIGKILL'), 20_000);
  try {
    return await relay.exited;
  } finally {
    clearTimeout(timer);
  }
}

async function descriptorOf(i: number): Promise<RelayDescriptor> {
  const message = decodeMessage(new Uint8Array(await (await fetch(`${httpOf(i)}/descriptor`)).arrayBuffer()));
  if (message.t !== 'relay-descriptor') throw new Error(`expected a relay-descriptor, got ${message.t}`);
  return message;
}

/** The keys of the relays relay `i` hands on at GET /descriptors: its view. */
async function viewOf(i: number): Promise<string[]> {
  const list = decodeDescriptorList(new Uint8Array(await (await fetch(`${httpOf(i)}/descriptors`)).arrayBuffer()));
  return list.map((bytes) => {
    const message = decodeMessage(bytes);
    return message.t === 'relay-descriptor' ? toHex(message.key) : '';
  });
}

/** Waits until each relay in `which` holds all three in its view. */
async function meshFormed(keys: string[], which = [0, 1, 2]): Promise<void> {
  await waitFor('every relay to know the other two', async () => {
    const views = await Promise.all(which.map(viewOf));
    return views.every((view) => keys.every((k) => view.includes(k)));
  }, 30_000, 100);
}

function hopOf(d: RelayDescriptor, epoch: number): OnionHop {
  const key = d.onion.find((k) => k.epoch === epoch);
  if (!key) throw new Error(`relay ${toHex(d.key).slice(0, 8)} lists no onion key for epoch ${epoch}`);
  return { id: d.key, onionKey: key.key };
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'sc-relay-onion-'));
  testnet = await startTestnet({ dhtNodes: 2, tracker: false });
  for (const host of HOSTS) ports.push(await freePort(host));
  await Promise.all([0, 1, 2].map(startRelay));
}, 90_000);

afterAll(async () => {
  closeOnionClients();
  const exits = await Promise.all([...running].map(stopRelay));
  await testnet?.stop();
  if (home) await rm(home, { recursive: true, force: true });
  expect(exits.every(([code]) => code === 0)).toBe(true);
  expect(logs.flatMap((lines) => lines()).filter((l) => l.level === 'error')).toEqual([]);
}, 60_000);

describe('cycles relay --onion', () => {
  it('refuses an exit mint that is not an origin, before starting anything', async () => {
    const ran = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CYCLES, 'relay', '--onion', '--exit-mint', 'https://mint.example/path', '--dht-bootstrap', testnet.bootstrap.join(',')],
        { env: { ...process.env, SPARECYCLES_HOME: join(home, 'refused') }, timeout: 60_000, killSignal: 'SIGKILL' },
        (error, _stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stderr }),
      );
    });
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/^cycles: --exit-mint: origin: expected an http\(s\) origin/);
    // It stopped at the flags: no key was made.
    await expect(stat(join(home, 'refused'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('carries a packet across three relay processes that found each other, and keeps its onion key across a restart', { timeout: 120_000 }, async () => {
    const before = await Promise.all([0, 1, 2].map(descriptorOf));
    const keys = before.map((d) => toHex(d.key));
    expect(before.map((d) => d.ws)).toEqual([0, 1, 2].map(urlOf));
    expect(before.map((d) => d.family)).toEqual(['operator-0', 'operator-1', 'operator-2']);
    expect(before.map((d) => d.exit)).toEqual([
      { mints: [], mailboxes: true },
      { mints: [], mailboxes: true },
      { mints: [MINT], mailboxes: true },
    ]);
    await meshFormed(keys);

    const tasker = await OnionClient.connect(urlOf(2), before[2]!.key);
    const box = await tasker.open();
    const sender = await OnionClient.connect(urlOf(0), before[0]!.key);
    const epoch = epochAt(Date.now());
    const route = before.map((d) => hopOf(d, epoch));
    sender.send(createPacket(backend, { epoch, route, destination: box, message: utf8('over three processes') }).packet);
    await waitFor('the packet at the mailbox', () => tasker.mail.length === 1, 15_000, 10);
    expect(new TextDecoder().decode(tasker.mail[0]!.d)).toBe('over three processes');

    // The onion secrets are on disk, for the owner only.
    expect((await stat(join(dirOf(1), 'state', ONION_KEYS_FILE))).mode & 0o777).toBe(0o600);

    // Killed outright, then started again on the same key and state folder.
    const middle = [...running].find((r) => r.url === urlOf(1))!;
    middle.child.kill('SIGKILL');
    await middle.exited;
    await startRelay(1);
    const after = await descriptorOf(1);
    expect(toHex(after.key)).toBe(keys[1]);
    const shared = after.onion.filter((k) => before[1]!.onion.some((b) => b.epoch === k.epoch));
    // Crossing an epoch boundary meanwhile leaves one epoch in both; otherwise both are the same.
    expect(shared.length).toBeGreaterThanOrEqual(1);
    for (const k of shared) expect(toHex(k.key)).toBe(toHex(before[1]!.onion.find((b) => b.epoch === k.epoch)!.key));

    // A packet built on the keys published before the restart still peels at the restarted relay.
    await meshFormed(keys, [1]);
    sender.send(createPacket(backend, { epoch, route, destination: box, message: utf8('after the restart') }).packet);
    await waitFor('the second packet at the mailbox', () => tasker.mail.length === 2, 15_000, 10);
    expect(new TextDecoder().decode(tasker.mail[1]!.d)).toBe('after the restart');
  });
});

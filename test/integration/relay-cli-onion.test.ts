// `cycles relay --onion` as an operator runs it: three real relay processes,
// each on its own loopback address (127.0.0.2, .3 and .4; Linux routes all of
// 127/8 to loopback), sharing a private DHT and naming each other with
// --peer. They find each other, and a packet built here on the onion keys
// they publish crosses all three to a mailbox opened at the last one. The
// middle relay is then killed and restarted on the same --state-dir and
// --key: it publishes the same onion key, and a packet built on the key it
// published before it died still goes through. Any log line at level 'error'
// fails the run; every process is stopped at the end.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../protocol/bytes.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { epochAt } from '../../protocol/messages/relay.ts';
import { createPacket } from '../../protocol/onion/index.ts';
import { ONION_KEYS_FILE } from '../../relay/onion-keys.ts';
import { startTestnet, type Testnet } from '../../testnet/testnet.ts';
import { onionHopOf, RelayFleet, relayDescriptorAt, waitForViews } from '../../testnet/relay-processes.ts';
import { waitFor } from '../../testnet/wait.ts';
import { closeOnionClients, OnionClient } from '../support/onion-client.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CYCLES = join(ROOT, 'bin/cycles.mjs');
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const MINT = 'http://127.0.0.1:8300';

let testnet: Testnet;
let home: string;
/** Every process started, those killed included, whose logs are checked for errors at the end. */
let relays: RelayFleet;

const urlOf = (i: number) => relays.urls[i]!;

const descriptorOf = (i: number) => relayDescriptorAt(relays.httpOf(i));

/** Waits until each relay in `which` holds all three in its view. */
const meshFormed = (keys: string[], which = [0, 1, 2]) => waitForViews(which.map((i) => relays.httpOf(i)), keys);

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'sc-relay-onion-'));
  testnet = await startTestnet({ dhtNodes: 2, tracker: false });
  relays = await RelayFleet.create({ bootstrap: testnet.bootstrap, hosts: HOSTS, home, extraArgs: (i) => (i === 2 ? ['--exit-mint', MINT] : []) });
  await Promise.all([0, 1, 2].map((i) => relays.start(i)));
}, 90_000);

afterAll(async () => {
  closeOnionClients();
  const exits = (await relays?.stop()) ?? [];
  await testnet?.stop();
  if (home) await rm(home, { recursive: true, force: true });
  expect(exits.every(([code]) => code === 0)).toBe(true);
  expect(relays?.linesAt('error') ?? []).toEqual([]);
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
    const route = before.map((d) => onionHopOf(d, epoch));
    sender.send(createPacket(backend, { epoch, route, destination: box, message: utf8('over three processes') }).packet);
    await waitFor('the packet at the mailbox', () => tasker.mail.length === 1, 15_000, 10);
    expect(new TextDecoder().decode(tasker.mail[0]!.d)).toBe('over three processes');

    // The onion secrets are on disk, for the owner only.
    expect((await stat(join(relays.dirOf(1), 'state', ONION_KEYS_FILE))).mode & 0o777).toBe(0o600);

    // Killed outright, then started again on the same key and state folder.
    const middle = relays.running.find((r) => r.url === urlOf(1))!;
    middle.child.kill('SIGKILL');
    await middle.exited;
    await relays.start(1);
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

// A replay across a restart, against `cycles relay --onion` processes: relay
// A (127.0.0.2) forwards a packet to relay B (127.0.0.3), which delivers it
// to a mailbox. The packet's bytes are kept, as an observer on A's link
// would keep them. A is then killed outright (SIGKILL, no clean stop) and
// started again on the same --state-dir and --key, so it holds the same
// onion key; the kept packet sent to it again is dropped as a replay,
// counted in its /metrics, and never reaches B, while a fresh packet on the
// same route still does. And a relay whose replay state does not read
// refuses to start, naming the file. Any log line at level 'error' fails the
// run; every process is stopped at the end.

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../protocol/bytes.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { epochAt } from '../../protocol/messages/relay.ts';
import { createPacket } from '../../protocol/onion/index.ts';
import { ONION_REPLAY_DIR } from '../../relay/onion-replay-store.ts';
import { startTestnet, type Testnet } from '../../testnet/testnet.ts';
import { onionHopOf, RelayFleet, relayDescriptorAt, waitForViews } from '../../testnet/relay-processes.ts';
import { waitFor } from '../../testnet/wait.ts';
import { closeOnionClients, OnionClient } from '../support/onion-client.ts';

const CYCLES = new URL('../../bin/cycles.mjs', import.meta.url).pathname;
const HOSTS = ['127.0.0.2', '127.0.0.3'];

let testnet: Testnet;
let home: string;
/** Every process started, the killed one's log included, checked for errors at the end. */
let relays: RelayFleet;

const urlOf = (i: number) => relays.urls[i]!;

/** Starts `cycles relay` number `i` on its own port, key and state folder, and waits for its URL. */
async function startRelay(i: number): Promise<void> {
  expect((await relays.start(i)).url).toBe(urlOf(i));
}

const descriptorOf = (i: number) => relayDescriptorAt(relays.httpOf(i));

/** Waits until relay `i`'s view holds the relay with `key`: until it can dial it. */
const knows = (i: number, key: string) => waitForViews([relays.httpOf(i)], [key]);

/** One counter or gauge from relay `i`'s /metrics (0 when absent). */
async function metricOf(i: number, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`${relays.httpOf(i)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`sparecycles_relay_${name}${label} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'sc-replay-restart-'));
  testnet = await startTestnet({ dhtNodes: 2, tracker: false });
  relays = await RelayFleet.create({ bootstrap: testnet.bootstrap, hosts: HOSTS, home });
  await Promise.all([0, 1].map(startRelay));
}, 90_000);

afterAll(async () => {
  closeOnionClients();
  const exits = (await relays?.stop()) ?? [];
  await testnet?.stop();
  if (home) await rm(home, { recursive: true, force: true });
  expect(exits.every(([code]) => code === 0)).toBe(true);
  expect(relays?.linesAt('error') ?? []).toEqual([]);
}, 60_000);

describe('a relay restarted within an epoch', () => {
  it('drops a packet captured before it was killed and replayed after, and counts it', { timeout: 120_000 }, async () => {
    const [a, b] = await Promise.all([0, 1].map(descriptorOf));
    await knows(0, toHex(b!.key));
    const tasker = await OnionClient.connect(urlOf(1), b!.key);
    const box = await tasker.open();
    const epoch = epochAt(Date.now());
    const route = [onionHopOf(a!, epoch), onionHopOf(b!, epoch)];
    const sender = await OnionClient.connect(urlOf(0), a!.key);
    const captured = createPacket(backend, { epoch, route, destination: box, message: utf8('before the crash') }).packet;
    sender.send(captured);
    await waitFor('the packet at the mailbox', () => tasker.mail.length === 1, 15_000, 10);
    expect(await metricOf(0, 'onion_packets_out_total')).toBe(1);
    // Its tag is in A's state folder, in the file of its epoch.
    expect(await readdir(join(relays.dirOf(0), 'state', ONION_REPLAY_DIR))).toContain(`${epoch}.sqlite`);

    // Killed outright: nothing is flushed on the way out.
    const relayA = relays.running.find((r) => r.child.spawnargs.includes(HOSTS[0]!))!;
    relayA.child.kill('SIGKILL');
    await relayA.exited;
    await startRelay(0);
    const after = await descriptorOf(0);
    // The same onion key, so the captured packet would peel again but for its tag.
    expect(toHex(onionHopOf(after, epoch).onionKey)).toBe(toHex(route[0]!.onionKey));
    await knows(0, toHex(b!.key));

    const replayer = await OnionClient.connect(urlOf(0), a!.key);
    replayer.send(captured);
    await waitFor('the replay counted', async () => (await metricOf(0, 'onion_refused_total', '{code="ONION_REPLAY"}')) === 1, 15_000, 20);
    expect(await metricOf(0, 'onion_packets_in_total', '{from="client"}')).toBe(1);
    expect(await metricOf(0, 'onion_packets_out_total')).toBe(0);

    // A fresh packet on the same route still crosses: the restarted relay forwards, it only refused the replay.
    replayer.send(createPacket(backend, { epoch, route, destination: box, message: utf8('after the restart') }).packet);
    await waitFor('the fresh packet at the mailbox', () => tasker.mail.length === 2, 15_000, 10);
    expect(tasker.mail.map((m) => new TextDecoder().decode(m.d))).toEqual(['before the crash', 'after the restart']);
    expect(await metricOf(0, 'onion_packets_out_total')).toBe(1);
    expect(await metricOf(1, 'onion_refused_total', '{code="ONION_REPLAY"}')).toBe(0);
  });

  it('will not start on replay state it cannot read, and names the file', { timeout: 60_000 }, async () => {
    const dir = join(home, 'corrupt');
    const file = join(dir, 'state', ONION_REPLAY_DIR, `${epochAt(Date.now())}.sqlite`);
    await mkdir(join(dir, 'state', ONION_REPLAY_DIR), { recursive: true });
    await writeFile(file, 'these bytes are not the tags this relay saw');
    const ran = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CYCLES, 'relay', '--onion', '--host', '127.0.0.1', '--port', '0', '--dht-bootstrap', testnet.bootstrap.join(','), '--key', join(dir, 'relay.key'), '--state-dir', join(dir, 'state')],
        { env: { ...process.env, SPARECYCLES_HOME: dir }, timeout: 60_000, killSignal: 'SIGKILL' },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });
    expect(ran.code).toBe(1);
    expect(ran.stdout).toBe('');
    expect(ran.stderr).toContain(`cycles: FORMAT: ${file}: `);
  });
});

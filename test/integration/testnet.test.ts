// The loopback harness itself (testnet/testnet.ts): everything on 127.0.0.1,
// the DHT nodes knowing each other, relays that find each other on the relay
// topic as relays do, a mint that funds accounts, and a stop() that leaves
// nothing listening. Any log line at level 'error' fails the run.

import { existsSync } from 'node:fs';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.ts';
import { RELAY_TOPIC_HEX } from '../../protocol/constants.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import type { LogLine } from '../../serve/log.ts';
import { startTestnet, type Testnet } from '../../testnet/testnet.ts';
import { lookup } from '../support/dht-lookup.ts';

const lines: LogLine[] = [];
let testnet: Testnet | undefined;

afterAll(async () => {
  await testnet?.stop();
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
});

/** Whether something accepts a TCP connection at host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const portOf = (url: string) => Number(new URL(url).port);

describe('startTestnet', () => {
  it('builds DHT nodes, a tracker, peered relays and a mint on loopback, and stop() tears all of it down', async () => {
    testnet = await startTestnet({ dhtNodes: 4, relays: 2, mint: true, log: (line) => void lines.push(line) });
    const { dht, relays, mint } = testnet;

    expect(testnet.bootstrap).toHaveLength(4);
    for (const address of testnet.bootstrap) expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const everyNode = [...dht, ...relays.map((r) => r.dht)];
    for (const node of everyNode) {
      expect(node.address().address).toBe('127.0.0.1');
      // Each knows every other node of the network, relays' nodes included.
      const known = new Set(node.toJSON().nodes.map((n) => `${n.host}:${n.port}`));
      for (const other of everyNode) if (other !== node) expect(known).toContain(`127.0.0.1:${other.address().port}`);
    }
    expect(testnet.trackers).toHaveLength(3);
    for (const url of testnet.trackers) expect(new URL(url).hostname).toBe('127.0.0.1');

    // Relays: each on loopback, each found by the other (and by any node) on the relay topic.
    expect(relays).toHaveLength(2);
    const [a, b] = relays as [Testnet['relays'][0], Testnet['relays'][0]];
    expect(a.relay.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(toHex(a.relay.descriptor.key)).toBe(toHex(a.identity.publicKey));
    expect(toHex(a.identity.publicKey)).not.toBe(toHex(b.identity.publicKey));
    expect(await lookup(a.dht, RELAY_TOPIC_HEX)).toContain(`127.0.0.1:${b.relay.port}`);
    expect(await lookup(b.dht, RELAY_TOPIC_HEX)).toContain(`127.0.0.1:${a.relay.port}`);
    expect(await lookup(dht[0]!, RELAY_TOPIC_HEX)).toEqual(expect.arrayContaining([`127.0.0.1:${a.relay.port}`, `127.0.0.1:${b.relay.port}`]));
    const health = await (await fetch(`${a.relay.url.replace(/^ws:/, 'http:')}/health`)).json();
    expect(health).toMatchObject({ ok: true, key: toHex(a.identity.publicKey) });

    // A relay added later joins the same way, with the identity it is given.
    const identity = Identity.generate(nodeCrypto);
    const c = await testnet.addRelay({ identity });
    expect(toHex(c.relay.descriptor.key)).toBe(toHex(identity.publicKey));
    expect(await lookup(a.dht, RELAY_TOPIC_HEX)).toContain(`127.0.0.1:${c.relay.port}`);
    // So does a plain node: the others know it at once.
    const extra = await testnet.addDhtNode();
    for (const node of dht) expect(node.toJSON().nodes.map((n) => n.port)).toContain(extra.address().port);

    // The mint: on loopback, funding an account moves its balance.
    expect(new URL(mint!.url).hostname).toBe('127.0.0.1');
    const tasker = Identity.generate(nodeCrypto);
    await mint!.fund(tasker.publicKey, 40);
    expect(await mint!.client.balance(toHex(tasker.publicKey))).toBe(40);
    expect(mint!.mint.ledger.checkInvariants()).toEqual([]);

    const ports = [
      portOf(testnet.trackers[0]!),
      portOf(mint!.url),
      ...[a, b, c].map((r) => r.relay.port),
    ];
    for (const port of ports) expect(await listening('127.0.0.1', port)).toBe(true);

    await testnet.stop();
    for (const port of ports) expect(await listening('127.0.0.1', port)).toBe(false);
    for (const node of [...everyNode, c.dht, extra]) expect(node.destroyed).toBe(true);
    expect(existsSync(mint!.dir)).toBe(false);
    // Stopping again is harmless, and nothing more can join.
    await testnet.stop();
    await expect(testnet.addRelay()).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('builds only what is asked for', async () => {
    const bare = await startTestnet({ dhtNodes: 2, tracker: false });
    try {
      expect(bare.dht).toHaveLength(2);
      expect(bare.tracker).toBeUndefined();
      expect(bare.trackers).toEqual([]);
      expect(bare.relays).toEqual([]);
      expect(bare.mint).toBeUndefined();
    } finally {
      await bare.stop();
    }
    for (const node of bare.dht) expect(node.destroyed).toBe(true);
  });
});

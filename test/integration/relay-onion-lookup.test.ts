// A relay given onion keys and no lookup dials other relays at the URLs its
// own directory view holds. Two real relays on loopback, each with a DHT node
// of its own that knows nobody, so the only way relay A can learn of relay B
// is its peer: a small HTTP server playing another relay's /descriptors,
// which at first knows nobody and then tells of B. A packet to B before A
// knows it is dropped, and the miss makes A ask its sources again at once; the
// next packet goes through. Many misses after that set off no more than the
// one refresh their rate allows.

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DhtNode } from '../../net/dht.ts';
import { toHex, utf8 } from '../../protocol/bytes.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { decodeMessage } from '../../protocol/messages/index.ts';
import { decodeDescriptorList, encodeDescriptorList, epochAt } from '../../protocol/messages/relay.ts';
import { createPacket, type OnionHop } from '../../protocol/onion/index.ts';
import { OnionKeys } from '../../relay/onion-keys.ts';
import { RelayServer } from '../../relay/relay.ts';
import type { LogLine } from '../../serve/log.ts';
import { waitFor } from '../../testnet/wait.ts';
import { closeOnionClients, OnionClient } from '../support/onion-client.ts';

const lines: LogLine[] = [];
const log = (line: LogLine) => void lines.push(line);
const nodes: DhtNode[] = [];
const relays: RelayServer[] = [];
let peer: Server;
let peerServes: Uint8Array[] = [];
let peerAsked = 0;
let a: RelayServer;
let b: RelayServer;

const httpOf = (relay: RelayServer) => relay.url.replace(/^ws:/, 'http:');

async function lonelyRelay(options: { peers?: string[] } = {}): Promise<RelayServer> {
  // A DHT node with no one to bootstrap from: nothing is learnt through the DHT.
  const node = new DhtNode(backend, { bootstrap: [], host: '127.0.0.1' });
  nodes.push(node);
  await node.start();
  const relay = new RelayServer({
    backend,
    identity: Identity.generate(backend),
    dht: node.dht,
    log,
    onion: { keys: await OnionKeys.open({ backend }) },
    ...options,
    // Only a miss may ask the peer again within this test, and a minute's gap between two of those.
    peerRefreshMs: 3_600_000,
    missRefreshMs: 60_000,
  });
  relays.push(relay);
  await relay.start();
  return relay;
}

function hop(relay: RelayServer): OnionHop {
  const epoch = epochAt(Date.now());
  const key = relay.descriptor.onion.find((k) => k.epoch === epoch);
  if (!key) throw new Error(`relay lists no onion key for epoch ${epoch}`);
  return { id: relay.descriptor.key, onionKey: key.key };
}

async function refused(relay: RelayServer, code: string): Promise<number> {
  const text = await (await fetch(`${httpOf(relay)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`sparecycles_relay_onion_refused_total{code="${code}"} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** The keys of the relays `relay` lists at GET /descriptors. */
async function listed(relay: RelayServer): Promise<string[]> {
  const list = decodeDescriptorList(new Uint8Array(await (await fetch(`${httpOf(relay)}/descriptors`)).arrayBuffer()));
  return list.map((bytes) => {
    const message = decodeMessage(bytes);
    return message.t === 'relay-descriptor' ? toHex(message.key) : '';
  });
}

beforeAll(async () => {
  peer = createServer((req, res) => {
    peerAsked++;
    if (req.url !== '/descriptors') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(encodeDescriptorList(peerServes));
  });
  peer.listen(0, '127.0.0.1');
  await once(peer, 'listening');
  b = await lonelyRelay();
  a = await lonelyRelay({ peers: [`ws://127.0.0.1:${(peer.address() as { port: number }).port}`] });
  // A asks its peer once as it starts; it hears of nobody.
  await waitFor('A to ask its peer', () => peerAsked === 1, 10_000);
}, 30_000);

afterAll(async () => {
  closeOnionClients();
  for (const relay of relays) await relay.stop();
  for (const node of nodes) await node.stop();
  peer?.close();
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
});

describe('the onion lookup of a relay’s own view', () => {
  it('drops a packet for a relay it does not know, learns again at once, and carries the next', { timeout: 60_000 }, async () => {
    const tasker = await OnionClient.connect(b.url, b.descriptor.key);
    const box = await tasker.open();
    const sender = await OnionClient.connect(a.url, a.descriptor.key);
    peerServes = [new Uint8Array(await (await fetch(`${httpOf(b)}/descriptor`)).arrayBuffer())];
    const packet = (text: string) => createPacket(backend, { epoch: epochAt(Date.now()), route: [hop(a), hop(b)], destination: box, message: utf8(text) }).packet;

    sender.send(packet('before'));
    await waitFor('the miss counted', async () => (await refused(a, 'NETWORK')) === 1, 10_000);
    // The miss made A ask its peer again, which now tells of B.
    await waitFor('B in A’s view', async () => peerAsked === 2 && (await listed(a)).includes(toHex(b.descriptor.key)), 10_000);
    expect(tasker.mail).toHaveLength(0);

    sender.send(packet('after'));
    await waitFor('the packet at B’s mailbox', () => tasker.mail.length === 1, 10_000, 5);
    expect(new TextDecoder().decode(tasker.mail[0]!.d)).toBe('after');
    expect(await refused(a, 'NETWORK')).toBe(1);
  });

  it('lets many misses set off no more than one refresh in the gap', { timeout: 60_000 }, async () => {
    const sender = await OnionClient.connect(a.url, a.descriptor.key);
    const box = backend.randomBytes(32);
    const before = await refused(a, 'NETWORK');
    const asked = peerAsked;
    for (let i = 0; i < 20; i++) {
      // A relay nobody runs: a random id and onion key.
      const nobody = { id: backend.randomBytes(32), onionKey: backend.x25519PublicKey(backend.randomBytes(32)) };
      sender.send(createPacket(backend, { epoch: epochAt(Date.now()), route: [hop(a), nobody], destination: box, message: utf8('x') }).packet);
    }
    await waitFor('twenty misses counted', async () => (await refused(a, 'NETWORK')) === before + 20, 10_000);
    // The refresh of the first test was moments ago: these wait for the gap to pass, and then make one between them.
    expect(peerAsked).toBe(asked);
  });
});

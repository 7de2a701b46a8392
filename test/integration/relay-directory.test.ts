// The relay directory with real parts on loopback: three relays on a private
// DHT, each with onion keys and an exit policy, publishing v2 descriptors.
// A RelayView built from the DHT alone, and one built from a single relay's
// GET /descriptors alone, each see all three relays with the onion keys they
// hold, and a route chosen from either obeys the path rules. Any log line
// at level 'error' fails the run.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { epochAt } from '../../protocol/messages/relay.ts';
import { httpBaseOf, relayDescriptorsSource } from '../../net/relay-http-sources.ts';
import { dhtDescriptorSource } from '../../net/relay-sources.ts';
import { memoryGuardStore, RelayView } from '../../net/relay-view.ts';
import { OnionKeys } from '../../relay/onion-keys.ts';
import type { LogLine } from '../../serve/log.ts';
import { startTestnet, type Testnet } from '../../testnet/testnet.ts';
import { waitFor } from '../../testnet/wait.ts';

const MINT = 'http://127.0.0.1:9';
const lines: LogLine[] = [];
const log = (line: LogLine) => void lines.push(line);
let testnet: Testnet;
let keys: OnionKeys[];

/** Every relay here is on 127.0.0.1, one /16: the test groups them by port instead, as separate hosts would be. */
const byPort = (ws: string) => `port:${new URL(ws).port}`;

beforeAll(async () => {
  keys = await Promise.all([0, 1, 2].map(() => OnionKeys.open({ backend })));
  testnet = await startTestnet({
    dhtNodes: 3,
    tracker: false,
    log,
    relays: keys.map((k, i) => ({
      family: `operator-${i}`,
      // The second relay is the one exit to the mint; nothing is sent to it here.
      onion: { keys: k, lookup: () => undefined, ...(i === 1 ? { mintOrigins: [MINT] } : {}) },
    })),
  });
}, 60_000);

afterAll(async () => {
  await testnet?.stop();
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
});

function expectAllThree(view: RelayView): void {
  const epoch = epochAt(Date.now());
  for (const [i, { relay, identity }] of testnet.relays.entries()) {
    const entry = view.get(identity.publicKey);
    expect(entry, `relay ${i} in the view`).toBeDefined();
    expect(entry!.descriptor.ws).toBe(relay.url);
    expect(entry!.descriptor.family).toBe(`operator-${i}`);
    // The keys the relay holds, and a key the view will hand a sender for this epoch.
    expect(entry!.descriptor.onion.map((k) => ({ epoch: k.epoch, key: toHex(k.key) }))).toEqual(
      keys[i]!.published().map((k) => ({ epoch: k.epoch, key: toHex(k.key) })),
    );
    const onionKey = view.onionKeyFor(entry!, epoch);
    expect(onionKey && toHex(backend.x25519PublicKey(keys[i]!.secretFor(epoch)!))).toBe(onionKey && toHex(onionKey));
  }
  expect(view.get(testnet.relays[1]!.identity.publicKey)!.descriptor.exit).toEqual({ mints: [MINT], mailboxes: true });
}

async function expectPathObeysRules(view: RelayView): Promise<void> {
  const path = await view.choosePath({ mint: `${MINT}/v1/oblivious` });
  expect(path).toHaveLength(3);
  expect(toHex(path[2]!.id)).toBe(toHex(testnet.relays[1]!.identity.publicKey));
  expect(new Set(path.map((h) => toHex(h.id))).size).toBe(3);
  expect(new Set(path.map((h) => h.entry.group)).size).toBe(3);
  expect(new Set(path.map((h) => h.entry.descriptor.family)).size).toBe(3);
}

describe('the relay directory on a private DHT', () => {
  it('a view built from the DHT alone sees all three relays with their onion keys', async () => {
    const dht = await testnet.addDhtNode();
    const view = new RelayView({ backend, sources: [dhtDescriptorSource({ dht, backend, lookupMs: 5_000 })], groupOf: byPort, guardStore: memoryGuardStore() });
    await waitFor('the DHT to yield all three relays', async () => (await view.refresh(), view.relays().length === 3), 30_000, 200);
    expectAllThree(view);
    await expectPathObeysRules(view);
  });

  it("a view built from one relay's /descriptors alone sees all three", async () => {
    // The last relay to start learnt the other two from the DHT as soon as it had published.
    const last = testnet.relays[2]!.relay;
    const view = new RelayView({ backend, sources: [relayDescriptorsSource(last.url)], groupOf: byPort, guardStore: memoryGuardStore() });
    await waitFor("the last relay's /descriptors to list all three", async () => (await view.refresh(), view.relays().length === 3), 30_000, 200);
    expectAllThree(view);
    await expectPathObeysRules(view);
    // Its own descriptor comes first, exactly as /descriptor serves it.
    const own = new Uint8Array(await (await fetch(`${httpBaseOf(last.url)}/descriptor`)).arrayBuffer());
    expect(toHex(view.get(testnet.relays[2]!.identity.publicKey)!.bytes)).toBe(toHex(own));
  });

  it('with every relay in one /16, as on loopback, the default rules find no route', async () => {
    const view = new RelayView({ backend, sources: [relayDescriptorsSource(testnet.relays[2]!.relay.url)] });
    await view.refresh();
    expect(view.relays()).toHaveLength(3);
    await expect(view.choosePath({ mint: MINT })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a relay re-signs with the keys of now when asked to publish, and the DHT item follows', async () => {
    const { relay, identity } = testnet.relays[0]!;
    const before = relay.descriptor.ts;
    await relay.publishDescriptor();
    expect(relay.descriptor.ts).toBeGreaterThan(before);
    const dht = await testnet.addDhtNode();
    const view = new RelayView({ backend, sources: [dhtDescriptorSource({ dht, backend, lookupMs: 5_000 })] });
    await waitFor('the new descriptor on the DHT', async () => (await view.refresh(), view.get(identity.publicKey)?.descriptor.ts === relay.descriptor.ts), 30_000, 200);
  });
});

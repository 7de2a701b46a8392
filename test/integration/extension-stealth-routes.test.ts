// The extension's stealth routes and mint access (extension/lib/stealth-routes.ts,
// extension/lib/stealth-mints.ts), run in Node against real onion relays on a
// loopback mesh with a real mint. Node's WebSocket client stands in for the
// browser's, which Node 20 lacks; the browser itself is test/e2e/extension-stealth.test.ts.

import { afterAll, describe, expect, it } from 'vitest';
import { StealthMints } from '../../extension/lib/stealth-mints.ts';
import { openStealthRoutes, storageGuardStore } from '../../extension/lib/stealth-routes.ts';
import { defaultSettings } from '../../extension/lib/settings.ts';
import type { Settings } from '../../extension/lib/settings.ts';
import { MintClient } from '../../net/mint-client.ts';
import { ONION_MINT_BATCH } from '../../net/onion-mint.ts';
import type { SocketConstructor } from '../../net/relay-client.ts';
import { memoryGuardStore } from '../../net/relay-view.ts';
import { toHex } from '../../protocol/bytes.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { WebSocketClient } from '../../serve/ws.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { addOnionRelays, type OnionRelays } from '../../testnet/onion-relays.ts';

const WebSocket = WebSocketClient as unknown as SocketConstructor;

let mesh: Mesh | undefined;
let onion: OnionRelays;
const stops: (() => void)[] = [];
afterAll(async () => {
  for (const stop of stops.reverse()) stop();
  await mesh?.stop();
});

function counter(text: string, name: string, label: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('stealth routes from the extension', () => {
  it('builds its view from the edge relay and the relays it names, and keeps the edge relay as guard', async () => {
    mesh = await Mesh.start({ mint: true });
    const lone = await addOnionRelays(mesh, { count: 1 });
    // A relay that knows no other cannot carry a route: a clear refusal, not a route through itself.
    await expect(openStealthRoutes({ backend, relays: [lone.relays[0]!.relay.url], guardStore: memoryGuardStore(), WebSocket })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const loneKey = toHex(lone.identities[0]!.publicKey);

    onion = await addOnionRelays(mesh);
    const edge = onion.relays[0]!.relay;
    await edge.learnRelays();
    const guard = memoryGuardStore();
    const routes = await openStealthRoutes({ backend, relays: [edge.url], guardStore: guard, WebSocket });
    stops.push(() => routes.stop());
    // Four new relays and the lone one, which the edge relay found on the DHT.
    expect(routes.view.relays().map((e) => e.id).sort()).toEqual([loneKey, ...onion.identities.map((i) => toHex(i.publicKey))].sort());
    const path = await routes.view.choosePath({ mint: mesh.net.mint!.url });
    expect(toHex(path[0]!.id)).toBe(toHex(onion.identities[0]!.publicKey));
    expect(routes.view.guard).toBe(toHex(onion.identities[0]!.publicKey));
    expect(toHex(path.at(-1)!.id)).toBe(toHex(onion.identities[2]!.publicKey));

    // A guard kept from before wins over the edge relay.
    const kept = toHex(onion.identities[1]!.publicKey);
    const again = await openStealthRoutes({ backend, relays: [edge.url], guardStore: memoryGuardStore(kept), WebSocket });
    stops.push(() => again.stop());
    const second = await again.view.choosePath({ mint: mesh.net.mint!.url });
    expect(toHex(second[0]!.id)).toBe(kept);
  }, 120_000);

  it('keeps the guard in storage as a relay key, and reads anything else as none', async () => {
    const data = new Map<string, unknown>();
    const area = {
      get: async (key: string) => (data.has(key) ? { [key]: data.get(key) } : {}),
      set: async (items: Record<string, unknown>) => void Object.entries(items).forEach(([k, v]) => data.set(k, v)),
    };
    const store = storageGuardStore(area);
    expect(await store.load()).toBeUndefined();
    await store.save('ab'.repeat(32));
    expect(await store.load()).toBe('ab'.repeat(32));
    await store.save(undefined);
    expect(await store.load()).toBeUndefined();
    data.set('relayGuard', 'not a key');
    expect(await store.load()).toBeUndefined();
  });

  it('reaches the mint directly unless stealth mode is on, and then only through the exit', async () => {
    const mint = mesh!.net.mint!;
    let settings: Settings = { ...defaultSettings(), relayUrl: onion.relays[0]!.relay.url, stealthDelayMs: 0 };
    const mints = new StealthMints({ backend, loadSettings: async () => settings, guardStore: memoryGuardStore(), WebSocket });
    stops.push(() => mints.stop());

    const direct = await mints.access(mint.url, 'redeem');
    expect(direct.client).toBeInstanceOf(MintClient);
    expect(direct.batch).toBeUndefined();

    settings = { ...settings, stealth: true };
    const exitUrl = onion.relays[2]!.relay.url.replace(/^ws:/, 'http:');
    const delivered = async () => counter(await (await fetch(`${exitUrl}/metrics`)).text(), 'sparecycles_relay_onion_packets_delivered_total', 'to="exit"');
    const before = await delivered();
    const stealth = await mints.access(mint.url, 'earnings');
    expect(stealth.batch).toBe(ONION_MINT_BATCH);
    const keyset = await stealth.client.keyset(mint.curve, mint.keyset.id);
    expect(toHex(keyset.id)).toBe(toHex(mint.keyset.id));
    // The mint's key configuration and the keyset both came through the exit.
    expect((await delivered()) - before).toBeGreaterThanOrEqual(2);
    // The same client is kept for the same purpose; redeeming has its own when it waits before each request.
    expect((await mints.access(mint.url, 'earnings')).client).toBe(stealth.client);
    expect((await mints.access(mint.url, 'redeem')).client).toBe(stealth.client);
    settings = { ...settings, stealthDelayMs: 50 };
    const waiting = await mints.access(mint.url, 'redeem');
    expect(waiting.client).not.toBe(stealth.client);
    expect(toHex((await waiting.client.keyset(mint.curve, mint.keyset.id)).id)).toBe(toHex(mint.keyset.id));
  }, 120_000);
});

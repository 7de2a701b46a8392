// A stealth worker on a loopback network of real parts: a paying task, four
// relays forwarding onion packets (one an exit to the mint), a tasker that
// keeps its rendezvous at one of them, a direct worker and a stealth worker.
// The stealth worker reaches the tasker only through routes (hello, claims,
// results, receipts, blinded outputs and pay), fetches the mint's keys and
// redeems its credits only through the exit, is paid exactly for what was
// accepted, and the tasker files it under the stealth address class.

import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OnionClient } from '../../net/onion-client.ts';
import { ONION_MINT_BATCH, OnionMint } from '../../net/onion-mint.ts';
import { keepStream, RendezvousHost } from '../../net/onion-stream.ts';
import type { SocketConstructor } from '../../net/relay-client.ts';
import { relayDescriptorsSource } from '../../net/relay-http-sources.ts';
import { memoryGuardStore, RelayView } from '../../net/relay-view.ts';
import { toHex } from '../../protocol/bytes.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { OnionKeys } from '../../relay/onion-keys.ts';
import { WebSocketClient } from '../../serve/ws.ts';
import { DEFENCE } from '../../tasker/verify/defence.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { waitFor } from '../../testnet/wait.ts';
import { walletEarnings } from '../../worker/earnings.ts';
import { WalletFile } from '../../worker/node/wallet-file.ts';
import { Wallet } from '../../worker/wallet.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;
const PRICE = 5;
const paidUnits = (accepted: number) => Math.max(0, accepted - DEFENCE.warmupUnits);

let mesh: Mesh | undefined;
const stops: (() => void)[] = [];
afterAll(async () => {
  for (const stop of stops.reverse()) stop();
  await mesh?.stop();
});

function counter(text: string, name: string, label: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}} `) || (label === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('a stealth worker', () => {
  it('computes, is paid and redeems through onion routes alone, beside a direct worker', async () => {
    mesh = await Mesh.start({ mint: true });
    const mint = mesh.net.mint!;
    const urls = new Map<string, string>();
    const identities = [0, 1, 2, 3].map(() => Identity.generate(backend));
    for (const [i, identity] of identities.entries()) {
      const relay = await mesh.net.addRelay({
        identity,
        onion: {
          keys: await OnionKeys.open({ backend }),
          lookup: (id) => urls.get(toHex(id)),
          ...(i === 2 ? { mintOrigins: [new URL(mint.url).origin] } : {}),
        },
      });
      urls.set(toHex(identity.publicKey), relay.relay.url);
    }
    const viewOf = async (guard: number) => {
      const view = new RelayView({
        backend,
        sources: mesh!.net.relays.map((r) => relayDescriptorsSource(r.relay.url)),
        // Every relay is on 127.0.0.1 here: each port stands for an address group of its own.
        groupOf: (ws) => new URL(ws).port,
        guardStore: memoryGuardStore(toHex(identities[guard]!.publicKey)),
      });
      await view.refresh();
      return view;
    };
    const clientOf = async (guard: number) => {
      const client = new OnionClient({ backend, view: await viewOf(guard), WebSocket: WebSocketClient as unknown as SocketConstructor });
      stops.push(() => client.stop());
      return client;
    };

    const session = await mesh.publish(EXAMPLE, { pay: { price: PRICE, deposit: 32 * 3 * PRICE } });
    const host = await RendezvousHost.open({ backend, client: await clientOf(3), relay: identities[3]!.publicKey }, session.frames);
    stops.push(() => host.stop());

    await mesh.worker(session.magnet, {
      pool: mesh.pool(0.25),
      earnings: walletEarnings(await Wallet.open(new WalletFile(join(await mkdtemp(join(mesh.dir, 'direct-')), 'wallet.json')))),
    });

    const onion = await clientOf(0);
    const onionMint = new OnionMint({ backend, client: onion, url: mint.url, tryMs: 5_000 });
    const wallet = await Wallet.open(new WalletFile(join(await mkdtemp(join(mesh.dir, 'stealth-')), 'wallet.json')));
    const stealth = await mesh.worker(session.magnet, {
      pool: mesh.pool(0.25),
      stealth: true,
      earnings: walletEarnings(wallet, { client: () => onionMint.mintClient() }),
    });
    const stream = keepStream({ backend, client: onion }, host.rendezvous, stealth.engine.frames);
    stops.push(() => stream.stop());

    await session.done;
    await session.paymentsSettled();
    const key = toHex(stealth.identity.publicKey);
    const accepted = session.coordinator.acceptedUnits(key).length;
    expect(accepted).toBeGreaterThan(DEFENCE.warmupUnits);
    await waitFor(
      'the stealth worker holding the pay of every accepted result',
      () => stealth.engine.stats.pending === 0 && stealth.engine.stats.credits === paidUnits(stealth.engine.stats.accepted) * PRICE,
      60_000,
    );
    expect(wallet.balance()).toBe(paidUnits(stealth.engine.stats.accepted) * PRICE);
    // The tasker knew it only through its rendezvous: every one of its channels came over a route.
    expect(session.coordinator.groupOf(key)).toBe('stealth');

    // Swapping and redeeming go sealed through the exit too; the mint sees only the exit.
    const earned = paidUnits(stealth.engine.stats.accepted) * PRICE;
    const before = await (await fetch(`${mint.url}/metrics`)).text();
    const client = await onionMint.mintClient();
    const swapped = await wallet.redeem(client, { swap: true }, { batch: ONION_MINT_BATCH });
    expect(swapped.received).toBe(earned);
    expect(wallet.balance()).toBe(earned);
    const target = Identity.generate(backend);
    const report = await wallet.redeem(client, { to: toHex(target.publicKey) }, { batch: ONION_MINT_BATCH });
    expect(report.redeemed).toBe(earned);
    expect(wallet.balance()).toBe(0);
    expect(await mint.client.balance(toHex(target.publicKey))).toBe(report.redeemed);
    const after = await (await fetch(`${mint.url}/metrics`)).text();
    const sealed = (text: string) => counter(text, 'sparecycles_mint_requests_total', 'route="oblivious",outcome="ok"');
    expect(sealed(after) - sealed(before)).toBeGreaterThanOrEqual(swapped.requests + report.requests);
    const exit = await (await fetch(`${mesh.net.relays[2]!.relay.url.replace(/^ws:/, 'http:')}/metrics`)).text();
    expect(counter(exit, 'sparecycles_relay_onion_packets_delivered_total', 'to="exit"')).toBeGreaterThanOrEqual(3);
  }, 240_000);
});

// The extension's stealth switch, end to end in Debian's Chromium on a
// private loopback network: four relays forwarding onion packets (one an exit
// to the mint), a paying tasker that keeps its rendezvous at one of them and
// names it in its offer, and the browser as the only worker, with the edge
// relay as its one setting. The browser finds the offer through its edge
// relay, fetches the task and computes under a fresh key, reaches the
// tasker only through routes and never its swarm, is paid, and redeems its credits to an account through the exit, sealed to
// the mint's key. Neither the tasker nor the mint ever sees the browser's
// stored key, and the mint answers the browser only through the exit.

import type { Page } from 'puppeteer-core';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { askWallet } from '../../extension/lib/wallet-messages.ts';
import { RendezvousHost } from '../../net/onion-stream.ts';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import { decodeDescriptorList } from '../../protocol/messages/relay.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import type { LogLine } from '../../serve/log.ts';
import { DEFENCE } from '../../tasker/verify/defence.ts';
import { launchWithExtension, statusText, waitFor, within } from '../../testnet/extension-browser.ts';
import type { ExtensionBrowser } from '../../testnet/extension-browser.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { addOnionRelays, loopbackOnionClient } from '../../testnet/onion-relays.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;
const UNITS = 32;
const PRICE = 5;
const ACCOUNT = toHex(backend.ed25519PublicKey(new Uint8Array(32).fill(0x5c)));

type StorageGlobal = { chrome: { storage: { local: { get(key: string): Promise<Record<string, unknown>> } } } };

let mesh: Mesh | undefined;
let ext: ExtensionBrowser | undefined;
const stops: (() => void)[] = [];
afterAll(async () => {
  await ext?.close().catch(() => {});
  for (const stop of stops.reverse()) stop();
  await mesh?.stop();
});

function counter(text: string, name: string, label: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const metricsOf = async (httpBase: string) => (await fetch(`${httpBase}/metrics`)).text();

describe('the extension in stealth mode', () => {
  it('finds an offer with a rendezvous, computes, is paid and redeems through onion routes alone', async () => {
    mesh = await Mesh.start({ mint: true });
    const mint = mesh.net.mint!;
    const { relays, identities } = await addOnionRelays(mesh);
    const [edge, , exit, meeting] = relays.map((r) => r.relay);
    // The edge relay came up first: it learns of the others now rather than at its next round.
    await edge!.learnRelays();
    const known = decodeDescriptorList(new Uint8Array(await (await fetch(`${edge!.url.replace(/^ws:/, 'http:')}/descriptors`)).arrayBuffer()));
    expect(known.length).toBe(4);

    // The tasker's own routes, to keep its rendezvous at the fourth relay.
    const taskerOnion = await loopbackOnionClient(relays, identities[3]!.publicKey);
    stops.push(() => taskerOnion.stop());

    const taskerLog: LogLine[] = [];
    const session = await mesh.publish(EXAMPLE, {
      offer: true,
      // The browser meets the swarm only at its edge relay's signalling endpoint.
      trackers: [edge!.signallingUrl],
      pay: { price: PRICE, deposit: UNITS * PRICE * 2 },
      // The browser is the only worker: one answer per unit.
      change: (task) => void (task.body.verify.replication = 1),
      log: (line) => void taskerLog.push(line),
      rendezvous: async (s) => {
        const host = await RendezvousHost.open({ backend, client: taskerOnion, relay: identities[3]!.publicKey }, s.frames);
        stops.push(() => host.stop());
        return host.rendezvous;
      },
    });
    const results: Array<{ worker: string; unit: number; status: string }> = [];
    session.on('result', (r) => results.push(r));
    let swarmWires = 0;
    session.torrent.on('wire', () => void swarmWires++);
    await edge!.refreshOffers();

    ext = await launchWithExtension();
    const trace: string[] = [];
    onTestFailed(() => console.log(`trace:\n${trace.join('\n')}`));
    const popup: Page = await ext.openPopup();
    // The edge relay is the one the volunteer set: this test's network is not the one the extension ships with.
    await ext.setSettings({ magnet: '', relayUrl: edge!.url, trackerUrls: [], cpu: 0.5, redeemAccount: ACCOUNT, stealthDelayMs: 200 });
    await waitFor('the stealth switch to be offered', async () => ((await popup.$eval('#stealth', (el) => (el as HTMLInputElement).disabled)) ? undefined : true), 10_000);
    expect(await popup.$eval('#stealth', (el) => (el as HTMLInputElement).checked)).toBe(false);
    await popup.click('#stealth');
    await popup.click('label.switch');
    const offscreen = await ext.offscreenPage(30_000);
    offscreen.on('console', (m) => trace.push(`offscreen: ${m.text()}`));
    const tracer = setInterval(() => void statusText(popup).then((t) => trace.at(-1) !== t && trace.push(t), () => {}), 500);
    stops.push(() => clearInterval(tracer));

    const workerKey = await waitFor('a result from the browser', () => results[0]?.worker, 120_000);
    await waitFor('the popup to show stealth mode at work', async () => (/^Sharing in stealth mode — computing mandelbrot/.test(await statusText(popup)) ? true : undefined), 60_000);
    // Its routes are drawn from every relay: the edge relay's list, and the lists of those it named.
    expect((await ext.engineStatus())?.stealth).toEqual({ relays: 4 });
    await within(300_000, 'the task', session.done);
    await session.paymentsSettled();

    // One fresh key did it all, through the rendezvous alone; it is not the browser's stored key.
    expect(new Set(results.map((r) => r.worker))).toEqual(new Set([workerKey]));
    expect(session.coordinator.groupOf(workerKey)).toBe('stealth');
    const stored = (await ext.serviceWorker.evaluate(() => (globalThis as unknown as StorageGlobal).chrome.storage.local.get('identity'))).identity as { seed: string };
    const storedKey = toHex(backend.ed25519PublicKey(fromHex(stored.seed)));
    expect(workerKey).not.toBe(storedKey);
    const taskerRecords = JSON.stringify(taskerLog);
    expect(taskerRecords).not.toContain(storedKey);
    // The task's files came over the stream from the tasker: no wire of the task's swarm ever reached the browser.
    expect(session.taskServer.counts.served).toBeGreaterThan(0);
    expect(session.torrent.wires).toHaveLength(0);
    expect(swarmWires).toBe(0);
    // The rendezvous relay carried the stream; the exit carried the mint's traffic.
    expect(counter(await metricsOf(meeting!.url.replace(/^ws:/, 'http:')), 'sparecycles_relay_onion_packets_delivered_total', 'to="mailbox"')).toBeGreaterThan(0);

    // Paid exactly for the accepted units past the warm-up, into the background's wallet.
    const accepted = session.coordinator.acceptedUnits(workerKey).length;
    const earned = Math.max(0, accepted - DEFENCE.warmupUnits) * PRICE;
    expect(earned).toBeGreaterThan(0);
    await waitFor('the wallet to hold the pay', async () => ((await ext!.walletSummary()).total === earned ? true : undefined), 60_000, 250);

    // Redeem through the exit: sealed to the mint, which never hears from the browser directly.
    const before = await metricsOf(mint.url);
    const outcome = await within(120_000, 'the redeem', askWallet(ext.send, 'redeem'));
    expect(outcome.mints).toEqual([{ mint: mint.url, redeemed: earned, dropped: 0 }]);
    expect(await mint.client.balance(ACCOUNT)).toBe(earned);
    expect((await ext.walletSummary()).total).toBe(0);
    const after = await metricsOf(mint.url);
    const oblivious = (text: string) => counter(text, 'sparecycles_mint_requests_total', 'route="oblivious",outcome="ok"');
    // A sealed request is counted twice: as itself, and by the route it opens to.
    const redeems = (text: string) => counter(text, 'sparecycles_mint_requests_total', 'route="redeem",outcome="ok"');
    const redeemed = redeems(after) - redeems(before);
    expect(redeemed).toBeGreaterThanOrEqual(1);
    // Every redeem came sealed (batches of eight credits, one packet each): none reached the mint directly.
    expect(oblivious(after) - oblivious(before)).toBeGreaterThanOrEqual(redeemed);
    expect(counter(await metricsOf(exit!.url.replace(/^ws:/, 'http:')), 'sparecycles_relay_onion_packets_delivered_total', 'to="exit"')).toBeGreaterThan(0);
    expect(JSON.stringify(mint.lines)).not.toContain(storedKey);
  }, 600_000);
});

// Credits earned in the browser, end to end, on a private loopback network
// with a real mint: a tasker publishes the Mandelbrot example as a paying
// task (replication 1, so the browser alone finishes it), the extension in
// Debian's Chromium computes its units, and every accepted unit's pay rides
// the receipt to the offscreen engine, across to the background's wallet by
// runtime messages, and into storage.local. Then: the wallet holds exactly
// price × the browser's accepted units, the popup shows it, and "Redeem to
// account" with the account set on the options page moves exactly that much
// to the account at the mint. A second browser starts from a stored wallet
// with credits of two mints and exports them: a token per mint in the popup,
// kept until cleared, and the credits gone from the wallet.

import { mkdir } from 'node:fs/promises';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { WalletSummary } from '../../extension/lib/wallet-messages.ts';
import { toHex } from '../../protocol/bytes.ts';
import { nobleCurve } from '../../protocol/credits/curve.ts';
import { decodeToken } from '../../protocol/credits/token.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { DEFENCE } from '../../tasker/verify/defence.ts';
import { WALLET_VERSION, emptyWallet, type StoredCredit, type WalletData } from '../../worker/wallet-data.ts';
import { launchWithExtension, statusText, waitFor, within } from '../../testnet/extension-browser.ts';
import type { ExtensionBrowser } from '../../testnet/extension-browser.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { publishPayingTask } from '../support/paying-task.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/mandelbrot`;
const ARTIFACTS = `${ROOT}test-artifacts`;
const UNITS = 32;
/** Two denominations per unit (4 + 1), so every unit's pay is more than one credit. */
const PRICE = 5;
/** An account at the mint is a key: the one a volunteer would redeem to. */
const ACCOUNT = toHex(nodeCrypto.ed25519PublicKey(new Uint8Array(32).fill(0x2e)));

type StorageGlobal = { chrome: { storage: { local: { get(key: string): Promise<Record<string, unknown>> } } } };

let mesh: Mesh | undefined;
let ext: ExtensionBrowser | undefined;

beforeAll(async () => {
  ext = await launchWithExtension();
}, 300_000);

afterAll(async () => {
  await ext?.close();
  await mesh?.stop();
});

/** What the background's wallet says it holds, asked as the popup asks. */
function backgroundSummary(browser = ext!): Promise<WalletSummary> {
  return browser.walletSummary();
}

/** The wallet record in storage.local, as the background wrote it. */
async function storedWallet(browser = ext!): Promise<WalletData | undefined> {
  return (await browser.serviceWorker.evaluate(() => (globalThis as unknown as StorageGlobal).chrome.storage.local.get('wallet'))).wallet as WalletData | undefined;
}

/** A credit as a wallet stores it. Export does not ask the mint, so these need not be signed by one. */
function credit(mint: string, amount: number): StoredCredit {
  const scalar = nodeCrypto.randomBytes(32);
  scalar[31]! &= 0x0f;
  return { mint, keyset: '00'.repeat(8), amount, x: toHex(nodeCrypto.randomBytes(32)), C: toHex(nobleCurve.mulBase(scalar)) };
}

const text = (page: Page, selector: string) => page.$eval(selector, (el) => el.textContent ?? '');

describe('credits earned by the extension', () => {
  it('keeps price × accepted units in the background wallet, shows them in the popup, and redeems them to an account at the mint', async () => {
    mesh = await Mesh.start({ mint: true });
    const mint = mesh.net.mint!;
    const { session, results } = await publishPayingTask(mesh, EXAMPLE, { price: PRICE, units: UNITS });
    const paidTo = new Map<string, number>();
    session.on('paid', (p) => paidTo.set(p.worker, (paidTo.get(p.worker) ?? 0) + p.amount));

    const trace: string[] = [];
    onTestFailed(() => console.log(`trace:\n${trace.join('\n')}`));
    const popup = await ext!.openPopup();
    const ws = mesh.trackers.filter((t) => t.startsWith('ws'));
    expect(ws.length).toBeGreaterThan(0);
    await ext!.setSettings({ magnet: session.magnet, relayUrl: '', trackerUrls: ws, cpu: 0.5, redeemAccount: '' });
    await waitFor('the popup to say "Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 10_000);
    // An empty wallet, and no account to redeem to yet.
    expect(await text(popup, '#balance')).toBe('0 credits');
    expect(await text(popup, '#redeem')).toBe('Redeem to account: set one in Settings first');
    expect(await popup.$eval('#export', (el) => (el as HTMLButtonElement).disabled)).toBe(true);

    await popup.click('label.switch');
    const offscreen = await ext!.offscreenPage(30_000);
    offscreen.on('console', (m) => trace.push(`offscreen: ${m.text()}`));

    // The browser is the only worker: the task is done when it has computed every unit.
    const browserKey = await waitFor('a result from the browser', () => results[0]?.worker, 90_000);
    await within(240_000, 'the task', session.done);
    await session.paymentsSettled();
    expect(new Set(results.map((r) => r.worker))).toEqual(new Set([browserKey]));
    const accepted = session.coordinator.acceptedUnits(browserKey).length;
    expect(accepted).toBeGreaterThan(0);
    // A key's first credited results are its unpaid admission warm-up (tasker/verify/defence.ts).
    const paidUnits = accepted - Math.min(accepted, DEFENCE.warmupUnits);
    const earned = paidUnits * PRICE;
    expect(paidTo.get(browserKey)).toBe(earned);

    // The pay crossed into the background's wallet, and storage holds it.
    const summary = await waitFor(
      'the background wallet to hold every accepted unit’s pay',
      async () => {
        const s = await within(2000, 'the background', backgroundSummary());
        trace.push(`wallet: ${JSON.stringify(s)}`);
        return s.total === earned ? s : undefined;
      },
      30_000,
      250,
    );
    expect(summary.mints).toEqual([{ mint: mint.url, amount: earned, count: summary.count }]);
    expect(summary.count).toBeGreaterThanOrEqual(paidUnits);
    const stored = (await storedWallet())!;
    expect(stored.v).toBe(WALLET_VERSION);
    expect(stored.credits.reduce((s, c) => s + c.amount, 0)).toBe(earned);
    // Nothing is left waiting for pay that will not come.
    expect(stored.pending).toEqual([]);
    const engine = await ext!.engineStatus();
    expect(engine?.units.credits).toBe(earned);

    // The popup shows it.
    await waitFor('the popup to show the balance', async () => ((await text(popup, '#balance')) === `${earned} credits` ? true : undefined), 10_000);
    expect(await text(popup, '#holding')).toBe(`held as ${summary.count} notes at ${new URL(mint.url).host}`);

    // Switching off keeps the credits: they are the background's, not the engine's.
    await popup.click('label.switch');
    await waitFor('the popup to say "Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 60_000);
    expect((await backgroundSummary()).total).toBe(earned);

    // The account is set on the options page; the popup's button follows.
    const options = await ext!.browser.newPage();
    await options.goto(`chrome-extension://${ext!.extensionId}/options.html`);
    await options.waitForSelector('#redeem-account');
    await options.type('#redeem-account', ACCOUNT);
    await options.click('#save-account');
    await waitFor('the options page to save the account', async () => (/^Saved/.test(await text(options, '#message')) ? true : undefined), 10_000);
    await options.close();
    await waitFor('the redeem button to name the account', async () => ((await text(popup, '#redeem')) === `Redeem to account “${ACCOUNT}”` ? true : undefined), 10_000);
    await mkdir(ARTIFACTS, { recursive: true });
    await popup.screenshot({ path: `${ARTIFACTS}/popup-credits.png`, fullPage: true });

    // Redeem: the mint moves exactly what the wallet held to the account.
    const before = (await mint.client.balance(ACCOUNT)) ?? 0;
    await popup.click('#redeem');
    const said = await waitFor('the popup to say what was redeemed', async () => {
      const t = await text(popup, '#credits-message');
      return t !== '' && !t.startsWith('Redeeming') ? t : undefined;
    }, 30_000);
    expect(said).toBe(`Redeemed ${earned} credits to “${ACCOUNT}”.`);
    expect(((await mint.client.balance(ACCOUNT)) ?? 0) - before).toBe(earned);
    expect((await backgroundSummary()).total).toBe(0);
    expect((await storedWallet())!.credits).toEqual([]);
    await waitFor('the popup to show an empty wallet', async () => ((await text(popup, '#balance')) === '0 credits' ? true : undefined), 10_000);
  }, 400_000);
});

describe('exporting credits from the extension', () => {
  let second: ExtensionBrowser | undefined;
  afterAll(async () => {
    await second?.close();
  });

  it('shows each mint, exports a token per mint that leaves the wallet, and keeps it until cleared', async () => {
    second = await launchWithExtension();
    const A = 'http://127.0.0.1:1';
    const B = 'https://mint.example.org';
    const wallet: WalletData = { ...emptyWallet(), credits: [credit(A, 4), credit(A, 1), credit(B, 8)] };
    // Written before anything asks the wallet, so the background opens this one.
    await second.serviceWorker.evaluate(
      (w) => (globalThis as unknown as { chrome: { storage: { local: { set(v: unknown): Promise<void> } } } }).chrome.storage.local.set({ wallet: w }),
      wallet,
    );
    const popup = await second.openPopup();
    await waitFor('the popup to show the stored balance', async () => ((await text(popup, '#balance')) === '13 credits' ? true : undefined), 10_000);
    expect(await text(popup, '#holding')).toBe('held as 3 notes at 2 mints');
    expect(await popup.$$eval('#mints li', (items) => items.map((li) => li.textContent))).toEqual([
      '8 credits (1 note) at mint.example.org',
      '5 credits (2 notes) at 127.0.0.1:1',
    ]);
    expect(await popup.$eval('#exported', (el) => (el as HTMLElement).hidden)).toBe(true);

    await popup.click('#export');
    const said = await waitFor('the popup to say what was exported', async () => (await text(popup, '#credits-message')) || undefined, 10_000);
    expect(said).toMatch(/^Exported 13 credits as 2 tokens: they are no longer in this wallet/);
    await waitFor('the token box to show', async () => ((await popup.$eval('#exported', (el) => (el as HTMLElement).hidden)) ? undefined : true), 10_000);
    const box = await popup.$eval('#token', (el) => ({ value: (el as HTMLTextAreaElement).value, readOnly: (el as HTMLTextAreaElement).readOnly }));
    expect(box.readOnly).toBe(true);
    const tokens = box.value.split('\n').map((t) => decodeToken(t));
    expect(tokens.map((t) => [t.mint, t.credits.map((c) => c.amount)]).sort()).toEqual([[A, [4, 1]], [B, [8]]].sort());
    expect(tokens.flatMap((t) => t.credits.map((c) => toHex(c.x))).sort()).toEqual(wallet.credits.map((c) => c.x).sort());
    expect((await backgroundSummary(second)).total).toBe(0);
    expect((await storedWallet(second))!.credits).toEqual([]);
    await waitFor('the popup to show an empty wallet', async () => ((await text(popup, '#balance')) === '0 credits' ? true : undefined), 10_000);
    await mkdir(ARTIFACTS, { recursive: true });
    await popup.screenshot({ path: `${ARTIFACTS}/popup-export.png`, fullPage: true });

    // Closing and opening the popup again still shows the token; clearing removes it.
    await popup.close();
    const again = await second.openPopup();
    await waitFor('the kept token to show again', async () => ((await again.$eval('#token', (el) => (el as HTMLTextAreaElement).value)) === box.value ? true : undefined), 10_000);
    await again.click('#clear-token');
    await waitFor('the token box to hide', async () => ((await again.$eval('#exported', (el) => (el as HTMLElement).hidden)) ? true : undefined), 10_000);
    expect(await second.serviceWorker.evaluate(() => (globalThis as unknown as StorageGlobal).chrome.storage.local.get('exported'))).toEqual({});
  }, 120_000);
});

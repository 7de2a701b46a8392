// The extension in Debian's Chromium, on a private loopback network: a tasker
// publishes the Mandelbrot example and its offer on the DHT, an edge relay
// serves the offer, the volunteer sets the relay and switches sharing on in
// the popup, the browser finds the offer through the relay and computes units
// the tasker accepts, two Node workers join after sharing is switched off
// again, and the merged output equals run-local.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import puppeteer from 'puppeteer-core';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { defaultSettings } from '../../extension/lib/settings.ts';
import { chromiumArgs } from '../../testnet/chromium.ts';
import type { RelayServer } from '../../relay/relay.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { statusText, waitFor } from '../../testnet/extension-browser.ts';
import { requireTool } from '../../testnet/tools.ts';
import { runLocally } from '../support/local-run.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/mandelbrot`;
const EXTENSION = `${ROOT}dist/extension/chrome-mv3`;
const ARTIFACTS = `${ROOT}test-artifacts`;

let expected: Uint8Array;
let mesh: Mesh | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(`${EXTENSION}/manifest.json`)) execFileSync('npx', ['wxt', 'build'], { cwd: ROOT, stdio: 'ignore' });
  expected = (await runLocally(EXAMPLE)).merged;
  browser = await puppeteer.launch({
    executablePath: await requireTool('chromium'),
    headless: true,
    pipe: true,
    args: chromiumArgs([`--disable-extensions-except=${EXTENSION}`, `--load-extension=${EXTENSION}`]),
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await mesh?.stop();
});


describe('the extension in Chromium', () => {
  it('computes units the tasker accepts, stops claiming when switched off, and the merge equals run-local', async () => {
    mesh = await Mesh.start({ relays: 1 });
    const relay: RelayServer = mesh.net.relays[0]!.relay;
    // The tasker also announces at the relay's signalling endpoint, the one place the browser looks for peers.
    const session = await mesh.publish(EXAMPLE, { offer: true, trackers: [relay.signallingUrl] });
    // The relay's cache was filled before the offer existed; a fresh lookup saves waiting for its next round.
    await relay.refreshOffers();
    const results: Array<{ worker: string; unit: number; status: string }> = [];
    session.on('result', (r) => results.push(r));

    const swTarget = await browser!.waitForTarget((t) => t.type() === 'service_worker' && t.url().endsWith('/background.js'), {
      timeout: 20_000,
    });
    const extensionId = new URL(swTarget.url()).host;
    const sw = (await swTarget.worker())!;
    // No magnet and no tracker: the extension must find the task through the
    // relay, and meet the tasker over WebRTC through the relay's signalling.
    const settings = { ...defaultSettings(), magnet: '', relayUrl: relay.url, trackerUrls: [], cpu: 0.5 };
    await sw.evaluate((s) => (globalThis as unknown as { chrome: { storage: { local: { set(v: unknown): Promise<void> } } } }).chrome.storage.local.set({ settings: s }), settings);

    const popup = await browser!.newPage();
    await popup.setViewport({ width: 380, height: 720 });
    await popup.goto(`chrome-extension://${extensionId}/popup.html`);
    await waitFor('the popup to say "Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 10_000);
    await popup.click('label.switch');
    const trace: string[] = [];
    const tracer = setInterval(() => void statusText(popup).then((t) => trace.at(-1) !== t && trace.push(t), () => {}), 500);
    browser!.on('targetcreated', (t) => {
      if (!t.url().endsWith('/offscreen.html')) return;
      void t.asPage().then((page) => page.on('console', (m) => trace.push(`offscreen: ${m.text()}`)));
    });
    onTestFailed(() => console.log(`popup and offscreen trace:\n${trace.join('\n')}`));
    onTestFinished(() => clearInterval(tracer));

    // The browser is the only worker so far: every result is its own.
    const browserKey = await waitFor('a result from the browser', () => results[0]?.worker, 90_000);
    const computing = await waitFor(
      'the popup to show the task',
      async () => {
        const text = await statusText(popup);
        return /^Sharing — computing mandelbrot, \d+\/32 units$/.test(text) ? text : undefined;
      },
      20_000,
    );
    expect(computing).toMatch(/mandelbrot/);
    await mkdir(ARTIFACTS, { recursive: true });
    await popup.screenshot({ path: `${ARTIFACTS}/popup.png` });

    // Switch off: running units finish, no new claims, the offscreen document closes.
    await popup.click('label.switch');
    await waitFor('the popup to say "Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 60_000);
    await waitFor(
      'the offscreen document to close',
      () => (browser!.targets().some((t) => t.url().endsWith('/offscreen.html')) ? undefined : true),
      10_000,
    );
    const fromBrowser = () => results.filter((r) => r.worker === browserKey).length;
    const afterOff = fromBrowser();

    await Promise.all([mesh.worker(session.magnet), mesh.worker(session.magnet)]);
    const merged = await session.done;
    expect(Buffer.compare(merged, expected)).toBe(0);
    expect(fromBrowser(), 'the browser sent no results after sharing was switched off').toBe(afterOff);
    expect(session.coordinator.acceptedUnits(browserKey).length).toBeGreaterThan(0);
    // The browser found the task by asking the relay, not from a magnet.
    const metrics = await (await fetch(`${relay.url.replace(/^ws/, 'http')}/metrics`)).text();
    expect(metrics).toMatch(/_requests_total\{type="relay-find"\} [1-9]/);
  }, 300_000);
});

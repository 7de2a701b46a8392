// A fresh extension, as a volunteer installs it: built for this loopback
// network (its shipped relay list names only the test's relay, and it ships
// no trackers), loaded into Debian's Chromium with no option set, switched
// on. It finds the offer through its shipped relay, meets the tasker through
// that relay's signalling endpoint, and computes units the tasker accepts.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { defaultSettings } from '../../extension/lib/settings.ts';
import { buildExtensionFor, launchWithExtension, statusText, waitFor, within } from '../../testnet/extension-browser.ts';
import type { ExtensionBrowser } from '../../testnet/extension-browser.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { runLocally } from '../support/local-run.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;

type StorageGlobal = { chrome: { storage: { local: { get(key: string): Promise<Record<string, unknown>> } } } };

let mesh: Mesh | undefined;
let ext: ExtensionBrowser | undefined;
let out: string | undefined;
afterAll(async () => {
  await ext?.close().catch(() => {});
  await mesh?.stop();
  if (out) await rm(out, { recursive: true, force: true });
});

describe('a fresh extension', () => {
  it('finds and computes an offer with no option set, through the relays it ships with', async () => {
    const expected = (await runLocally(EXAMPLE)).merged;
    mesh = await Mesh.start({ relays: 1 });
    const relay = mesh.net.relays[0]!.relay;
    const session = await mesh.publish(EXAMPLE, { offer: true, trackers: [relay.signallingUrl] });
    await relay.refreshOffers();
    const results: Array<{ worker: string }> = [];
    session.on('result', (r) => results.push(r));

    out = await mkdtemp(join(tmpdir(), 'sc-fresh-extension-'));
    ext = await launchWithExtension({ dir: buildExtensionFor({ relays: [relay.url], trackers: [] }, out) });
    const popup = await ext.openPopup();
    const trace: string[] = [];
    onTestFailed(() => console.log(`trace:\n${trace.join('\n')}`));
    const tracer = setInterval(() => void statusText(popup).then((t) => trace.at(-1) !== t && trace.push(t), () => {}), 500);
    try {
      // Nothing was ever set: no settings record, and the defaults name no relay and no tracker.
      const stored = await ext.serviceWorker.evaluate(() => (globalThis as unknown as StorageGlobal).chrome.storage.local.get('settings'));
      expect(stored.settings).toBeUndefined();
      expect(defaultSettings().relayUrl).toBe('');
      await popup.click('label.switch');
      const browserKey = await waitFor('a result from the browser', () => results[0]?.worker, 120_000);
      await waitFor('the popup to show the task', async () => (/^Sharing — computing mandelbrot/.test(await statusText(popup)) ? true : undefined), 30_000);
      await Promise.all([mesh.worker(session.magnet), mesh.worker(session.magnet)]);
      const merged = await within(240_000, 'the task', session.done);
      expect(Buffer.compare(merged, expected!)).toBe(0);
      expect(session.coordinator.acceptedUnits(browserKey).length).toBeGreaterThan(0);
    } finally {
      clearInterval(tracer);
    }
  }, 400_000);
});

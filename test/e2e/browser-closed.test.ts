// A volunteer closes the browser in the middle of a unit. Nothing is lost on
// the tasker's side: the units the browser held are reissued when their
// leases run out, Node workers finish them, and the merge equals run-local.

import { afterAll, describe, expect, it } from 'vitest';
import { launchWithExtension, statusText, waitFor } from '../../testnet/extension-browser.ts';
import type { ExtensionBrowser } from '../../testnet/extension-browser.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { runLocally } from '../support/local-run.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;

let ext: ExtensionBrowser | undefined;
let mesh: Mesh | undefined;
afterAll(async () => {
  await ext?.close().catch(() => {});
  await mesh?.stop();
});

describe('closing the browser mid-unit', () => {
  it('loses nothing: the tasker reissues the units and the merge is exact', async () => {
    const expected = (await runLocally(EXAMPLE)).merged;

    mesh = await Mesh.start();
    // Short leases, so units held by the vanished browser come back quickly.
    const reissued: number[] = [];
    let hello: string | undefined;
    const session = await mesh.publish(EXAMPLE, {
      leaseMs: 3000,
      log: (line) => {
        if (line.event === 'worker-hello') hello ??= line.worker as string;
        if (line.event === 'worker-lost' || line.event === 'leases-expired') reissued.push(...(line.units as number[]));
      },
    });
    const results: string[] = [];
    session.on('result', (r) => results.push(r.worker));
    ext = await launchWithExtension();
    const popup = await ext.openPopup();
    await ext.setSettings({ magnet: session.magnet, relayUrl: '', trackerUrls: mesh.trackers.filter((t) => t.startsWith('ws')), cpu: 0.5 });
    await waitFor('"Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 10_000);
    await popup.click('label.switch');

    // Close the whole browser while the tasker counts units as held by it.
    // Fast units can finish between any look and the close, so the offscreen
    // document's page is paused first (its units' results leave through it),
    // and the browser closes only if the tasker still holds leases for it
    // once what was already on the wire has landed; otherwise it resumes and
    // the test looks again.
    const browserKey = await waitFor('the browser to greet the tasker', async () => hello, 60_000);
    const offscreen = await ext.offscreenPage();
    const cdp = await offscreen.createCDPSession();
    await cdp.send('Debugger.enable');
    let held: number[] = [];
    for (let attempt = 0; attempt < 20 && held.length === 0; attempt++) {
      // Past its first lease (a canary) so that ordinary units are in its hands.
      await waitFor(
        'the tasker to lease the browser units past its first',
        async () => (results.length >= 1 && session.coordinator.heldBy(browserKey).length > 0 ? true : undefined),
        60_000,
        20,
      );
      await cdp.send('Debugger.pause');
      await new Promise((resolve) => setTimeout(resolve, 500));
      held = session.coordinator.heldBy(browserKey);
      if (held.length === 0) await cdp.send('Debugger.resume');
    }
    expect(held.length).toBeGreaterThan(0);
    expect(reissued).toEqual([]);
    await ext.close();
    ext = undefined;

    await Promise.all([mesh.worker(session.magnet), mesh.worker(session.magnet)]);
    const merged = await session.done;
    expect(Buffer.compare(merged, expected!)).toBe(0);
    // The units the browser held when it vanished were done by others: verified, and never credited to
    // the browser. (Taken back when its lease lapsed or its channel closed, or finished by the other
    // answers first: the task may end before the tasker notices the browser is gone.)
    for (const unit of held) {
      expect(session.coordinator.verifiedHash(unit)).toBeDefined();
      expect(session.coordinator.acceptedUnits(browserKey)).not.toContain(unit);
    }
  });
});

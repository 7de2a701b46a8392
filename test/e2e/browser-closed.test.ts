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
    const session = await mesh.publish(EXAMPLE, {
      leaseMs: 3000,
      log: (line) => {
        if (line.event === 'worker-lost' || line.event === 'leases-expired') reissued.push(...(line.units as number[]));
      },
    });
    ext = await launchWithExtension();
    const popup = await ext.openPopup();
    await ext.setSettings({ magnet: session.magnet, relayUrl: '', trackerUrls: mesh.trackers.filter((t) => t.startsWith('ws')), cpu: 0.5 });
    await waitFor('"Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 10_000);
    await popup.click('label.switch');

    // Close the whole browser as soon as it holds ordinary units (its first is a canary).
    await waitFor(
      'the browser to hold units past its canary',
      async () => {
        const stats = (await ext!.engineStatus())?.units;
        return stats && stats.assigned >= 2 && stats.assigned > stats.computed ? true : undefined;
      },
      60_000,
      50,
    );
    expect(reissued).toEqual([]);
    await ext.close();
    ext = undefined;

    await Promise.all([mesh.worker(session.magnet), mesh.worker(session.magnet)]);
    const merged = await session.done;
    expect(Buffer.compare(merged, expected!)).toBe(0);
    // The units the browser held when it vanished were taken back and done by others.
    expect(reissued.length).toBeGreaterThan(0);
  });
});

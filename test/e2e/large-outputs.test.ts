// Outputs too large to ride inline, computed by the extension in Chromium:
// the browser seeds them as a result torrent, over WebRTC only, and the tasker
// must fetch that torrent from it and merge exactly. The browser is the only
// worker, so every output comes this way.

import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { launchWithExtension, statusText, waitFor } from '../../testnet/extension-browser.ts';
import type { ExtensionBrowser } from '../../testnet/extension-browser.ts';
import { makeLargeOutputTask } from '../support/large-output-task.ts';
import { Mesh } from '../../testnet/mesh.ts';

const UNITS = 3;

let ext: ExtensionBrowser | undefined;
let mesh: Mesh | undefined;
let dir: string | undefined;
afterAll(async () => {
  await ext?.close().catch(() => {});
  await mesh?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('large outputs from the extension', () => {
  it('travel to the tasker as the browser’s result torrent, over WebRTC, and merge exactly', async () => {
    const task = await makeLargeOutputTask(UNITS, 1);
    dir = task.dir;
    mesh = await Mesh.start();
    const session = await mesh.publish(dir);
    const workers = new Set<string>();
    session.on('result', (r) => workers.add(r.worker));
    ext = await launchWithExtension();
    const popup = await ext.openPopup();
    await ext.setSettings({ magnet: session.magnet, relayUrl: '', trackerUrls: mesh.trackers.filter((t) => t.startsWith('ws')), cpu: 0.5 });
    await waitFor('"Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 10_000);
    await popup.click('label.switch');

    const merged = await session.done;
    expect(Buffer.compare(merged, task.expected)).toBe(0);
    // Only the browser worked: the results it seeded are the only place these outputs could come from.
    expect(workers.size).toBe(1);
  }, 180_000);
});

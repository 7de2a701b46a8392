// Outputs too large to ride inline, computed by the extension in Chromium:
// the browser seeds them as a result torrent, over WebRTC only, and the tasker
// must fetch that torrent from it and merge exactly. The browser is the only
// worker, so every output comes this way.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../protocol/constants.ts';
import { launchWithExtension, statusText, waitFor } from '../support/extension-browser.ts';
import type { ExtensionBrowser } from '../support/extension-browser.ts';
import { Mesh } from '../support/mesh.ts';
import { compileFixture } from '../support/wasm-fixtures.ts';

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
    dir = await mkdtemp(join(tmpdir(), 'sc-large-ext-'));
    await mkdir(join(dir, 'inputs'));
    await writeFile(join(dir, 'unit.wasm'), await compileFixture('echo'));
    const inputs: Uint8Array[] = [];
    for (let unit = 0; unit < UNITS; unit++) {
      // echo.wat returns its input reversed plus the unit's byte: more than a message carries inline.
      const input = new Uint8Array(LIMITS.inlineOutputBytes + 4096).map((_, i) => (i * 13 + unit) & 255);
      inputs.push(input);
      await writeFile(join(dir, `inputs/${unit}.bin`), input);
    }
    await writeFile(
      join(dir, 'task.json'),
      JSON.stringify({
        name: 'large-outputs-ext',
        units: UNITS,
        inputs: inputs.map((_, u) => `inputs/${u}.bin`),
        limits: { memoryPages: 64, unitTimeMs: 10_000, outputBytes: 1 << 20 },
        verification: { replication: 1, canaryRate: 0, sampleRate: 0, minUnitMs: 0 },
        merge: { kind: 'concat' },
      }),
    );

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
    const expected = Buffer.concat(inputs.map((input, unit) => Buffer.from([...input.slice().reverse(), unit])));
    expect(Buffer.compare(merged, expected)).toBe(0);
    // Only the browser worked: the results it seeded are the only place these outputs could come from.
    expect(workers.size).toBe(1);
  }, 180_000);
});

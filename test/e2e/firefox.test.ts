// The Firefox build (dist/extension/firefox-mv2) in Debian's firefox-esr, on
// a private loopback network with a mint: a tasker publishes the Mandelbrot
// example as a paying task, the volunteer switches sharing on in the popup,
// and the engine runs in Firefox's background page itself (no offscreen
// document): it fetches the task over WebRTC, answers every unit from its Web
// Workers, and the tasker accepts them and pays. The pay reaches the
// background's wallet by direct calls, and storage holds exactly price ×
// accepted units. Switching off stops the engine and keeps the credits; a
// Node worker finishes what was not accepted, and the merge equals run-local.

import { afterAll, beforeAll, describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import type { ExtensionMessage, StatusView } from '../../extension/lib/messages.ts';
import { askWallet } from '../../extension/lib/wallet-messages.ts';
import { launchFirefoxWithExtension } from '../support/firefox.ts';
import type { FirefoxExtension } from '../support/firefox.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { waitFor } from '../../testnet/wait.ts';
import { runLocally } from '../support/local-run.ts';
import { publishPayingTask } from '../support/paying-task.ts';
import { DEFENCE } from '../../tasker/verify/defence.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/mandelbrot`;
const UNITS = 32;
const PRICE = 5;

type Background = {
  browser: { storage: { local: { get(key: string): Promise<Record<string, unknown>> } } };
};
type RuntimeGlobal = { browser: { runtime: { sendMessage(message: unknown): Promise<unknown> } } };

/** Sends a runtime message from the extension page the helper keeps open, as the popup does. */
function send(message: ExtensionMessage): Promise<unknown> {
  return ff!.console.evaluate((m) => (globalThis as unknown as RuntimeGlobal).browser.runtime.sendMessage(m), message);
}

/** The engine's status as the background last heard it: in Firefox the engine runs in the background page and reports by direct calls. */
async function engineStatus() {
  return ((await send({ target: 'background', kind: 'get-status' })) as StatusView).engine ?? null;
}

const walletSummary = () => askWallet(send, 'summary');

let mesh: Mesh | undefined;
let ff: FirefoxExtension | undefined;
let expected: Uint8Array;

beforeAll(async () => {
  expected = (await runLocally(EXAMPLE)).merged;
  ff = await launchFirefoxWithExtension();
}, 120_000);

afterAll(async () => {
  await ff?.close();
  await mesh?.stop();
});

describe('the extension in Firefox', () => {
  it('runs the engine in the background page: computes a paying task the tasker accepts, and the wallet keeps the pay', async () => {
    mesh = await Mesh.start({ mint: true });
    const mint = mesh.net.mint!;
    // The tasker's own account of leases and wires, shown if the test fails.
    const taskerLog: string[] = [];
    const { session, results } = await publishPayingTask(mesh, EXAMPLE, { price: PRICE, units: UNITS }, (line) => {
      if (line.level !== 'debug' || line.event === 'claim' || line.event === 'worker-hello') taskerLog.push(JSON.stringify(line));
    });

    const popup = await ff!.openPopup();
    const statusText = () => popup.$eval('#status', (el) => el.textContent ?? '');
    const ws = mesh.trackers.filter((t) => t.startsWith('ws'));
    expect(ws.length).toBeGreaterThan(0);
    await ff!.setSettings({ magnet: session.magnet, relayUrl: '', trackerUrls: ws, cpu: 0.5 });
    await waitFor('the popup to say "Not sharing"', async () => ((await statusText()) === 'Not sharing' ? true : undefined), 10_000);

    const trace: string[] = [];
    const tracer = setInterval(() => void statusText().then((t) => trace.at(-1) !== t && trace.push(t), () => {}), 500);
    onTestFinished(() => clearInterval(tracer));
    onTestFailed(async () => {
      const engine = await engineStatus().catch(() => null);
      const warnings = engine?.warnings ?? [];
      const tally = results.reduce<Record<string, number>>((t, r) => ({ ...t, [r.status]: (t[r.status] ?? 0) + 1 }), {});
      console.log(`popup trace:\n${trace.join('\n')}\nresults: ${JSON.stringify(tally)}\nengine: ${JSON.stringify(engine)}\nbackground warnings:\n${warnings.join('\n')}\ntasker log (claims left out):\n${taskerLog.filter((l) => !l.includes('"claim"')).slice(-80).join('\n')}`);
    });

    await popup.click('label.switch');
    // No offscreen document in Firefox: the background page's own engine host.
    const browserKey = await waitFor('a result from the browser', () => results[0]?.worker, 90_000);
    // The browser is the only worker, so the task finishes on its results alone; and every
    // receipt comes back. Not every unit need reach it: the example has two canaries, whose
    // answers the tasker knows, and a proven worker gets a canary only now and then, so the
    // task may be done before the second one was ever handed out.
    let taskDone = false;
    void session.done.then(() => (taskDone = true), () => {});
    await waitFor(
      'the task done, and the browser idle with every receipt heard',
      async () => {
        const engine = await engineStatus();
        return taskDone && engine?.units.running === 0 && engine.units.pending === 0 ? true : undefined;
      },
      240_000,
      250,
    );
    await session.paymentsSettled();
    expect(new Set(results.map((r) => r.worker))).toEqual(new Set([browserKey]));
    const accepted = session.coordinator.acceptedUnits(browserKey).length;
    // Most units, not necessarily all: a canary may never have reached it (above).
    expect(accepted).toBeGreaterThan(UNITS / 2);
    // A key's first credited results are its unpaid admission warm-up (tasker/verify/defence.ts).
    const earned = (accepted - Math.min(accepted, DEFENCE.warmupUnits)) * PRICE;
    // A receipt's pay is unblinded and stored after the receipt is counted: wait for the last of it.
    const units = await waitFor(
      'the engine to count the pay of every accepted unit',
      async () => {
        const u = (await engineStatus())?.units;
        return u && u.credits >= earned ? u : undefined;
      },
      30_000,
      250,
    );
    expect(units).toMatchObject({ accepted, credits: earned });

    // The pay went straight into the background's wallet, and storage holds it.
    const summary = await waitFor(
      'the background wallet to hold every accepted unit’s pay',
      async () => {
        const s = await walletSummary();
        return s.total === earned ? s : undefined;
      },
      30_000,
      250,
    );
    expect(summary.mints).toEqual([{ mint: mint.url, amount: earned, count: summary.count }]);
    const stored = (await ff!.inBackground((bg) => (bg as unknown as Background).browser.storage.local.get('wallet'))).wallet as {
      credits: Array<{ amount: number }>;
      pending: unknown[];
    };
    expect(stored.credits.reduce((s, c) => s + c.amount, 0)).toBe(earned);
    expect(stored.pending).toEqual([]);
    await waitFor('the popup to show the balance', async () => ((await popup.$eval('#balance', (el) => el.textContent)) === `${earned} credits` ? true : undefined), 10_000);

    // Switch off: the engine stops, the background page (and its wallet) stays.
    await popup.click('label.switch');
    await waitFor('the popup to say "Not sharing"', async () => ((await statusText()) === 'Not sharing' ? true : undefined), 60_000);
    expect(await engineStatus().then((e) => e?.units.running ?? 0)).toBe(0);
    expect((await walletSummary()).total).toBe(earned);
    const fromBrowser = results.length;

    // The browser's results alone made the output, and it equals run-local's.
    const merged = await session.done;
    expect(Buffer.compare(merged, expected)).toBe(0);
    expect(results.filter((r) => r.worker === browserKey).length, 'the browser sent no results after sharing was switched off').toBe(fromBrowser);
  }, 400_000);
});

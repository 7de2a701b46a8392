// Moving the CPU slider while the extension computes, in Debian's Chromium:
// a spin task whose units take a few hundred milliseconds, the browser the
// only worker. The slider goes from one thread to every core while units
// run, then down to one thread resting as long as it works, again while
// units run. The pool follows each move (the engine's status says so), the
// engine claims more once it has more threads, and nothing is dropped: the
// tasker never loses the browser's wire or a lease, no unit fails, every
// unit is accepted from the browser, and the merge equals run-local.

import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { calibrateSpin, makeSpinTask } from '../../bench/bench-task.ts';
import type { EngineStatus } from '../../extension/lib/messages.ts';
import type { LogLine } from '../../serve/log.ts';
import { launchWithExtension, statusText, waitFor } from '../../testnet/extension-browser.ts';
import type { ExtensionBrowser } from '../../testnet/extension-browser.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { cpuBudget } from '../../units/cpu-budget.ts';
import { runLocally } from '../support/local-run.ts';

const UNITS = 32;
const UNIT_MS = 250;

let ext: ExtensionBrowser | undefined;
let mesh: Mesh | undefined;
let dir: string | undefined;
afterAll(async () => {
  await ext?.close();
  await mesh?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the CPU slider in the extension', () => {
  it('resizes the pool mid-task: more threads and claims, then fewer, and no unit is dropped', async () => {
    dir = await makeSpinTask({ units: UNITS, spin: await calibrateSpin(UNIT_MS) });
    const expected = (await runLocally(dir)).merged;

    mesh = await Mesh.start();
    const log: LogLine[] = [];
    const session = await mesh.publish(dir, { log: (line) => log.push(line) });
    const results: Array<{ worker: string; unit: number; status: string }> = [];
    // Arrivals and verdicts alike: only verdicts say `accepted`.
    session.on('result', (r) => results.push(r));
    session.on('verdict', (r) => results.push(r));

    ext = await launchWithExtension();
    const popup = await ext.openPopup();
    const cores = await popup.evaluate(() => navigator.hardwareConcurrency || 1);
    expect(cores, 'growing the pool needs a second core').toBeGreaterThanOrEqual(2);
    // One thread at full duty; every core; one thread at half duty.
    const one = Math.floor(100 / cores) / 100;
    const all = 1;
    // The slider moves in steps of 5%.
    const low = Math.max(0.1, (Math.floor((one * 100) / 2 / 5) * 5) / 100);
    const lowBudget = cpuBudget(low, cores);
    expect(lowBudget.threads).toBe(1);
    expect(lowBudget.dutyCycle).toBeLessThan(1);

    // The popup's own slider, moved as a volunteer moves it: the popup saves the share when the slider is let go.
    const moveSlider = (fraction: number) =>
      popup.$eval('#cpu', (el, percent) => {
        (el as HTMLInputElement).value = percent;
        el.dispatchEvent(new Event('input'));
        el.dispatchEvent(new Event('change'));
      }, String(Math.round(fraction * 100)));

    const ws = mesh.trackers.filter((t) => t.startsWith('ws'));
    await ext.setSettings({ magnet: session.magnet, relayUrl: '', trackerUrls: ws, cpu: one });
    await waitFor('the popup to say "Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 10_000);
    await popup.click('label.switch');
    const consoleLines: string[] = [];
    (await ext.offscreenPage()).on('console', (m) => consoleLines.push(m.text()));

    // Every look at the engine, to check that its counts only ever climb (a rebuilt engine starts again from 0).
    const looks: EngineStatus[] = [];
    const look = async () => {
      const status = await ext!.engineStatus();
      if (status) looks.push(status);
      return status;
    };
    onTestFailed(() => {
      const brief = looks.map((s) => `${s.threads}×${s.dutyCycle} ${JSON.stringify(s.units)}`);
      console.log(`offscreen console:\n${consoleLines.join('\n')}\nengine looks:\n${brief.slice(-60).join('\n')}\ntasker log:\n${log.filter((l) => l.event !== 'claim').map((l) => JSON.stringify(l)).slice(-60).join('\n')}`);
    });
    const waitForEngine = (what: string, test: (s: EngineStatus) => boolean) =>
      waitFor(what, async () => {
        const status = await look();
        return status && test(status) ? status : undefined;
      }, 60_000, 50);

    const first = await waitForEngine('the browser to compute on one thread with a unit running', (s) => s.units.computed >= 1 && s.units.running >= 1);
    expect(first).toMatchObject(cpuBudget(one, cores));

    // Up to every core while a unit runs: more threads, and the engine claims for them.
    await moveSlider(all);
    await waitForEngine(`the pool to grow to ${cores} threads`, (s) => s.threads === cores && s.dutyCycle === 1);
    // One thread holds at most two units (one running, one waiting behind it); more means the engine claimed for the new threads.
    await waitForEngine('the engine to hold more units than one thread takes', (s) => s.units.running > 2);

    // Down to one thread resting as long as it works, while units run on every thread.
    await moveSlider(low);
    const shrunk = await waitForEngine('the pool to shrink to one thread', (s) => s.threads === 1);
    expect(shrunk).toMatchObject(lowBudget);

    const merged = await session.done;
    expect(Buffer.compare(merged, expected)).toBe(0);
    // Nothing was dropped: the tasker never lost the browser's wire or a lease, and accepted every unit from the browser.
    expect(log.filter((l) => l.event === 'worker-lost' || l.event === 'leases-expired')).toEqual([]);
    const workers = new Set(results.map((r) => r.worker));
    expect(workers.size, 'only the browser computed').toBe(1);
    const accepted = new Set(results.filter((r) => r.status === 'accepted').map((r) => r.unit));
    expect(accepted.size).toBe(UNITS);
    // One engine all along, and no unit failed in it.
    const final = await waitForEngine('the engine to count every unit', (s) => s.units.computed + s.units.failed >= UNITS && s.units.running === 0);
    expect(final.units.failed).toBe(0);
    expect(looks.every((s) => s.units.failed === 0)).toBe(true);
    for (const key of ['assigned', 'computed'] as const) {
      const counts = looks.map((s) => s.units[key]);
      expect(counts, `${key} never went back`).toEqual([...counts].sort((a, b) => a - b));
    }
  }, 300_000);
});

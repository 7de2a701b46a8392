// A task with hostile units, computed by the extension in Chromium: six of
// eight units echo their input, units 1 and 4 loop forever. The browser is the
// only worker. Its unit pool must kill each looping unit at limits.unitTimeMs
// and carry on: every good unit is accepted from the browser's key, the
// looping ones never produce a result, the popup keeps answering and showing
// progress while a looping unit runs, and the offscreen document survives.
// The task never completes, so nothing here waits for session.done.

import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { LogLine } from '../../serve/log.ts';
import type { TaskerSession } from '../../tasker/session.ts';
import { launchWithExtension, statusText, waitFor, within } from '../../testnet/extension-browser.ts';
import type { ExtensionBrowser } from '../../testnet/extension-browser.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { compileFixture } from '../../testnet/wasm-fixtures.ts';

const UNITS = 8;
const LOOPING = new Set([1, 4]);
const GOOD = Array.from({ length: UNITS }, (_, u) => u).filter((u) => !LOOPING.has(u));
const UNIT_TIME_MS = 1500;
const TASK_NAME = 'hostile-loop';
/** How long one look into the popup or the offscreen page may take before it counts as hung. */
const ANSWER_MS = 2000;

async function makeHostileTask(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-hostile-task-'));
  await writeFile(join(dir, 'unit.wasm'), await compileFixture('loop-on-flag'));
  await mkdir(join(dir, 'inputs'));
  const inputs: string[] = [];
  for (let unit = 0; unit < UNITS; unit++) {
    const path = `inputs/${unit}.bin`;
    await writeFile(join(dir, path), Uint8Array.of(LOOPING.has(unit) ? 1 : 0, unit));
    inputs.push(path);
  }
  const task = {
    name: TASK_NAME,
    module: 'unit.wasm',
    units: UNITS,
    inputs,
    pricePerUnit: 1,
    limits: { memoryPages: 16, unitTimeMs: UNIT_TIME_MS, outputBytes: 1024 },
    verification: { replication: 1, canaryRate: 0, sampleRate: 0, minUnitMs: 0 },
    merge: { kind: 'concat' },
  };
  await writeFile(join(dir, 'task.json'), JSON.stringify(task, null, 2));
  return dir;
}

/** One bounded look into a page: when it was asked, when it answered, and what it said. */
interface Sample<T> {
  sent: number;
  answered: number;
  value?: T;
  error?: string;
}

/** Looks into a page every `everyMs`, each look bounded by ANSWER_MS, until stopped. */
function sampler<T>(what: string, look: () => Promise<T>, everyMs = 250) {
  const samples: Array<Sample<T>> = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const sent = performance.now();
      try {
        const value = await within(ANSWER_MS, what, look());
        samples.push({ sent, answered: performance.now(), value });
      } catch (error) {
        samples.push({ sent, answered: performance.now(), error: (error as Error).message });
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

let dir: string | undefined;
let mesh: Mesh | undefined;
let ext: ExtensionBrowser | undefined;
const stoppers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  dir = await makeHostileTask();
  ext = await launchWithExtension();
}, 300_000);

afterAll(async () => {
  for (const stop of stoppers) await stop().catch(() => {});
  await ext?.close();
  await mesh?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a task with units that loop forever, in the extension', () => {
  it('kills the looping units, has every good unit accepted, and keeps the popup and offscreen page alive', async () => {
    const log: Array<LogLine & { at: number }> = [];
    mesh = await Mesh.start();
    const session: TaskerSession = await mesh.publish(dir!, {
      // Leases a little longer than a unit may run, so the looping units are
      // handed out again (and killed again) within the test.
      leaseMs: 4000,
      log: (line) => log.push({ ...line, at: performance.now() }),
    });
    const results: Array<{ worker: string; unit: number; status: string; at: number }> = [];
    // Arrivals and verdicts alike: only verdicts say `accepted`.
    session.on('result', (r) => results.push({ ...r, at: performance.now() }));
    session.on('verdict', (r) => results.push({ ...r, at: performance.now() }));

    const popup = await ext!.openPopup();
    const cores = await popup.evaluate(() => navigator.hardwareConcurrency || 1);
    // One unit thread, so a looping unit blocks every good unit behind it until the kill.
    const cpu = Math.max(0.1, Math.floor(100 / cores) / 100);
    const ws = mesh.trackers.filter((t) => t.startsWith('ws'));
    expect(ws.length).toBeGreaterThan(0);
    await ext!.setSettings({ magnet: session.magnet, relayUrl: '', trackerUrls: ws, cpu });
    await waitFor('the popup to say "Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 10_000);
    await popup.click('label.switch');

    const trace: string[] = [];
    onTestFailed(() => console.log(`trace:\n${trace.join('\n')}\ntasker log:\n${log.map((l) => JSON.stringify(l)).join('\n')}`));
    const offscreen: Page = await ext!.offscreenPage(30_000);
    offscreen.on('console', (m) => trace.push(`offscreen: ${m.text()}`));

    const popupLooks = sampler('the popup', () => statusText(popup));
    stoppers.push(popupLooks.stop);
    // Each look is a 'get-status' message the offscreen document answers itself: it answers only while its event loop is free.
    const offscreenLooks = sampler('the offscreen page', () => ext!.engineStatus());
    stoppers.push(offscreenLooks.stop);

    // Every good unit is accepted, and all from the browser: it is the only worker.
    const accepted = () => new Set(results.filter((r) => r.status === 'accepted').map((r) => r.unit));
    await waitFor('an accepted result for every good unit', () => GOOD.every((u) => accepted().has(u)) || undefined, 120_000);
    const workers = new Set(results.map((r) => r.worker));
    expect(workers.size, 'only the browser computed').toBe(1);
    const browserKey = [...workers][0]!;
    for (const unit of GOOD) {
      expect(results.some((r) => r.unit === unit && r.worker === browserKey && r.status === 'accepted'), `unit ${unit} accepted from the browser`).toBe(true);
    }

    // Both looping units were handed to the browser and their leases ran out
    // with no result: the tasker heard nothing for them.
    const assignedUnits = () => new Set(log.filter((l) => l.event === 'assigned').flatMap((l) => l.units as number[]));
    const expiredUnits = () => new Set(log.filter((l) => l.event === 'leases-expired').flatMap((l) => l.units as number[]));
    await waitFor('both looping units to be assigned to the browser', () => [...LOOPING].every((u) => assignedUnits().has(u)) || undefined, 60_000);
    await waitFor('the leases of both looping units to expire', () => [...LOOPING].every((u) => expiredUnits().has(u)) || undefined, 60_000);
    // The browser's pool killed them: its engine counts failed units.
    const lastStatus = await waitFor(
      'the engine to count two killed units',
      async () => {
        const status = await within(ANSWER_MS, 'the offscreen page', ext!.engineStatus());
        return status && status.units.failed >= LOOPING.size ? status : undefined;
      },
      30_000,
    );
    expect(lastStatus.units.computed).toBe(GOOD.length);
    expect(results.filter((r) => LOOPING.has(r.unit)), 'no result for a looping unit').toEqual([]);

    await popupLooks.stop();
    await offscreenLooks.stop();

    // The popup and the offscreen page answered every look, within ANSWER_MS.
    const failedLooks = [...popupLooks.samples, ...offscreenLooks.samples].filter((s) => s.error);
    expect(failedLooks.map((s) => s.error)).toEqual([]);
    expect(popupLooks.samples.length).toBeGreaterThan(10);

    // Find the kills: between two offscreen looks the failed count went up. A
    // killed unit had been running for unitTimeMs before its kill, so it was
    // certainly running from (the later look's answer − unitTimeMs) to (the
    // earlier look's question). Popup looks wholly inside such a window were
    // answered while a looping unit ran.
    const windows: Array<[number, number]> = [];
    const looks = offscreenLooks.samples.filter((s) => s.value);
    for (let i = 1; i < looks.length; i++) {
      if (looks[i]!.value!.units.failed > looks[i - 1]!.value!.units.failed) {
        const from = looks[i]!.answered - UNIT_TIME_MS;
        const to = looks[i - 1]!.sent;
        if (to > from) windows.push([from, to]);
      }
    }
    expect(windows.length, 'at least one kill was seen between two offscreen looks').toBeGreaterThan(0);
    const duringLoop = popupLooks.samples.filter((s) => windows.some(([from, to]) => s.sent >= from && s.answered <= to));
    trace.push(`kill windows: ${JSON.stringify(windows)}; popup looks answered inside them: ${duringLoop.length}`);
    expect(duringLoop.length, 'the popup answered while a looping unit ran').toBeGreaterThan(0);

    // The status text kept moving, and the computed count only ever climbed,
    // to every good unit. (Not "more than one count": when the looping units
    // come last, every good unit can be done before the popup's first look at
    // a count.)
    const texts = popupLooks.samples.map((s) => s.value).filter((t): t is string => typeof t === 'string');
    expect(new Set(texts).size, 'the popup showed more than one status').toBeGreaterThan(1);
    const counts = texts
      .map((t) => new RegExp(`^Sharing — computing ${TASK_NAME}, (\\d+)/${UNITS} units$`).exec(t)?.[1])
      .filter((c): c is string => c !== undefined)
      .map(Number);
    expect(counts.length, 'the popup showed the computed count').toBeGreaterThan(0);
    expect(counts, 'the count never went back').toEqual([...counts].sort((a, b) => a - b));
    await waitFor(
      'the popup to show every good unit computed',
      async () => ((await within(ANSWER_MS, 'the popup', statusText(popup))) === `Sharing — computing ${TASK_NAME}, ${GOOD.length}/${UNITS} units` ? true : undefined),
      10_000,
    );

    // The offscreen document is still the same live page, and its engine still reports.
    expect(offscreen.isClosed()).toBe(false);
    const alive = await within(ANSWER_MS, 'the offscreen page', offscreen.evaluate(() => ({ sum: 1 + 1, href: location.href })));
    expect(alive.sum).toBe(2);
    expect(alive.href).toMatch(/offscreen\.html$/);
    const reported = await within(ANSWER_MS, 'the offscreen page', ext!.engineStatus());
    expect(reported?.task?.name).toBe(TASK_NAME);
  }, 300_000);
});

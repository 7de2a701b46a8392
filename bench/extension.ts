// How fast the extension runs Wasm units compared with Node's runner, measured
// side by side in one run on the same spin task: first run-local on one Node
// worker thread, then the extension in Debian's Chromium on one Web Worker,
// fetching the same task from a tasker on a private loopback network.

import { rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { runLocal } from '../tasker/local-run.ts';
import { loadTaskDir } from '../tasker/task-dir.ts';
import { nodeUnitPool } from '../units/node/node-thread.ts';
import { launchWithExtension, statusText, waitFor } from '../testnet/extension-browser.ts';
import type { ExtensionBrowser } from '../testnet/extension-browser.ts';
import { toHex } from '../protocol/bytes.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { Mesh } from '../testnet/mesh.ts';
import { calibrateSpin, makeSpinTask, warm } from './bench-task.ts';
import type { Figure } from './results-file.ts';

/** Results the browser sends before the clock counts: thread start-up and the Wasm tiers warming. */
const WARM_UP = 2;

const round = (n: number, places = 3) => Math.round(n * 10 ** places) / 10 ** places;

export async function benchExtensionWasm(units = 192, unitMs = 60): Promise<Record<string, Figure>> {
  const cores = cpus().length;
  const spin = await calibrateSpin(unitMs);
  const dir = await makeSpinTask({ units, spin, replication: 1, canaryRate: 0, sampleRate: 0 });
  let ext: ExtensionBrowser | undefined;
  let mesh: Mesh | undefined;
  try {
    // ---- Node: run-local on one warmed thread ------------------------------
    const pool = nodeUnitPool(1 / cores);
    let node: { busyMs: number; wallMs: number };
    try {
      await warm(pool, dir);
      node = await runLocal(nodeCrypto, await loadTaskDir(nodeCrypto, dir), pool);
    } finally {
      await pool.stop();
    }

    // ---- the extension and a Node worker side by side on the same task ------
    // Both share the machine with the tasker and Chromium at the same moment,
    // so the ratio compares the two Wasm engines, not who ran on a quieter CPU.
    ext = await launchWithExtension();
    mesh = await Mesh.start();
    // Fresh keys' first units would be recomputed by the tasker, on the same two cores: this compares engines, not the policy.
    const session = await mesh.publish(dir, { defence: { matureAfter: 0 } });
    // The run time each result reports (the worker's in-thread busy time,
    // rounded up to a millisecond) reaches the tasker only as an argument of
    // Coordinator.submit: record it there, in the order results arrive.
    const runs: Array<{ worker: string; unit: number; runMs: number; at: number }> = [];
    const coordinator = session.coordinator;
    const submit = coordinator.submit.bind(coordinator);
    coordinator.submit = (worker, lease, unit, hash, runMs) => {
      runs.push({ worker, unit, runMs, at: performance.now() });
      return submit(worker, lease, unit, hash, runMs);
    };
    const accepted = new Set<number>();
    session.on('verdict', (r) => r.status === 'accepted' && accepted.add(r.unit));

    const popup = await ext.openPopup();
    const browserCores = await popup.evaluate(() => navigator.hardwareConcurrency || 1);
    // One Web Worker at full duty: 1 / cores of the machine (0.5 on two cores).
    const cpu = Math.max(0.1, Math.floor(100 / browserCores) / 100);
    const ws = mesh.trackers.filter((t) => t.startsWith('ws'));
    await ext.setSettings({ magnet: session.magnet, relayUrl: '', trackerUrls: ws, cpu });
    await waitFor('the popup to say "Not sharing"', async () => ((await statusText(popup)) === 'Not sharing' ? true : undefined), 10_000);
    // The Node worker's thread is warmed first, and it joins once the browser
    // has sent its first result: the browser's handshake over WebRTC and its
    // Web Worker's start take longer than Node's, and a Node worker that joined
    // at once could take most units before the browser is computing.
    const nodePool = mesh.pool(1 / cores);
    await warm(nodePool, dir);
    await popup.click('label.switch');
    await waitFor('a first result from the browser', () => runs.length > 0 || undefined, 60_000);
    const nodeWorker = await mesh.worker(session.magnet, { pool: nodePool });
    const nodeKey = toHex(nodeWorker.identity.publicKey);
    await waitFor(`all ${units} units accepted from the browser`, () => accepted.size === units || undefined, 30_000 + units * unitMs * 20);
    const threads = await ext.engineStatus();

    // ---- figures -----------------------------------------------------------
    // Only the stretch when both sides compute at once counts: a side running
    // alone at the start or the end would have a core to itself.
    const browserRuns = runs.filter((r) => r.worker !== nodeKey);
    const nodeRuns = runs.filter((r) => r.worker === nodeKey);
    const from = Math.max(browserRuns[WARM_UP]?.at ?? Infinity, nodeRuns[WARM_UP]?.at ?? Infinity);
    const until = Math.min(browserRuns.at(-1)?.at ?? -Infinity, nodeRuns.at(-1)?.at ?? -Infinity);
    const together = (r: { at: number }) => r.at >= from && r.at <= until;
    const timed = browserRuns.filter(together);
    const nodeTimed = nodeRuns.filter(together);
    if (timed.length < 4 || nodeTimed.length < 4) throw new SpareCyclesError('INTERNAL', 'expected both the browser and the Node worker to compute units');
    const browserBusyMs = timed.reduce((sum, r) => sum + r.runMs, 0);
    const browserRate = timed.length / (browserBusyMs / 1000);
    const nodeSideMs = nodeTimed.reduce((sum, r) => sum + r.runMs, 0);
    const nodeRate = nodeTimed.length / (nodeSideMs / 1000);
    const nodeAloneRate = units / (node.busyMs / 1000);
    const browserWallRate = (timed.length - 1) / ((timed.at(-1)!.at - timed[0]!.at) / 1000);
    const nodeWallRate = units / (node.wallMs / 1000);
    const ratio = round(browserRate / nodeRate);
    const nodeAloneRatio = round(browserRate / nodeAloneRate);
    return {
      extension_wasm_ratio: {
        value: ratio,
        unit: 'extension units/s ÷ Node units/s',
        target: '>= 0.95',
        pass: ratio >= 0.95,
        browser_units_per_s: round(browserRate, 2),
        node_units_per_s: round(nodeRate, 2),
        browser_ms_per_unit: round(browserBusyMs / timed.length, 1),
        browser_ms_per_unit_min: Math.min(...timed.map((r) => r.runMs)),
        browser_ms_per_unit_max: Math.max(...timed.map((r) => r.runMs)),
        node_ms_per_unit: round(nodeSideMs / nodeTimed.length, 1),
        node_alone_ms_per_unit: round(node.busyMs / units, 1),
        ratio_vs_node_alone: nodeAloneRatio,
        wall_ratio: round(browserWallRate / nodeWallRate),
        browser_wall_units_per_s: round(browserWallRate, 2),
        node_wall_units_per_s: round(nodeWallRate, 2),
        units,
        timed_browser_units: timed.length,
        timed_node_units: nodeTimed.length,
        spin,
        cores,
        browser_threads: threads?.threads,
        browser_duty_cycle: threads?.dutyCycle,
        notes:
          `the same ${units}-unit spin task (slow.wat, ~${unitMs} ms a unit, replication 1, no canaries or samples), computed side by side by the extension and a Node worker, one thread each, at the same time. ` +
          'value: units per second of in-thread compute time, from the runMs each result reports (the busy time measured inside the unit thread), over the results that arrived while both sides were computing, after each side\'s first ' +
          `${WARM_UP}. ratio_vs_node_alone: the browser against run-local on one warmed thread with the machine otherwise idle, measured first. ` +
          'Extension: cpu = 1/hardwareConcurrency (one Web Worker at full duty). runMs is rounded up to whole ms on both sides. ' +
          `wall_ratio: wall-clock throughput instead — Node: units ÷ run-local wall time; extension: results per second between the first and the last of its timed results' arrivals, so it also pays each unit's trip to the tasker and back and the offscreen page's work.`,
      },
    };
  } finally {
    await ext?.close();
    await mesh?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

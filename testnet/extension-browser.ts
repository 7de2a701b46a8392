// The built extension in Debian's Chromium, for e2e tests and benchmarks:
// launches the browser with the extension loaded, finds its service worker,
// writes settings through it, opens the popup and the offscreen document,
// and asks the extension what it knows through its own runtime messages, as
// the popup does. The pattern of test/e2e/extension.test.ts, made reusable.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import type { Browser, Page, WebWorker } from 'puppeteer-core';
import type { EngineStatus, ExtensionMessage } from '../extension/lib/messages.ts';
import { defaultSettings } from '../extension/lib/settings.ts';
import type { Settings } from '../extension/lib/settings.ts';
import { askWallet } from '../extension/lib/wallet-messages.ts';
import type { WalletSummary } from '../extension/lib/wallet-messages.ts';
import { chromiumArgs } from './chromium.ts';
import { requireTool } from './tools.ts';
import { waitFor } from './wait.ts';
import { SpareCyclesError, TimeoutError } from '../protocol/errors.ts';

export { waitFor };

const ROOT = new URL('../', import.meta.url).pathname;
export const EXTENSION_DIR = `${ROOT}dist/extension/chrome-mv3`;

export interface ExtensionBrowser {
  browser: Browser;
  extensionId: string;
  /** The background service worker, for evaluating in it. */
  serviceWorker: WebWorker;
  /** Writes the settings: the defaults, then every earlier change, then this one. Returns what was written. */
  setSettings(partial: Partial<Omit<Settings, 'version'>>): Promise<Settings>;
  /** Opens popup.html in a new tab and waits until it has shown a status. */
  openPopup(): Promise<Page>;
  /** The offscreen document's page, once the background has created it. */
  offscreenPage(timeoutMs?: number): Promise<Page>;
  /**
   * Sends a runtime message from an extension page the helper keeps open
   * (options.html), as the popup and the options page do, and returns the
   * answer. The service worker cannot ask itself: its own messages never
   * reach its own listeners.
   */
  send(message: ExtensionMessage): Promise<unknown>;
  /** The offscreen document's engine status, asked now ('get-status'); null while there is no engine to answer. */
  engineStatus(): Promise<EngineStatus | null>;
  /** What the background's wallet holds, asked as the popup asks. */
  walletSummary(): Promise<WalletSummary>;
  close(): Promise<void>;
}

/** Rejects if `promise` has not settled within `ms`. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The popup's status line. */
export function statusText(popup: Page): Promise<string> {
  return popup.$eval('#status', (el) => el.textContent ?? '');
}

/** Builds the extension if there is no build yet. */
export function ensureExtensionBuilt(): void {
  if (!existsSync(`${EXTENSION_DIR}/manifest.json`)) execFileSync('npx', ['wxt', 'build'], { cwd: ROOT, stdio: 'ignore' });
}

/**
 * Builds the Chromium extension into `out` for a private network: it ships
 * with `relays` and `trackers` and knows nothing else (extension/lib/shipped-network.ts).
 * Returns the folder to load.
 */
export function buildExtensionFor(network: { relays: string[]; trackers: string[] }, out: string): string {
  execFileSync('npx', ['wxt', 'build'], {
    cwd: ROOT,
    stdio: 'ignore',
    env: { ...process.env, SPARECYCLES_RELAYS: network.relays.join(','), SPARECYCLES_TRACKERS: network.trackers.join(','), SPARECYCLES_EXTENSION_OUT: out },
  });
  return `${out}/chrome-mv3`;
}

type StorageGlobal = { chrome: { storage: { local: { set(v: unknown): Promise<void> } } } };
type RuntimeGlobal = { chrome: { runtime: { sendMessage(message: unknown): Promise<unknown> } } };

/** `dir`: a build of the extension other than the default one (buildExtensionFor). */
export async function launchWithExtension(options: { extraArgs?: string[]; dir?: string } = {}): Promise<ExtensionBrowser> {
  if (!options.dir) ensureExtensionBuilt();
  const dir = options.dir ?? EXTENSION_DIR;
  const browser = await puppeteer.launch({
    executablePath: await requireTool('chromium'),
    headless: true,
    pipe: true,
    args: chromiumArgs([`--disable-extensions-except=${dir}`, `--load-extension=${dir}`, ...(options.extraArgs ?? [])]),
  });
  try {
    const swTarget = await browser.waitForTarget((t) => t.type() === 'service_worker' && t.url().endsWith('/background.js'), {
      timeout: 20_000,
    });
    const extensionId = new URL(swTarget.url()).host;
    const serviceWorker = await swTarget.worker();
    if (!serviceWorker) throw new SpareCyclesError('INTERNAL', 'the extension service worker has no worker handle');
    let current: Settings = defaultSettings();
    let messenger: Promise<Page> | undefined;
    const send = async (message: ExtensionMessage): Promise<unknown> => {
      messenger ??= (async () => {
        // A window of its own, opened behind: a new tab would hide the test's
        // page, and a hidden page stops rendering, so clicks in it never land.
        const page = await browser.newPage({ type: 'window', background: true });
        await page.goto(`chrome-extension://${extensionId}/options.html`);
        return page;
      })();
      return (await messenger).evaluate((m) => (globalThis as unknown as RuntimeGlobal).chrome.runtime.sendMessage(m), message);
    };

    return {
      browser,
      extensionId,
      serviceWorker,
      async setSettings(partial) {
        current = { ...current, ...partial, version: current.version };
        await serviceWorker.evaluate((s) => (globalThis as unknown as StorageGlobal).chrome.storage.local.set({ settings: s }), current);
        return current;
      },
      async openPopup() {
        const popup = await browser.newPage();
        await popup.setViewport({ width: 380, height: 720 });
        await popup.goto(`chrome-extension://${extensionId}/popup.html`);
        await waitFor('the popup to show a status', async () => ((await statusText(popup)) !== 'Loading…' ? true : undefined), 10_000);
        return popup;
      },
      async offscreenPage(timeoutMs = 30_000) {
        const target = await browser.waitForTarget((t) => t.url().endsWith('/offscreen.html'), { timeout: timeoutMs });
        return target.asPage();
      },
      send,
      async engineStatus() {
        // With no offscreen document, nothing answers: Chromium rejects, or resolves with nothing.
        const status = await send({ target: 'offscreen', kind: 'get-status' }).catch(() => null);
        return (status ?? null) as EngineStatus | null;
      },
      walletSummary() {
        return askWallet(send, 'summary');
      },
      async close() {
        await browser.close();
      },
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

// The built extension in Debian's Chromium, for e2e tests and benchmarks:
// launches the browser with the extension loaded, finds its service worker,
// writes settings through it, and opens the popup and the offscreen document.
// The pattern of test/e2e/extension.test.ts, made reusable.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import type { Browser, Page, WebWorker } from 'puppeteer-core';
import { defaultSettings } from '../extension/lib/settings.ts';
import type { Settings } from '../extension/lib/settings.ts';
import { chromiumArgs } from './chromium.ts';
import { requireTool } from './tools.ts';
import { waitFor } from './wait.ts';

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
  close(): Promise<void>;
}

/** Rejects if `promise` has not settled within `ms`. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
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

type StorageGlobal = { chrome: { storage: { local: { set(v: unknown): Promise<void> } } } };

export async function launchWithExtension(options: { extraArgs?: string[] } = {}): Promise<ExtensionBrowser> {
  ensureExtensionBuilt();
  const browser = await puppeteer.launch({
    executablePath: await requireTool('chromium'),
    headless: true,
    pipe: true,
    args: chromiumArgs([`--disable-extensions-except=${EXTENSION_DIR}`, `--load-extension=${EXTENSION_DIR}`, ...(options.extraArgs ?? [])]),
  });
  try {
    const swTarget = await browser.waitForTarget((t) => t.type() === 'service_worker' && t.url().endsWith('/background.js'), {
      timeout: 20_000,
    });
    const extensionId = new URL(swTarget.url()).host;
    const serviceWorker = await swTarget.worker();
    if (!serviceWorker) throw new Error('the extension service worker has no worker handle');
    let current: Settings = defaultSettings();

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
      async close() {
        await browser.close();
      },
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

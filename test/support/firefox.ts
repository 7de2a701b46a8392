// The built Firefox extension (dist/extension/firefox-mv2) in Debian's
// firefox-esr, for e2e tests: puppeteer-core drives Firefox over WebDriver
// BiDi, installs the extension as a temporary add-on, and opens its pages.
// Firefox's background page is not a BiDi target, so the tests reach it from
// an extension page with runtime.getBackgroundPage() (MV2).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import type { Browser, Page } from 'puppeteer-core';
import { defaultSettings } from '../../extension/lib/settings.ts';
import type { Settings } from '../../extension/lib/settings.ts';
import { requireTool } from '../../testnet/tools.ts';
import { waitFor } from '../../testnet/wait.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
export const FIREFOX_EXTENSION_DIR = `${ROOT}dist/extension/firefox-mv2`;
/** browser_specific_settings.gecko.id in wxt.config.ts. */
export const ADDON_ID = 'sparecycles@sparecycles.invalid';
/** Pinned through `extensions.webextensions.uuids`, so the tests know the moz-extension:// origin. */
const ADDON_UUID = '5a7ec7c1-e5c0-4e5f-9a11-000000000001';
export const EXTENSION_ORIGIN = `moz-extension://${ADDON_UUID}`;

export interface FirefoxExtension {
  browser: Browser;
  /** An extension page (options.html) kept open to reach storage and the background page from. */
  console: Page;
  /** Writes the settings: the defaults, then every earlier change, then this one. Returns what was written. */
  setSettings(partial: Partial<Omit<Settings, 'version'>>): Promise<Settings>;
  /** Evaluates `fn` on the background page's window (runtime.getBackgroundPage()). */
  inBackground<T>(fn: (background: Record<string, unknown>) => T | Promise<T>): Promise<T>;
  /** Opens popup.html in a new tab and waits until it has shown a status. */
  openPopup(): Promise<Page>;
  close(): Promise<void>;
}

/** Builds the Firefox extension if there is no build yet. */
export function ensureFirefoxBuilt(): void {
  if (!existsSync(`${FIREFOX_EXTENSION_DIR}/manifest.json`)) {
    execFileSync('npx', ['wxt', 'build', '-b', 'firefox'], { cwd: ROOT, stdio: 'ignore' });
  }
}

/**
 * Opens an extension page. WebDriver BiDi refuses to navigate to
 * moz-extension:// unless the browser runs with --remote-allow-system-access,
 * and puppeteer's goto never sees such a load finish: navigate, then wait for
 * the document itself.
 */
async function openExtensionPage(browser: Browser, path: string): Promise<Page> {
  const page = await browser.newPage();
  const url = `${EXTENSION_ORIGIN}/${path}`;
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 3000 }).catch(() => {});
  await waitFor(`${path} to load`, async () => {
    const state = await page.evaluate(() => [location.href, document.readyState] as const).catch(() => undefined);
    return state && state[0] === url && state[1] === 'complete' ? true : undefined;
  }, 15_000, 100);
  return page;
}

type ExtensionGlobal = {
  browser: {
    storage: { local: { set(v: unknown): Promise<void> } };
    runtime: { getBackgroundPage(): Promise<Record<string, unknown>> };
  };
};

export async function launchFirefoxWithExtension(): Promise<FirefoxExtension> {
  ensureFirefoxBuilt();
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: await requireTool('firefox-esr'),
    headless: true,
    args: ['--remote-allow-system-access'],
    extraPrefsFirefox: {
      'extensions.webextensions.uuids': JSON.stringify({ [ADDON_ID]: ADDON_UUID }),
    },
  });
  try {
    await browser.installExtension(FIREFOX_EXTENSION_DIR);
    const consolePage = await openExtensionPage(browser, 'options.html');
    let current: Settings = defaultSettings();
    return {
      browser,
      console: consolePage,
      async setSettings(partial) {
        current = { ...current, ...partial, version: current.version };
        await consolePage.evaluate((s) => (globalThis as unknown as ExtensionGlobal).browser.storage.local.set({ settings: s }), current);
        return current;
      },
      async inBackground<T>(fn: (background: Record<string, unknown>) => T | Promise<T>): Promise<T> {
        // The function runs in the extension page's realm (no eval there: the CSP forbids it) and is handed the background window.
        const background = await consolePage.evaluateHandle(() => (globalThis as unknown as ExtensionGlobal).browser.runtime.getBackgroundPage());
        try {
          return (await background.evaluate(fn as (b: Record<string, unknown>) => unknown)) as T;
        } finally {
          await background.dispose();
        }
      },
      async openPopup() {
        const popup = await openExtensionPage(browser, 'popup.html');
        await popup.setViewport({ width: 380, height: 720 });
        await waitFor('the popup to show a status', async () => {
          const text = await popup.$eval('#status', (el) => el.textContent ?? '').catch(() => 'Loading…');
          return text !== 'Loading…' ? true : undefined;
        }, 10_000);
        return popup;
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

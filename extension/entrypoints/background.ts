// The background: wiring only. The logic is in lib/background-controller.ts
// (state machine, settings, the engine's transport) and lib/wallet-service.ts
// (the wallet, in storage.local); this file connects them to the browser's
// APIs. main() is synchronous, as WXT requires.
//
// Where the engine runs is chosen when the extension is built: Chromium's
// service worker opens an offscreen document (lib/offscreen-transport.ts);
// Firefox's background is a persistent page with a DOM and runs the engine
// itself (lib/in-page-transport.ts, lib/background-engine.ts). The Firefox
// branch is dropped from the Chromium bundle.

// First, for its side effect in Firefox: WebTorrent, bundled into this page there, must find the requestIdleCallback stand-in.
import '../lib/page-idle-callback.ts';
import { browser } from 'wxt/browser';
import { defineBackground } from 'wxt/utils/define-background';
import { BackgroundController } from '../lib/background-controller.ts';
import type { EngineTransport } from '../lib/engine-transport.ts';
import { loadOrCreateSeed } from '../lib/identity-store.ts';
import { InPageTransport } from '../lib/in-page-transport.ts';
import { isMessageFor } from '../lib/messages.ts';
import { offscreenTransport } from '../lib/offscreen-transport.ts';
import { SETTINGS_KEY, loadSettings, migrateSettings } from '../lib/settings.ts';
import { WalletService } from '../lib/wallet-service.ts';
import { keepExported, storageWalletStore } from '../lib/wallet-store.ts';
import { Wallet } from '../../worker/wallet.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import type { GuardStore } from '../../net/relay-view.ts';
import { StealthMints } from '../lib/stealth-mints.ts';
import { storageGuardStore } from '../lib/stealth-routes.ts';

const OFFSCREEN_URL = 'offscreen.html';
const IDLE_SECONDS = 60;

function engineTransport(wallet: WalletService, guardStore: GuardStore, log: (message: string, error?: unknown) => void): EngineTransport {
  if (import.meta.env.FIREFOX) {
    const deps = { earnings: wallet.earnings(), guardStore, warn: (error: Error) => log(error.message) };
    // Imported here, not at the top, so that none of it reaches the Chromium bundle.
    return new InPageTransport(async (report) => (await import('../lib/background-engine.ts')).startBackgroundEngine(deps, report));
  }
  return offscreenTransport({
    offscreen: (browser as { offscreen?: typeof browser.offscreen }).offscreen,
    sendMessage: (message) => browser.runtime.sendMessage(message),
    url: OFFSCREEN_URL,
  });
}

function watchBattery(controller: BackgroundController): void {
  const nav = globalThis.navigator as Navigator & { getBattery?: () => Promise<EventTarget & { charging: boolean }> };
  // Service workers have no Battery API (the offscreen document reports it instead), nor has Firefox.
  if (typeof nav?.getBattery !== 'function') return;
  void nav.getBattery().then((battery) => {
    const update = () => controller.conditionsChanged({ onAc: battery.charging });
    update();
    battery.addEventListener('chargingchange', update);
  }, () => {});
}

function watchIdle(controller: BackgroundController): void {
  if (!browser.idle) return;
  browser.idle.setDetectionInterval(IDLE_SECONDS);
  browser.idle.onStateChanged.addListener((state) => controller.conditionsChanged({ idle: state !== 'active' }));
  void browser.idle.queryState(IDLE_SECONDS).then((state) => controller.conditionsChanged({ idle: state !== 'active' }));
}

function walletService(area: typeof browser.storage.local, guardStore: GuardStore, log: (message: string, error?: unknown) => void): WalletService {
  const store = storageWalletStore(area);
  const mints = new StealthMints({ backend: nobleCrypto, loadSettings: () => loadSettings(area), guardStore });
  return new WalletService({
    openWallet: () => Wallet.open(store),
    mintAccess: (url, purpose) => mints.access(url, purpose),
    redeemAccount: async () => (await loadSettings(area)).redeemAccount,
    keepExport: (tokens) => keepExported(area, tokens),
    log,
  });
}

function main(): void {
  const area = browser.storage.local;
  const log = (message: string, error?: unknown) => console.warn(`[sparecycles] ${message}`, error ?? '');
  const guard = storageGuardStore(area);
  const wallet = walletService(area, guard, log);
  const controller = new BackgroundController({
    loadSettings: () => loadSettings(area),
    loadSeed: () => loadOrCreateSeed(area, (n) => crypto.getRandomValues(new Uint8Array(n))),
    engine: engineTransport(wallet, guard, log),
    guard,
    log,
  });

  browser.storage.onChanged.addListener((changes, areaName) => {
    const change = changes[SETTINGS_KEY];
    if (areaName !== 'local' || !change) return;
    void controller.settingsChanged(migrateSettings(change.newValue));
  });

  browser.runtime.onMessage.addListener((message: unknown, _sender, sendResponse: (reply: unknown) => void) => {
    if (isMessageFor(message, 'wallet')) {
      // handle() never rejects: a refusal is a reply of its own.
      void wallet.handle(message).then(sendResponse);
      return true;
    }
    if (!isMessageFor(message, 'background')) return false;
    controller.handle(message).then(sendResponse, (error: unknown) => sendResponse({ error: String(error) }));
    return true;
  });

  watchIdle(controller);
  watchBattery(controller);
}

// Firefox (MV2): a persistent background page, never unloaded while the
// engine runs. Chromium's MV3 service worker ignores this.
export default defineBackground({ persistent: true, main });

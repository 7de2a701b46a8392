// The background: wiring only. The logic is in lib/background-controller.ts
// (state machine, settings, offscreen document) and lib/wallet-service.ts
// (the wallet, in storage.local); this file connects them to the browser's
// APIs. main() is synchronous, as WXT requires.

import { browser } from 'wxt/browser';
import { defineBackground } from 'wxt/utils/define-background';
import { BackgroundController } from '../lib/background-controller.ts';
import type { BackgroundDeps } from '../lib/background-controller.ts';
import { loadOrCreateSeed } from '../lib/identity-store.ts';
import { isMessageFor } from '../lib/messages.ts';
import { SETTINGS_KEY, loadSettings, migrateSettings } from '../lib/settings.ts';
import { WalletService } from '../lib/wallet-service.ts';
import { keepExported, storageWalletStore } from '../lib/wallet-store.ts';
import { Wallet } from '../../worker/wallet.ts';

const OFFSCREEN_URL = 'offscreen.html';
const IDLE_SECONDS = 60;

function offscreenDeps(): Pick<BackgroundDeps, 'openOffscreen' | 'closeOffscreen'> {
  const offscreen = (browser as { offscreen?: typeof browser.offscreen }).offscreen;
  return {
    async openOffscreen() {
      if (!offscreen) throw new Error('this browser has no offscreen documents; sharing needs Chrome or Chromium for now');
      if (await offscreen.hasDocument()) return 'existing';
      await offscreen.createDocument({
        url: OFFSCREEN_URL,
        reasons: ['WORKERS', 'WEB_RTC'],
        justification: 'Runs SpareCycles task units in Web Workers and talks to task peers over WebRTC.',
      });
      return 'created';
    },
    async closeOffscreen() {
      if (offscreen && (await offscreen.hasDocument())) await offscreen.closeDocument();
    },
  };
}

function watchBattery(controller: BackgroundController): void {
  const nav = globalThis.navigator as Navigator & { getBattery?: () => Promise<EventTarget & { charging: boolean }> };
  // Service workers have no Battery API; the offscreen document reports it instead.
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

function walletService(area: typeof browser.storage.local, log: (message: string, error?: unknown) => void): WalletService {
  const store = storageWalletStore(area);
  return new WalletService({
    openWallet: () => Wallet.open(store),
    redeemAccount: async () => (await loadSettings(area)).redeemAccount,
    keepExport: (tokens) => keepExported(area, tokens),
    log,
  });
}

function main(): void {
  const area = browser.storage.local;
  const log = (message: string, error?: unknown) => console.warn(`[sparecycles] ${message}`, error ?? '');
  const wallet = walletService(area, log);
  const controller = new BackgroundController({
    loadSettings: () => loadSettings(area),
    loadSeed: () => loadOrCreateSeed(area, (n) => crypto.getRandomValues(new Uint8Array(n))),
    sendToOffscreen: async (message) => void (await browser.runtime.sendMessage(message)),
    log,
    ...offscreenDeps(),
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
  // For inspection from DevTools and the e2e tests.
  (globalThis as { sparecyclesWallet?: WalletService }).sparecyclesWallet = wallet;

  watchIdle(controller);
  watchBattery(controller);
}

export default defineBackground(main);

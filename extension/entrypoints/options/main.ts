// The options page: network endpoints, limits, "compute this magnet", and the
// account credits are redeemed to.
// Each form is validated as a whole by lib/settings.ts before it is saved.

import { browser } from 'wxt/browser';
import { SettingsError, droppedSettingsText, loadSettingsChecked, saveSettings } from '../../lib/settings.ts';
import type { Settings, SettingsPatch } from '../../lib/settings.ts';

function input(id: string): HTMLInputElement {
  return document.getElementById(id) as HTMLInputElement;
}

function say(text: string, ok: boolean): void {
  const message = document.getElementById('message')!;
  message.textContent = text;
  message.className = ok ? 'ok' : 'error';
}

function show(settings: Settings): void {
  (document.getElementById('trackers') as HTMLTextAreaElement).value = settings.trackerUrls.join('\n');
  input('relay').value = settings.relayUrl;
  input('mint').value = settings.mintUrl;
  input('max-peers').value = String(settings.maxPeerConnections);
  input('magnet').value = settings.magnet;
  input('redeem-account').value = settings.redeemAccount;
  input('stealth-delay').value = String(settings.stealthDelayMs / 1000);
}

function save(patch: SettingsPatch, done: string): void {
  saveSettings(browser.storage.local, patch).then(
    (settings) => {
      show(settings);
      say(done, true);
    },
    (error: unknown) => say(error instanceof SettingsError ? `Not saved. ${error.message}` : `Not saved: ${String(error)}`, false),
  );
}

function main(): void {
  void loadSettingsChecked(browser.storage.local).then(({ settings, dropped }) => {
    show(settings);
    // A stored value that no longer validates (an account saved when any text was taken) reads as unset: say so.
    if (dropped.length) say(droppedSettingsText(dropped), false);
  });
  document.getElementById('network')!.addEventListener('submit', (e) => {
    e.preventDefault();
    const trackers = (document.getElementById('trackers') as HTMLTextAreaElement).value
      .split(/\s+/)
      .filter((t) => t !== '');
    save(
      { trackerUrls: trackers, relayUrl: input('relay').value, mintUrl: input('mint').value, maxPeerConnections: Number(input('max-peers').value) },
      'Network settings saved.',
    );
  });
  document.getElementById('task')!.addEventListener('submit', (e) => {
    e.preventDefault();
    save({ magnet: input('magnet').value }, 'Saved: switch sharing on in the popup to compute this task.');
  });
  document.getElementById('credits')!.addEventListener('submit', (e) => {
    e.preventDefault();
    save(
      { redeemAccount: input('redeem-account').value, stealthDelayMs: Math.round(Number(input('stealth-delay').value) * 1000) },
      'Saved: "Redeem to account" in the popup pays into this account.',
    );
  });
  document.getElementById('clear-magnet')!.addEventListener('click', () => save({ magnet: '' }, 'Magnet cleared.'));
}

main();

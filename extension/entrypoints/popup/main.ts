// The popup: shows the state in words and lets the volunteer switch sharing
// and set the CPU share. Settings are written to storage; the background
// follows them. The status and the wallet's balance come from the background
// once a second; the credits section is ./credits.ts.

import { browser } from 'wxt/browser';
import type { StatusView, ToBackground } from '../../lib/messages.ts';
import { SETTINGS_KEY, loadSettings, saveSettings } from '../../lib/settings.ts';
import type { Settings, SettingsPatch } from '../../lib/settings.ts';
import { describeCpu, describeStatus, describeStealth, progressOf } from '../../lib/status-text.ts';
import { CreditsView } from './credits.ts';
import { SHIPPED_RELAYS } from '../../lib/shipped-network.ts';

function el<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

const cores = navigator.hardwareConcurrency || 1;
let credits: CreditsView | undefined;

function showSettings(settings: Settings): void {
  credits?.setAccount(settings.redeemAccount);
  el<HTMLInputElement>('sharing').checked = settings.sharing;
  el<HTMLInputElement>('cpu').value = String(Math.round(settings.cpu * 100));
  el('cpu-value').textContent = `${Math.round(settings.cpu * 100)}%`;
  el('cpu-detail').textContent = describeCpu(settings.cpu, cores);
  el<HTMLInputElement>('only-ac').checked = settings.onlyOnAc;
  el<HTMLInputElement>('only-idle').checked = settings.onlyWhenIdle;
  // Stealth mode draws its routes from a view of the relays: without one to start from there is nothing to switch on.
  const stealth = el<HTMLInputElement>('stealth');
  stealth.checked = settings.stealth;
  stealth.disabled = !settings.relayUrl && SHIPPED_RELAYS.length === 0 && !settings.stealth;
  el('stealth-label').classList.toggle('disabled', stealth.disabled);
  el('stealth-detail').textContent = describeStealth(settings, SHIPPED_RELAYS);
}

function showStatus(view: StatusView): void {
  const status = el('status');
  status.textContent = describeStatus(view);
  status.className = `status ${view.phase}`;
  const engine = view.engine;
  el('task-name').textContent = engine?.task ? `${engine.task.name} (${engine.task.units} units)` : '—';
  el<HTMLProgressElement>('progress').value = progressOf(view);
  el('done').textContent = String(engine?.units.computed ?? 0);
  el('accepted').textContent = String(engine?.units.accepted ?? 0);
  el('rejected').textContent = String(engine?.units.rejected ?? 0);
  el('running').textContent = String(engine?.units.running ?? 0);
}

async function refresh(): Promise<void> {
  const message: ToBackground = { target: 'background', kind: 'get-status' };
  const view = (await browser.runtime.sendMessage(message)) as StatusView | undefined;
  if (view && 'phase' in view) showStatus(view);
}

function save(patch: SettingsPatch): void {
  saveSettings(browser.storage.local, patch).then(showSettings, (error: unknown) => {
    el('status').textContent = `Could not save: ${String(error)}`;
  });
}

function main(): void {
  const area = browser.storage.local;
  credits = new CreditsView();
  void loadSettings(area).then(showSettings);
  el<HTMLInputElement>('sharing').addEventListener('change', (e) => save({ sharing: (e.target as HTMLInputElement).checked }));
  const cpu = el<HTMLInputElement>('cpu');
  cpu.addEventListener('input', () => {
    const fraction = Number(cpu.value) / 100;
    el('cpu-value').textContent = `${cpu.value}%`;
    el('cpu-detail').textContent = describeCpu(fraction, cores);
  });
  cpu.addEventListener('change', () => save({ cpu: Number(cpu.value) / 100 }));
  el<HTMLInputElement>('only-ac').addEventListener('change', (e) => save({ onlyOnAc: (e.target as HTMLInputElement).checked }));
  el<HTMLInputElement>('only-idle').addEventListener('change', (e) => save({ onlyWhenIdle: (e.target as HTMLInputElement).checked }));
  el<HTMLInputElement>('stealth').addEventListener('change', (e) => save({ stealth: (e.target as HTMLInputElement).checked }));
  el('open-options').addEventListener('click', (e) => {
    e.preventDefault();
    void browser.runtime.openOptionsPage();
  });
  browser.storage.onChanged.addListener((changes, areaName) => {
    if (areaName === 'local' && changes[SETTINGS_KEY]) void loadSettings(area).then(showSettings);
  });
  const tick = () => {
    void refresh().catch(() => {});
    void credits?.refresh().catch((error: unknown) => {
      el('holding').textContent = `The wallet did not answer: ${error instanceof Error ? error.message : String(error)}`;
    });
  };
  tick();
  setInterval(tick, 1000);
}

main();

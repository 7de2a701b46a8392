// The popup's credits section: the wallet's balance (per mint when there are
// several), "Redeem to account" and "Export as token". The wallet lives in
// the background; this asks it by runtime messages (lib/wallet-messages.ts)
// and words the answers with lib/credits-text.ts. The last export is kept in
// storage until the volunteer clears it.

import { browser } from 'wxt/browser';
import {
  describeBalance,
  describeExport,
  describeHolding,
  describeMint,
  describeRedeem,
  exportText,
  redeemLabel,
} from '../../lib/credits-text.ts';
import { askWallet } from '../../lib/wallet-messages.ts';
import type { ToWallet, WalletSummary } from '../../lib/wallet-messages.ts';
import { EXPORTED_KEY, readExported } from '../../lib/wallet-store.ts';
import { SpareCyclesError } from '../../../protocol/errors.ts';

function el<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

const send = (message: ToWallet) => browser.runtime.sendMessage(message);

export class CreditsView {
  private account = '';
  private summary: WalletSummary | undefined;
  private busy = false;

  constructor() {
    el('redeem').addEventListener('click', () => void this.redeem());
    el('export').addEventListener('click', () => void this.export());
    el('copy-token').addEventListener('click', () => void this.copy());
    el('clear-token').addEventListener('click', () => void this.clearExport());
    void this.showExport();
    browser.storage.onChanged.addListener((changes, areaName) => {
      if (areaName === 'local' && changes[EXPORTED_KEY]) void this.showExport();
    });
  }

  /** The account from the settings, for the redeem button. */
  setAccount(account: string): void {
    this.account = account;
    this.render();
  }

  async refresh(): Promise<void> {
    this.summary = await askWallet(send, 'summary');
    this.render();
  }

  private render(): void {
    const summary = this.summary;
    if (summary) {
      el('balance').textContent = describeBalance(summary);
      el('holding').textContent = describeHolding(summary);
      const list = el('mints');
      const lines = summary.mints.length > 1 ? summary.mints.map(describeMint) : [];
      if (list.dataset.lines !== JSON.stringify(lines)) {
        list.dataset.lines = JSON.stringify(lines);
        list.replaceChildren(...lines.map((line) => Object.assign(document.createElement('li'), { textContent: line })));
      }
      list.hidden = lines.length === 0;
    }
    const empty = (summary?.total ?? 0) === 0;
    const redeem = el<HTMLButtonElement>('redeem');
    redeem.textContent = redeemLabel(this.account);
    // With no account the button opens the settings, so it stays usable.
    redeem.disabled = this.busy || (this.account !== '' && empty);
    el<HTMLButtonElement>('export').disabled = this.busy || empty;
  }

  private say(text: string, ok: boolean): void {
    const message = el('credits-message');
    message.textContent = text;
    message.className = ok ? 'detail' : 'detail error';
  }

  private async act(what: () => Promise<string>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.render();
    try {
      this.say(await what(), true);
    } catch (error) {
      this.say(error instanceof Error ? error.message : String(error), false);
    } finally {
      this.busy = false;
      await this.refresh().catch(() => this.render());
    }
  }

  private async redeem(): Promise<void> {
    if (this.account === '') {
      await browser.runtime.openOptionsPage();
      return;
    }
    await this.act(async () => {
      this.say(`Redeeming to “${this.account}”…`, true);
      const outcome = await askWallet(send, 'redeem');
      const text = describeRedeem(outcome);
      if (outcome.mints.some((m) => m.error)) throw new SpareCyclesError('MINT', text);
      return text;
    });
  }

  private async export(): Promise<void> {
    await this.act(async () => {
      const outcome = await askWallet(send, 'export');
      if (outcome.tokens.length > 0) await this.showExport();
      const text = describeExport(outcome);
      if (outcome.errors.length > 0) throw new SpareCyclesError('MINT', text);
      return text;
    });
  }

  private async showExport(): Promise<void> {
    const stored = readExported((await browser.storage.local.get(EXPORTED_KEY))[EXPORTED_KEY]);
    el<HTMLTextAreaElement>('token').value = stored ? exportText(stored.tokens) : '';
    el('exported').hidden = !stored;
  }

  private async copy(): Promise<void> {
    const box = el<HTMLTextAreaElement>('token');
    box.select();
    try {
      await navigator.clipboard.writeText(box.value);
      this.say('Copied.', true);
    } catch {
      this.say('Could not copy: the text is selected, press Ctrl+C (⌘C).', false);
    }
  }

  private async clearExport(): Promise<void> {
    await browser.storage.local.remove(EXPORTED_KEY);
    await this.showExport();
    this.say('The exported token was cleared from this browser.', true);
  }
}

// The popup's words for the wallet, kept pure so the wording is tested.
// A balance is counted in credits; the wallet holds it as "notes", each one
// signed credit of one denomination (1, 2, 4, 8 …), as a purse holds coins.

import type { ExportOutcome, MintBalance, RedeemOutcome, WalletSummary } from './wallet-messages.ts';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A mint by its host, as people read it. */
export function mintName(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

export function describeBalance(summary: WalletSummary): string {
  return plural(summary.total, 'credit');
}

export function describeHolding(summary: WalletSummary): string {
  if (summary.error) return `The wallet cannot be read: ${summary.error}. It is left in storage as it is.`;
  if (summary.count === 0) return 'No credits yet: accepted units of paying tasks earn them.';
  return `held as ${plural(summary.count, 'note')}${summary.mints.length === 1 ? ` at ${mintName(summary.mints[0]!.mint)}` : ` at ${summary.mints.length} mints`}`;
}

export function describeMint(balance: MintBalance): string {
  return `${plural(balance.amount, 'credit')} (${plural(balance.count, 'note')}) at ${mintName(balance.mint)}`;
}

/** The redeem button: what it will do, or what is missing first. */
export function redeemLabel(account: string): string {
  return account === '' ? 'Redeem to account: set one in Settings first' : `Redeem to account “${account}”`;
}

export function describeRedeem(outcome: RedeemOutcome): string {
  if (outcome.mints.length === 0) return 'Nothing to redeem.';
  const redeemed = outcome.mints.reduce((s, m) => s + m.redeemed, 0);
  const parts = [`Redeemed ${plural(redeemed, 'credit')} to “${outcome.account}”.`];
  for (const m of outcome.mints) {
    if (m.dropped > 0) parts.push(`${mintName(m.mint)} reported ${plural(m.dropped, 'note')} spent already or invalid; they were dropped.`);
    if (m.error) parts.push(`${mintName(m.mint)}: ${m.error}`);
  }
  return parts.join(' ');
}

export function describeExport(outcome: ExportOutcome): string {
  const parts: string[] = [];
  if (outcome.tokens.length > 0) {
    const amount = outcome.tokens.reduce((s, t) => s + t.amount, 0);
    parts.push(
      `Exported ${plural(amount, 'credit')} as ${plural(outcome.tokens.length, 'token')}: they are no longer in this wallet. Copy the text below; whoever holds it can spend it.`,
    );
  } else if (outcome.errors.length === 0) {
    parts.push('Nothing to export.');
  }
  for (const e of outcome.errors) parts.push(`${mintName(e.mint)}: ${e.error}`);
  return parts.join(' ');
}

/** The tokens of an export, one per line, for the read-only text box. */
export function exportText(tokens: readonly { token: string }[]): string {
  return tokens.map((t) => t.token).join('\n');
}

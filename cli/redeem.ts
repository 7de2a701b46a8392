import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { MintClient } from '../net/mint-client.ts';
import { decodeToken, isTokenText } from '../protocol/credits/token.ts';
import { WalletFile } from '../worker/node/wallet-file.ts';
import { mintKey } from '../worker/wallet-data.ts';
import { Wallet, type RedeemTarget, type StoredCredit } from '../worker/wallet.ts';
import { UsageError } from './usage.ts';
import { reportingRefusals } from './wallet.ts';

export const usage = 'cycles redeem <wallet-or-token-file> --mint URL (--to KEY-HEX | --swap) [--wallet FILE]';

const total = (credits: readonly StoredCredit[]) => credits.reduce((a, c) => a + c.amount, 0);

/**
 * Redeems every credit of --mint in a wallet file, or the credits of a token
 * file. A token's credits pass through --wallet (the default wallet unless
 * named) on their way, so an interrupted redeem is sent again, as the same
 * request, by the next `cycles redeem`; a swap's fresh credits stay there.
 * Prints `redeemed N`, then `received N` (a swap) or `ACCOUNT BALANCE`
 * (--to), and `already-spent N` / `invalid N` for credits the mint refused
 * and the wallet dropped, in which case it exits 1.
 */
export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { mint: { type: 'string' }, to: { type: 'string' }, swap: { type: 'boolean' }, wallet: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('expected one wallet or token file');
  const source = positionals[0]!;
  if (!values.mint || !/^https?:\/\//.test(values.mint)) throw new UsageError("--mint: expected the mint's http(s):// URL");
  if ((values.to === undefined) === !values.swap) throw new UsageError('expected exactly one of --to ACCOUNT and --swap');
  // An account is a key: credits redeemed to a mere name could never be spent again.
  if (values.to !== undefined && !/^[0-9a-f]{64}$/.test(values.to)) {
    throw new UsageError('--to: expected an account, the lowercase hex of an ed25519 public key (64 digits)');
  }
  const target: RedeemTarget = values.to !== undefined ? { to: values.to } : { swap: true };

  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (error) {
    throw new UsageError(`${source}: cannot read it (${(error as Error).message})`);
  }

  return reportingRefusals(async () => {
    const client = new MintClient(values.mint!);
    let wallet: Wallet;
    let only: StoredCredit[] | undefined;
    if (isTokenText(text)) {
      const token = decodeToken(text);
      if (mintKey(token.mint) !== mintKey(client.url)) throw new UsageError(`${source}: the token is for ${token.mint}, not ${values.mint}`);
      wallet = await Wallet.open(new WalletFile(values.wallet));
      await wallet.importToken(text);
      const xs = new Set(token.credits.map((c) => Buffer.from(c.x).toString('hex')));
      only = wallet.list().filter((c) => xs.has(c.x));
    } else {
      if (values.wallet !== undefined) throw new UsageError(`--wallet goes with a token file; ${source} is a wallet`);
      wallet = await Wallet.open(new WalletFile(source));
    }

    const report = await wallet.redeem(client, target, only ? { only } : {});
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(`redeemed ${report.redeemed}`);
    if (values.to !== undefined) out(`${values.to} ${(await client.balance(values.to)) ?? 0}`);
    else out(`received ${report.received}`);
    if (report.spent.length) out(`already-spent ${total(report.spent)}`);
    if (report.invalid.length) out(`invalid ${total(report.invalid)}`);
    return report.spent.length || report.invalid.length ? 1 : 0;
  });
}

import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { fromHex, toHex } from '../protocol/bytes.ts';
import { hashToCurve } from '../protocol/credits/bdhke.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { decodeToken, isTokenText } from '../protocol/credits/token.ts';
import { WalletFile } from '../worker/node/wallet-file.ts';
import { Wallet } from '../worker/wallet.ts';
import { UsageError } from './usage.ts';

export const usage =
  'cycles wallet [--wallet FILE] (balance [--mint URL] | list | export [--amount N] [--mint URL] [--out FILE] | import TOKEN-OR-FILE)';

/**
 * Runs `f`, printing a wallet's or a mint's refusal, or a mint out of reach,
 * as `cycles: CODE: message` (exit status 1) rather than as a stack trace.
 * A usage error goes on to be printed with its usage.
 */
export async function reportingRefusals(f: () => Promise<number>): Promise<number> {
  try {
    return await f();
  } catch (error) {
    if (error instanceof SpareCyclesError && !(error instanceof UsageError)) {
      process.stderr.write(`cycles: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

export function parseAmount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const amount = Number(text);
  if (!Number.isSafeInteger(amount) || amount < 1) throw new UsageError(`--amount: expected a positive whole number, got ${text}`);
  return amount;
}

/** A token given on the command line, or the path of a file holding one. */
async function tokenText(arg: string): Promise<string> {
  if (isTokenText(arg)) return arg.trim();
  let text: string;
  try {
    text = await readFile(arg, 'utf8');
  } catch (error) {
    throw new UsageError(`import: ${arg} is neither a token nor a readable file (${(error as Error).message})`);
  }
  return text.trim();
}

/**
 * balance: `MINT AMOUNT` a line per mint, then `total AMOUNT` (with --mint, the amount alone).
 * list: `MINT KEYSET AMOUNT Y` a line per credit; Y is the credit's public hash, never its secret.
 * export: the token on stdout, or `AMOUNT FILE` once it is in --out.
 * import: `MINT AMOUNT` added.
 */
export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { wallet: { type: 'string' }, amount: { type: 'string' }, mint: { type: 'string' }, out: { type: 'string' } },
  });
  const [action, ...rest] = positionals;
  const wants = (allowed: string[]) => {
    for (const name of ['amount', 'mint', 'out'] as const) {
      if (values[name] !== undefined && !allowed.includes(name)) throw new UsageError(`--${name} does not go with ${action}`);
    }
  };
  if (values.mint !== undefined && !/^https?:\/\//.test(values.mint)) throw new UsageError("--mint: expected the mint's http(s):// URL");
  const amount = parseAmount(values.amount);
  const file = new WalletFile(values.wallet);
  const out = (line: string) => process.stdout.write(`${line}\n`);

  return reportingRefusals(async () => {
    switch (action) {
      case 'balance': {
        wants(['mint']);
        if (rest.length) throw new UsageError(`balance takes no arguments, got ${rest.join(' ')}`);
        const wallet = await Wallet.open(file);
        if (values.mint !== undefined) out(String(wallet.balance(values.mint)));
        else {
          for (const mint of wallet.mints()) out(`${mint} ${wallet.balance(mint)}`);
          out(`total ${wallet.balance()}`);
        }
        return 0;
      }
      case 'list': {
        wants([]);
        if (rest.length) throw new UsageError(`list takes no arguments, got ${rest.join(' ')}`);
        const wallet = await Wallet.open(file);
        for (const c of wallet.list()) out(`${c.mint} ${c.keyset} ${c.amount} ${toHex(hashToCurve(wallet.curve, fromHex(c.x)))}`);
        return 0;
      }
      case 'export': {
        wants(['amount', 'mint', 'out']);
        if (rest.length) throw new UsageError(`export takes no arguments, got ${rest.join(' ')}`);
        const wallet = await Wallet.open(file);
        const token = await wallet.exportToken({ amount, mint: values.mint });
        if (values.out === undefined) {
          out(token);
          return 0;
        }
        try {
          // Never over another file: it may hold a token of its own.
          await writeFile(values.out, `${token}\n`, { mode: 0o600, flag: 'wx' });
        } catch (error) {
          // The credits left the wallet for a token nobody holds: take them back.
          await wallet.importToken(token);
          throw error;
        }
        out(`${decodeToken(token).credits.reduce((a, c) => a + c.amount, 0)} ${values.out}`);
        return 0;
      }
      case 'import': {
        wants([]);
        if (rest.length !== 1) throw new UsageError('import: expected one token or token file');
        const wallet = await Wallet.open(file);
        const { mint, added, duplicates } = await wallet.importToken(await tokenText(rest[0]!));
        if (duplicates) process.stderr.write(`cycles wallet: ${duplicates} credit(s) of the token were in the wallet already\n`);
        out(`${mint} ${added.reduce((a, c) => a + c.amount, 0)}`);
        return 0;
      }
      default:
        throw new UsageError(action === undefined ? 'expected balance, list, export or import' : `unknown action ${JSON.stringify(action)}`);
    }
  });
}

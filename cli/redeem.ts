import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { MintClient } from '../net/mint-client.ts';
import type { OnionClient } from '../net/onion-client.ts';
import { ONION_MINT_BATCH, OnionMint, poissonDelay } from '../net/onion-mint.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { decodeToken, isTokenText } from '../protocol/credits/token.ts';
import { defaultWalletFile, WalletFile } from '../worker/node/wallet-file.ts';
import { mintKey } from '../worker/wallet-data.ts';
import { Wallet, type RedeemTarget, type StoredCredit } from '../worker/wallet.ts';
import { allOnLoopback, onionClientFor, parseRelays, relayOptions, relayViewFor } from './onion-args.ts';
import { UsageError } from './usage.ts';
import { reportingRefusals } from './wallet.ts';

export const usage =
  'cycles redeem <wallet-or-token-file> --mint URL (--to KEY-HEX | --swap) [--wallet FILE] [--stealth --relay ws://… [--delay-ms 30000]]';

/**
 * The mean wait before each request through routes, unless --delay-ms says
 * otherwise: a redeem sent the moment a task ends would tell the mint (and
 * whoever watches it) that these credits were earned on that task.
 */
const STEALTH_DELAY_MS = 30_000;

const total = (credits: readonly StoredCredit[]) => credits.reduce((a, c) => a + c.amount, 0);

/**
 * Redeems every credit of --mint in a wallet file, or the credits of a token
 * file. A token's credits pass through --wallet (the default wallet unless
 * named) on their way, so an interrupted redeem is sent again, as the same
 * request, by the next `cycles redeem`; a swap's fresh credits stay there.
 * Prints `redeemed N`, then `received N` (a swap) or `ACCOUNT BALANCE`
 * (--to), and `already-spent N` / `invalid N` for credits the mint refused
 * and the wallet dropped, in which case it exits 1.
 *
 * With --stealth every request goes sealed through onion routes over the
 * relays --relay names (and those they know), as a stealth worker's do, each
 * held back first for a random while of mean --delay-ms, and in batches
 * small enough for one packet.
 */
export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...relayOptions,
      mint: { type: 'string' },
      to: { type: 'string' },
      swap: { type: 'boolean' },
      wallet: { type: 'string' },
      stealth: { type: 'boolean' },
      'delay-ms': { type: 'string' },
    },
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
  const relays = parseRelays(values);
  const stealth = values.stealth === true;
  if (!stealth && (relays.length > 0 || values['delay-ms'] !== undefined)) throw new UsageError('--relay and --delay-ms go with --stealth');
  if (stealth && relays.length === 0) throw new UsageError('--stealth: expected at least one --relay ws://… to learn the relays from');
  const delayMs = Number(values['delay-ms'] ?? STEALTH_DELAY_MS);
  if (!Number.isSafeInteger(delayMs) || delayMs < 0) throw new UsageError(`--delay-ms: expected a whole number of milliseconds, got ${values['delay-ms']}`);

  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (error) {
    throw new UsageError(`${source}: cannot read it (${(error as Error).message})`);
  }

  const isToken = isTokenText(text);
  // The guard is the one the worker beside this wallet keeps (cli/worker.ts): one first hop for all of a wallet's routes.
  const guardFile = join(dirname(isToken ? (values.wallet ?? defaultWalletFile()) : source), 'relay-guard');
  let onion: OnionClient | undefined;
  const stealthClient = async (mint: string): Promise<MintClient> => {
    const view = await relayViewFor({ backend: nodeCrypto, relays, dht: false, loopback: allOnLoopback([...relays, mint]), guardFile });
    onion = onionClientFor(nodeCrypto, view);
    return new OnionMint({ backend: nodeCrypto, client: onion, url: mint, ...(delayMs > 0 ? { delay: poissonDelay(delayMs) } : {}) }).mintClient();
  };

  /** The wallet, with a token's credits imported into it first: only those are redeemed. */
  const openWallet = async (): Promise<{ wallet: Wallet; only?: StoredCredit[] }> => {
    if (!isToken) {
      if (values.wallet !== undefined) throw new UsageError(`--wallet goes with a token file; ${source} is a wallet`);
      return { wallet: await Wallet.open(new WalletFile(source)) };
    }
    const token = decodeToken(text);
    if (mintKey(token.mint) !== mintKey(values.mint!)) throw new UsageError(`${source}: the token is for ${token.mint}, not ${values.mint}`);
    const wallet = await Wallet.open(new WalletFile(values.wallet));
    await wallet.importToken(text);
    const xs = new Set(token.credits.map((c) => Buffer.from(c.x).toString('hex')));
    return { wallet, only: wallet.list().filter((c) => xs.has(c.x)) };
  };

  return reportingRefusals(async () => {
    const { wallet, only } = await openWallet();
    try {
      const client = stealth ? await stealthClient(values.mint!) : new MintClient(values.mint!);
      const report = await wallet.redeem(client, target, { ...(only ? { only } : {}), ...(stealth ? { batch: ONION_MINT_BATCH } : {}) });
      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(`redeemed ${report.redeemed}`);
      if (values.to !== undefined) out(`${values.to} ${(await client.balance(values.to)) ?? 0}`);
      else out(`received ${report.received}`);
      if (report.spent.length) out(`already-spent ${total(report.spent)}`);
      if (report.invalid.length) out(`invalid ${total(report.invalid)}`);
      return report.spent.length || report.invalid.length ? 1 : 0;
    } finally {
      onion?.stop();
    }
  });
}

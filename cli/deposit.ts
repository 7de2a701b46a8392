import { parseArgs } from 'node:util';
import { MintClient } from '../net/mint-client.ts';
import { defaultKeyFile, loadOrCreateIdentity } from '../store/keys.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { signMessage } from '../protocol/messages/index.ts';
import { UsageError } from './usage.ts';

export const usage = 'cycles deposit --mint URL --account HEX --amount N [--key FILE]';

/** Prints the account's new balance. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { mint: { type: 'string' }, account: { type: 'string' }, amount: { type: 'string' }, key: { type: 'string' } },
  });
  if (!values.mint || !/^https?:\/\//.test(values.mint)) throw new UsageError('--mint: expected the mint\'s http(s):// URL');
  if (!values.account) throw new UsageError("--account: expected the account, a tasker's public key in hex");
  const amount = Number(values.amount);
  if (!Number.isSafeInteger(amount) || amount < 1) throw new UsageError(`--amount: expected a positive whole number, got ${values.amount}`);
  const admin = await loadOrCreateIdentity(nodeCrypto, values.key ?? defaultKeyFile('mint-admin'));
  const client = new MintClient(values.mint);
  const msg = signMessage(nodeCrypto, admin.exportSeed(), {
    t: 'deposit',
    v: 1,
    id: nodeCrypto.randomBytes(16),
    account: values.account,
    amount,
    admin: admin.publicKey,
    ts: Date.now(),
  });
  await client.deposit(msg);
  process.stdout.write(`${values.account} ${await client.balance(values.account)}\n`);
  return 0;
}

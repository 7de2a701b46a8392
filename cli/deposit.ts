import { access } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { MintClient } from '../net/mint-client.ts';
import { loadOrCreateIdentity } from '../store/keys.ts';
import { fromHex } from '../protocol/bytes.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { signMessage } from '../protocol/messages/index.ts';
import { UsageError } from './usage.ts';

export const usage = 'cycles deposit --mint URL --account HEX --amount N --key FILE';

/** Prints the account's new balance. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { mint: { type: 'string' }, account: { type: 'string' }, amount: { type: 'string' }, key: { type: 'string' } },
  });
  if (!values.mint || !/^https?:\/\//.test(values.mint)) throw new UsageError('--mint: expected the mint\'s http(s):// URL');
  if (!values.account || !/^[0-9a-f]{64}$/.test(values.account)) throw new UsageError("--account: expected the account, a tasker's public key in hex");
  const amount = Number(values.amount);
  if (!Number.isSafeInteger(amount) || amount < 1) throw new UsageError(`--amount: expected a positive whole number, got ${values.amount}`);
  // Each mint has an admin key of its own (`cycles mint` keeps it beside its ledger): no default here, and no new key made.
  if (!values.key) throw new UsageError("--key: expected the mint's admin key file (`<ledger>-admin.key` unless the mint was given --admin)");
  await access(values.key).catch(() => {
    throw new UsageError(`--key: ${values.key} does not exist`);
  });
  const admin = await loadOrCreateIdentity(nodeCrypto, values.key);
  const client = new MintClient(values.mint);
  // The deposit names the mint it is for, so it cannot be replayed to another.
  const { mint } = await client.info();
  const msg = signMessage(nodeCrypto, admin.exportSeed(), {
    t: 'deposit',
    v: 2,
    id: nodeCrypto.randomBytes(16),
    mint: fromHex(mint),
    account: values.account,
    amount,
    admin: admin.publicKey,
    ts: Date.now(),
  });
  await client.deposit(msg);
  process.stdout.write(`${values.account} ${await client.balance(values.account)}\n`);
  return 0;
}

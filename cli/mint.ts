import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { Mint } from '../mint/mint.ts';
import { MintServer } from '../mint/server.ts';
import { defaultKeyFile, loadOrCreateIdentity } from '../store/keys.ts';
import { jsonLogger } from '../serve/log.ts';
import { fromHex, toHex } from '../protocol/bytes.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { waitForSignal } from './signals.ts';
import { UsageError } from './usage.ts';

export const usage = 'cycles mint --db FILE [--port 8300] [--host 127.0.0.1] [--admin HEX …] [--verbose]';

/** Prints its http:// URL on stdout; logs JSON lines on stderr; stops on SIGINT/SIGTERM. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      admin: { type: 'string', multiple: true },
      'rate-per-minute': { type: 'string' },
      verbose: { type: 'boolean' },
    },
  });
  if (!values.db) throw new UsageError('--db: the ledger file is required (created if missing)');
  const port = Number(values.port ?? '8300');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected 0..65535, got ${values.port}`);
  const host = values.host ?? '127.0.0.1';
  if (!isIP(host)) throw new UsageError(`--host: expected an IP address, got ${host}`);
  const rate = values['rate-per-minute'] === undefined ? undefined : Number(values['rate-per-minute']);
  if (rate !== undefined && (!Number.isInteger(rate) || rate < 1)) throw new UsageError(`--rate-per-minute: expected a positive integer, got ${values['rate-per-minute']}`);
  const log = jsonLogger(process.stderr, values.verbose ? 'debug' : 'info');

  // Without --admin, deposits are signed by this machine's mint-admin key (what `cycles deposit` uses).
  const admins = values.admin?.length
    ? values.admin.map((hex) => {
        if (!/^[0-9a-f]{64}$/.test(hex)) throw new UsageError(`--admin: expected a 64-digit hex ed25519 key, got ${hex}`);
        return fromHex(hex);
      })
    : [(await loadOrCreateIdentity(nodeCrypto, defaultKeyFile('mint-admin'))).publicKey];

  const mint = await Mint.open({ db: values.db, admins });
  const signal = waitForSignal();
  const server = new MintServer({ mint, port, host, log, ...(rate ? { perIpPerMinute: rate } : {}) });
  try {
    await server.start();
  } catch (error) {
    await server.stop();
    await mint.close();
    throw error;
  }
  log({ level: 'info', event: 'mint.started', url: server.url, keyset: toHex(mint.activeKeyset.id), admins: admins.map(toHex) });
  process.stdout.write(`${server.url}\n`);

  log({ level: 'info', event: 'signal', signal: await signal });
  await server.stop();
  await mint.close();
  log({ level: 'info', event: 'mint.stopped', url: server.url });
  return 0;
}

import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { Mint } from '../mint/mint.ts';
import { MintServer } from '../mint/server.ts';
import { loadOrCreateIdentity } from '../store/keys.ts';
import { jsonLogger } from '../serve/log.ts';
import { fromHex, toHex } from '../protocol/bytes.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { waitForSignal } from './signals.ts';
import { UsageError } from './usage.ts';

export const usage = 'cycles mint --db FILE [--port 8300] [--host 127.0.0.1] [--admin HEX …] [--work-per-minute N] [--trust-proxy ADDR[,ADDR…]] [--verbose]';

/** The admin key of the mint whose ledger is `db` when no --admin is given: its own, beside its ledger. */
export const adminKeyFileOf = (db: string): string => `${db}-admin.key`;

/** Prints its http:// URL on stdout; logs JSON lines on stderr; stops on SIGINT/SIGTERM. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      admin: { type: 'string', multiple: true },
      'work-per-minute': { type: 'string' },
      'trust-proxy': { type: 'string', multiple: true },
      verbose: { type: 'boolean' },
    },
  });
  if (!values.db) throw new UsageError('--db: the ledger file is required (created if missing)');
  const port = Number(values.port ?? '8300');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected 0..65535, got ${values.port}`);
  const host = values.host ?? '127.0.0.1';
  if (!isIP(host)) throw new UsageError(`--host: expected an IP address, got ${host}`);
  const work = values['work-per-minute'] === undefined ? undefined : Number(values['work-per-minute']);
  if (work !== undefined && (!Number.isInteger(work) || work < 1)) throw new UsageError(`--work-per-minute: expected a positive integer, got ${values['work-per-minute']}`);
  // Off unless named: only these peers' X-Forwarded-For is believed (mint/client-address.ts).
  const trustProxy = (values['trust-proxy'] ?? []).flatMap((list) => list.split(',')).map((a) => a.trim()).filter((a) => a !== '');
  for (const address of trustProxy) if (!isIP(address)) throw new UsageError(`--trust-proxy: expected IP addresses, got ${address}`);
  const log = jsonLogger(process.stderr, values.verbose ? 'debug' : 'info');

  // Without --admin, deposits are signed by this mint's own admin key, beside its ledger (`cycles deposit --key` it).
  const adminKey = values.admin?.length ? undefined : adminKeyFileOf(values.db);
  const admins = values.admin?.length
    ? values.admin.map((hex) => {
        if (!/^[0-9a-f]{64}$/.test(hex)) throw new UsageError(`--admin: expected a 64-digit hex ed25519 key, got ${hex}`);
        return fromHex(hex);
      })
    : [(await loadOrCreateIdentity(nodeCrypto, adminKey!)).publicKey];

  const mint = await Mint.open({ db: values.db, admins });
  const signal = waitForSignal();
  // The burst stays ten seconds' worth of the rate, as in the default (mint/work.ts).
  const server = new MintServer({ mint, port, host, log, trustProxy, ...(work ? { budget: { perMinute: work, burst: Math.max(1, Math.ceil(work / 6)) } } : {}) });
  try {
    await server.start();
  } catch (error) {
    await server.stop();
    await mint.close();
    throw error;
  }
  log({
    level: 'info', event: 'mint.started', url: server.url, mint: toHex(mint.id), keyset: toHex(mint.activeKeyset.id), admins: admins.map(toHex),
    ...(adminKey ? { adminKey } : {}),
  });
  process.stdout.write(`${server.url}\n`);

  log({ level: 'info', event: 'signal', signal: await signal });
  await server.stop();
  await mint.close();
  log({ level: 'info', event: 'mint.stopped', url: server.url });
  return 0;
}
